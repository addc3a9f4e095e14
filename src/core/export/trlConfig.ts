// A parsed recipe + adapter config → the keys of TRL's `sft_config.yaml` (ScriptArguments, SFTConfig = HF
// TrainingArguments + SFT keys, ModelConfig, DatasetMixtureConfig) and the fidelity notes where TRL differs from us.
import * as path from 'node:path';
import type { LoraConfig } from '../peft/loraConfig';
import type { DataFormat } from '../train/data/formats';
import type { Recipe } from '../train/recipe';
import { TRL_PINS } from './pins';

export const ACCELERATE_STRATEGIES = ['single_gpu', 'multi_gpu', 'zero2', 'zero3', 'fsdp2'] as const;
export type AccelerateStrategy = (typeof ACCELERATE_STRATEGIES)[number];

export interface TrlExportOptions {
  strategy: AccelerateStrategy;
  /** GPUs per node. */
  gpus: number;
  nodes: number;
  quantization: '4bit' | null;
  /** Overrides the recipe's fp16 / bf16 (undefined = as the recipe says). */
  precision?: 'fp32' | 'fp16' | 'bf16';
}

/** A difference between TRL + transformers and PEFT Studio's trainer, with the setting that matches (if any). */
export interface FidelityNote {
  level: 'info' | 'warning';
  topic: string;
  message: string;
}

/** Files the export copies into OUT_DIR, by their path there. */
export interface ExportPaths {
  train: string;
  eval: string | null;
  initAdapter: string | null;
  /** Where the run folder goes, relative to OUT_DIR. */
  outputDir: string;
  runName: string;
}

/** TRL's `lora_*` flags hold only part of a LoraConfig; the rest reaches PEFT through adapter_config.json in train.py. */
const LORA_KEYS_WITH_CLI_FLAG = new Set(['r', 'lora_alpha', 'lora_dropout', 'target_modules', 'modules_to_save', 'task_type', 'use_rslora', 'use_dora']);
const LORA_KEYS_NOT_CONFIG = new Set(['peft_type', 'base_model_name_or_path', 'revision', 'auto_mapping', 'peft_version', 'inference_mode']);

/** The LoraConfig keys (set to non-default values in the file) that only train.py passes on. */
export function loraKeysWithoutCliFlag(raw: Record<string, unknown>): string[] {
  return Object.keys(raw).filter((k) => !LORA_KEYS_WITH_CLI_FLAG.has(k) && !LORA_KEYS_NOT_CONFIG.has(k)).sort();
}

/** The mixed precision of the recipe ('no' = fp32, as our local run computes), or of --precision when given. */
export function mixedPrecisionOf(recipe: Recipe, opts?: TrlExportOptions): 'no' | 'fp16' | 'bf16' {
  if (opts?.precision !== undefined) return opts.precision === 'fp32' ? 'no' : opts.precision;
  return recipe.training.fp16 ? 'fp16' : recipe.training.bf16 ? 'bf16' : 'no';
}

/**
 * The sft_config.yaml mapping, in a fixed key order. Every key is a field of the pinned TRL / transformers versions
 * (test/fixtures/export/trl-config-fields.json says where the list came from; a unit test checks each key).
 */
export function sftConfig(recipe: Recipe, lora: LoraConfig, format: DataFormat, paths: ExportPaths, opts: TrlExportOptions): Record<string, unknown> {
  const t = recipe.training;
  const precision = mixedPrecisionOf(recipe, opts);
  const cfg: Record<string, unknown> = {
    // ModelConfig
    model_name_or_path: recipe.base_model,
    model_revision: lora.revision ?? 'main',
    dtype: precision === 'no' ? 'float32' : precision === 'fp16' ? 'float16' : 'bfloat16',
    use_peft: true,
    lora_r: lora.r,
    lora_alpha: lora.lora_alpha,
    lora_dropout: lora.lora_dropout,
    lora_target_modules: lora.target_modules ?? 'all-linear',
    lora_task_type: lora.task_type ?? 'CAUSAL_LM',
    use_rslora: lora.use_rslora,
    use_dora: lora.use_dora,
  };
  if (lora.modules_to_save !== null) cfg['lora_modules_to_save'] = lora.modules_to_save;
  if (opts.quantization === '4bit') {
    cfg['load_in_4bit'] = true;
    cfg['bnb_4bit_quant_type'] = 'nf4';
    cfg['use_bnb_nested_quant'] = true;
    // FSDP and ZeRO-3 shard the quantized weights: they must be stored in the dtype of the other parameters.
    if (opts.strategy === 'fsdp2' || opts.strategy === 'zero3') cfg['bnb_4bit_quant_storage'] = cfg['dtype'];
  }
  if (recipe.dataset.packing) {
    // Packed rows restart position ids per example; only FlashAttention-2 turns them into a block-diagonal mask.
    cfg['attn_implementation'] = 'flash_attention_2';
  }
  // DatasetMixtureConfig: local JSONL files through datasets' "json" builder.
  cfg['datasets'] = [{ path: 'json', data_files: paths.train, split: 'train' }];
  // SFTConfig (TrainingArguments + SFT keys)
  Object.assign(cfg, {
    output_dir: `${paths.outputDir}/${paths.runName}`,
    run_name: paths.runName,
    seed: t.seed,
    data_seed: t.seed,
    max_steps: t.max_steps,
    num_train_epochs: t.num_train_epochs,
    per_device_train_batch_size: t.per_device_train_batch_size,
    per_device_eval_batch_size: t.per_device_train_batch_size,
    gradient_accumulation_steps: t.gradient_accumulation_steps,
    average_tokens_across_devices: true,
    learning_rate: t.learning_rate,
    lr_scheduler_type: t.lr_scheduler_type,
    // transformers 5 reads a float in [0, 1) as a ratio of the total steps (warmup_ratio is deprecated there).
    warmup_steps: t.warmup_steps > 0 ? t.warmup_steps : t.warmup_ratio,
    optim: 'adamw_torch',
    weight_decay: t.weight_decay,
    adam_beta1: t.adam_beta1,
    adam_beta2: t.adam_beta2,
    adam_epsilon: t.adam_epsilon,
    max_grad_norm: t.max_grad_norm,
    fp16: precision === 'fp16',
    bf16: precision === 'bf16',
    gradient_checkpointing: true,
    logging_strategy: 'steps',
    logging_steps: t.logging_steps,
    logging_first_step: false,
    eval_strategy: recipe.dataset.eval !== null && t.eval_steps > 0 ? 'steps' : 'no',
    ...(recipe.dataset.eval !== null && t.eval_steps > 0 ? { eval_steps: t.eval_steps } : {}),
    save_strategy: t.save_steps > 0 ? 'steps' : 'no',
    ...(t.save_steps > 0 ? { save_steps: t.save_steps } : {}),
    // The best checkpoint by eval loss is the same rule there (our perplexity is exp(eval_loss): the same order).
    ...(t.load_best_model_at_end && recipe.dataset.eval !== null && lossLike(t.metric_for_best_model)
      ? { load_best_model_at_end: true, metric_for_best_model: 'eval_loss', greater_is_better: t.greater_is_better ?? false } : {}),
    train_sampling_strategy: recipe.dataset.shuffle ? 'random' : 'sequential',
    report_to: 'none',
    max_length: recipe.dataset.max_length,
    truncation_mode: 'keep_start',
    packing: recipe.dataset.packing,
    ...(recipe.dataset.packing ? { packing_strategy: 'wrapped', padding_free: true } : {}),
    // Our train_on_prompt: false = loss on the completion / assistant turns only (TRL's names for it).
    completion_only_loss: !recipe.dataset.train_on_prompt,
    assistant_only_loss: !recipe.dataset.train_on_prompt && format === 'messages',
    shuffle_dataset: false,
  });
  return cfg;
}

/** metric_for_best_model that eval_loss orders the same way (null = loss under load_best_model_at_end). */
function lossLike(metric: string | null): boolean {
  return metric === null || ['loss', 'eval_loss', 'perplexity', 'eval_perplexity'].includes(metric);
}

/** Where TRL + transformers compute something other than PEFT Studio's trainer, and what matches. */
export function fidelityNotes(recipe: Recipe, lora: LoraConfig, raw: Record<string, unknown>, format: DataFormat, opts: TrlExportOptions): FidelityNote[] {
  const t = recipe.training;
  const notes: FidelityNote[] = [];
  if (format === 'alpaca' || format === 'tokenized') {
    notes.push({ level: 'warning', topic: 'trl sft', message: `\`trl sft --config sft_config.yaml\` cannot read ${format} data; launch train.py (it reads all five formats as our trainer does).` });
  } else if (format === 'messages' && !recipe.dataset.train_on_prompt) {
    notes.push({ level: 'info', topic: 'trl sft', message: '`trl sft` trains only assistant turns (assistant_only_loss) when the chat template marks them with {% generation %}; train.py finds the turns by rendering prefixes, as our trainer, with any template.' });
  }
  if (recipe.dataset.eval_prompts !== null || t.early_stopping_patience !== null || (t.load_best_model_at_end && !lossLike(t.metric_for_best_model))) {
    notes.push({ level: 'warning', topic: 'evaluation', message: 'dataset.eval_prompts, exact_match/contains as metric_for_best_model and early_stopping_patience are not exported: the cluster run evaluates eval loss only.' });
  }
  if (recipe.dataset.eval !== null) {
    notes.push({ level: 'info', topic: 'trl sft', message: 'The eval set is evaluated by train.py (every eval_steps and at the end); `trl sft`\'s dataset mixture has no separate eval file.' });
  }
  const world = opts.gpus * opts.nodes;
  const localBatch = t.per_device_train_batch_size * t.gradient_accumulation_steps;
  notes.push({
    level: 'info',
    topic: 'loss averaging',
    message:
      'Loss with gradient accumulation: transformers divides the summed token losses by the label tokens of the whole optimizer step ' +
      '(all micro-batches, and all GPUs with average_tokens_across_devices: true), the same mean over tokens as our trainer (not a mean of micro-batch means). ' +
      'It counts a label at position 0 that no logit predicts; train.py sets that label to -100 so the count is ours. `trl sft` without train.py does not, so its loss is slightly lower on text / tokenized data.',
  });
  if (world > 1) {
    const hint = localBatch % world === 0 && t.gradient_accumulation_steps % world === 0
      ? ` Set gradient_accumulation_steps: ${t.gradient_accumulation_steps / world} to keep ${localBatch}.`
      : localBatch % world === 0 && t.per_device_train_batch_size % world === 0
        ? ` Set per_device_train_batch_size: ${t.per_device_train_batch_size / world} to keep ${localBatch}.`
        : '';
    notes.push({
      level: 'warning',
      topic: 'effective batch',
      message: `On ${world} GPUs an optimizer step takes per_device_train_batch_size × gradient_accumulation_steps × ${world} = ${localBatch * world} sequences, not the ${localBatch} of a local run: the loss curve and the number of steps per epoch change.${hint}`,
    });
  }
  if (recipe.dataset.shuffle) {
    notes.push({ level: 'warning', topic: 'data order', message: 'shuffle: true — the torch sampler draws a different permutation from our seeded one, so steps see other examples than a local run. shuffle: false exports train_sampling_strategy: sequential (file order, as ours on one GPU).' });
  }
  notes.push({ level: 'info', topic: 'initialisation', message: 'LoRA A is drawn by torch from training.seed with the same distribution (init_lora_weights), but not the same numbers as our generator: losses agree in distribution, not bit for bit. Set init_adapter to start both from the same weights.' });
  if (t.logging_steps > 1) {
    notes.push({ level: 'warning', topic: 'logged loss', message: `logging_steps: ${t.logging_steps} — transformers logs the mean loss of the last ${t.logging_steps} steps, and not the final step unless it falls on a multiple; our trainer logs the loss of the logged step and always the last one. logging_steps: 1 makes them the same.` });
  }
  if (recipe.dataset.eval !== null) {
    notes.push({ level: 'info', topic: 'eval loss', message: 'eval_loss: transformers averages per-batch mean losses; our trainer takes the mean over all label tokens of the eval set. They agree when eval examples have equal label counts.' });
  }
  if (recipe.dataset.packing) {
    notes.push({ level: 'warning', topic: 'packing', message: 'Packing needs FlashAttention-2 (attn_implementation: flash_attention_2, flash-attn in requirements.txt): it turns the restarting position ids into a block-diagonal mask as our engine does. Other attention kernels let packed examples attend to each other.' });
  }
  const precision = mixedPrecisionOf(recipe, opts);
  if (precision !== mixedPrecisionOf(recipe)) {
    notes.push({ level: 'warning', topic: 'precision', message: `${precision} mixed precision (--precision) where the recipe says ${mixedPrecisionOf(recipe) === 'no' ? 'fp32' : mixedPrecisionOf(recipe)}: losses differ from a local run at ${precision} rounding.` });
  } else if (precision === 'no') {
    notes.push({ level: 'info', topic: 'precision', message: 'fp32 as the recipe says (a local run computes in fp32). For a large base model export with --precision bf16.' });
  }
  if (opts.quantization === '4bit') {
    notes.push({ level: 'warning', topic: 'quantization', message: 'QLoRA: the base weights are 4-bit NF4 (bitsandbytes), not the weights a local run uses: losses differ at the quantization error.' });
  }
  const extra = loraKeysWithoutCliFlag(raw);
  if (extra.length > 0) {
    notes.push({ level: 'info', topic: 'adapter config', message: `TRL's CLI has no flag for ${extra.join(', ')}: train.py reads them from adapter_config.json; \`trl sft\` would drop them.` });
  }
  if (lora.target_modules === null) {
    notes.push({ level: 'warning', topic: 'adapter config', message: 'target_modules is null (PEFT\'s defaults for the model type); the sft_config.yaml for `trl sft` says all-linear instead. train.py uses adapter_config.json as written.' });
  }
  if (recipe.init_adapter !== null) {
    notes.push({ level: opts.strategy === 'zero3' ? 'warning' : 'info', topic: 'init_adapter', message: 'init_adapter is copied to init_adapter/; train.py builds the LoRA from its adapter_config.json and loads its weights before training (`trl sft` cannot resume from an adapter).' +
      (opts.strategy === 'zero3' ? ' With ZeRO-3 the parameters are already partitioned at that point: use zero2 or fsdp2 to continue from an adapter.' : '') });
  }
  if (path.isAbsolute(recipe.base_model)) {
    notes.push({ level: 'warning', topic: 'base model', message: `base_model is the local folder ${recipe.base_model}: the cluster cannot read it. Upload it and set model_name_or_path in sft_config.yaml, or use a hub id.` });
  }
  notes.push({ level: 'info', topic: 'versions', message: `Pinned: ${Object.entries(TRL_PINS).map(([k, v]) => `${k}==${v}`).join(', ')}.` });
  return notes;
}
