// The schema of peft-train.yaml (CONTRACTS.md §1): every key with type, default, range, hover doc and the
// HF TrainingArguments name it mirrors. The trainer parses with it; the validator and the editor report from it.
import { LINT_DEFAULTS, LINT_DOCS, LINT_KINDS, LINT_LEVELS } from '../validate/lint/kinds';
import { folderNameProblem } from '../util/safePath';

export type RecipeFieldType = 'section' | 'string' | 'path' | 'integer' | 'number' | 'boolean' | 'enum' | 'list' | 'prompts';

/** What a `list` field holds: numbers, integers, target_modules values (a list of names or a regex string), or sweep trials. */
export type RecipeListItem = 'integer' | 'number' | 'targets' | 'trial';

export interface RecipeField {
  /** Dotted path in the YAML: `base_model`, `dataset.max_length`, `training.learning_rate`. */
  path: string;
  type: RecipeFieldType;
  /** `null` is an accepted value (meaning "not set"). */
  nullable: boolean;
  /** The key must be present (no usable default). */
  required: boolean;
  /** Value when the key is absent (sections: undefined). */
  default: unknown;
  /** Allowed values for `enum`. */
  enum?: readonly string[];
  /** Inclusive bounds unless the matching *Exclusive flag is set. */
  min?: number;
  max?: number;
  minExclusive?: boolean;
  maxExclusive?: boolean;
  /** For `path`: what must exist there (relative paths resolve against the YAML file's folder). */
  pathKind?: 'file' | 'dir';
  /** For `list`: what each item must be (a list is never empty). */
  items?: RecipeListItem;
  /** For `integer`: the only values accepted (e.g. the block sizes MatMulNBits takes). */
  oneOf?: readonly number[];
  /** For `string`: the value names one folder (no separators, no `..`; see util/safePath). */
  folderName?: boolean;
  /** Markdown shown on hover and in completions. */
  doc: string;
  /** The transformers TrainingArguments field of the same meaning, when there is one. */
  hf?: string;
}

/** The accepted values of `device` (auto picks cuda, then webgpu, then cpu among those available). */
export const RECIPE_DEVICES = ['auto', 'cpu', 'webgpu', 'cuda'] as const;
export const DATASET_FORMATS = ['auto', 'text', 'alpaca', 'messages', 'prompt_completion', 'tokenized'] as const;
export const LR_SCHEDULERS = ['constant', 'constant_with_warmup', 'linear', 'cosine'] as const;
export const SWEEP_METHODS = ['grid', 'list'] as const;
/** The keys a sweep trial may set. */
export const SWEEP_KEYS = ['r', 'lora_alpha', 'learning_rate', 'target_modules'] as const;
/** The accepted `training.metric_for_best_model` values (with or without HF's `eval_` prefix). */
export const BEST_MODEL_METRICS = ['loss', 'eval_loss', 'perplexity', 'eval_perplexity', 'exact_match', 'eval_exact_match', 'contains', 'eval_contains'] as const;

const F = (f: Omit<RecipeField, 'nullable' | 'required'> & { nullable?: boolean; required?: boolean }): RecipeField => ({
  nullable: false,
  required: false,
  ...f,
});

/**
 * Every key of peft-train.yaml. Choices beyond CONTRACTS.md §1: `training.warmup_ratio` (named by the contract's
 * comment), `training.fp16` / `training.bf16` (GPU mixed precision). No `eval_strategy`/`save_strategy`:
 * `eval_steps: 0` / `save_steps: 0` already mean "off", and two ways to say it would only disagree.
 */
export const RECIPE_FIELDS: readonly RecipeField[] = [
  F({ path: 'base_model', type: 'string', required: true, default: undefined,
    doc: 'The base model: a local folder in Hugging Face layout (config.json, *.safetensors, tokenizer.json), relative to this file, or a hub id `org/name`.' }),
  F({ path: 'adapter_config', type: 'path', pathKind: 'file', default: 'adapter_config.json',
    doc: 'The PEFT `adapter_config.json` (LoraConfig) that says which modules get LoRA, with which rank and alpha.' }),
  F({ path: 'init_adapter', type: 'path', pathKind: 'dir', nullable: true, default: null,
    doc: 'Folder of an existing PEFT adapter (adapter_config.json + adapter_model.safetensors) to continue training from; `null` starts from PEFT\'s initialisation.' }),
  F({ path: 'dataset', type: 'section', default: undefined, doc: 'Training and evaluation data (JSONL, one example a line).' }),
  F({ path: 'dataset.train', type: 'path', pathKind: 'file', required: true, default: undefined,
    doc: 'Training data: a JSONL file, one example a line.' }),
  F({ path: 'dataset.eval', type: 'path', pathKind: 'file', nullable: true, default: null,
    doc: 'Optional evaluation data (JSONL, same format as `train`); its loss is logged every `training.eval_steps` and at the end.' }),
  F({ path: 'dataset.format', type: 'enum', enum: DATASET_FORMATS, default: 'auto',
    doc: 'Example format: `text` {"text"}, `alpaca` {"instruction","input"?,"output"}, `messages` {"messages":[{role,content}]} (chat template), `prompt_completion` {"prompt","completion"}, `tokenized` {"input_ids","labels"?}; `auto` detects it from the first lines.' }),
  F({ path: 'dataset.max_length', type: 'integer', min: 2, default: 512,
    doc: 'Examples are truncated to this many tokens (packing: the length of each packed row). Must not exceed the model\'s `max_position_embeddings`.' }),
  F({ path: 'dataset.packing', type: 'boolean', default: false,
    doc: 'Concatenate examples into rows of `max_length` tokens (positions restart per example) instead of padding each one.' }),
  F({ path: 'dataset.shuffle', type: 'boolean', default: true,
    doc: 'Shuffle examples each epoch (seeded by `training.seed`); `false` keeps file order.' }),
  F({ path: 'dataset.train_on_prompt', type: 'boolean', default: false,
    doc: '`false`: the loss covers only the answer / assistant tokens; `true`: every token.' }),
  F({ path: 'dataset.eval_prompts', type: 'prompts', nullable: true, default: null,
    doc: 'Prompts answered greedily with the current adapter at every evaluation (`training.eval_steps` and the end), shown in the dashboard: a list of strings or of `{prompt, expected}`, or a JSONL file (relative to this file) of `{"prompt", "expected"?}` lines. With `expected`, exact-match and contains scores are logged (whitespace-normalised). Each prompt is rendered as the training data renders one: a user turn through the chat template (`messages`), the Alpaca template (`alpaca`), else as is.' }),
  F({ path: 'dataset.lint', type: 'section', default: undefined,
    doc: 'Severity of each data-safety check on the JSONL files (`error`, `warning`, `info` or `off`), reported with the other dataset diagnostics; the trainer does not read it.' }),
  ...LINT_KINDS.map((k) => F({ path: `dataset.lint.${k}`, type: 'enum', enum: LINT_LEVELS, default: LINT_DEFAULTS[k], doc: `${LINT_DOCS[k]} Default \`${LINT_DEFAULTS[k]}\`.` })),
  F({ path: 'training', type: 'section', default: undefined, doc: 'Optimisation settings, named and meant as Hugging Face `TrainingArguments`.' }),
  F({ path: 'training.max_steps', type: 'integer', min: -1, default: -1, hf: 'max_steps',
    doc: 'Total optimizer steps. A value > 0 overrides `num_train_epochs`; -1 = run `num_train_epochs` epochs.' }),
  F({ path: 'training.num_train_epochs', type: 'number', min: 0, minExclusive: true, default: 1, hf: 'num_train_epochs',
    doc: 'Epochs over the training data (may be fractional); ignored when `max_steps` > 0.' }),
  F({ path: 'training.per_device_train_batch_size', type: 'integer', min: 1, default: 4, hf: 'per_device_train_batch_size',
    doc: 'Examples per micro-batch.' }),
  F({ path: 'training.gradient_accumulation_steps', type: 'integer', min: 1, default: 1, hf: 'gradient_accumulation_steps',
    doc: 'Micro-batches per optimizer step (effective batch = batch size × this).' }),
  F({ path: 'training.learning_rate', type: 'number', min: 0, minExclusive: true, default: 2e-4, hf: 'learning_rate',
    doc: 'Peak AdamW learning rate.' }),
  F({ path: 'training.lr_scheduler_type', type: 'enum', enum: LR_SCHEDULERS, default: 'linear', hf: 'lr_scheduler_type',
    doc: 'Learning-rate schedule after warmup: `constant`, `constant_with_warmup`, `linear` decay to 0, `cosine` decay to 0.' }),
  F({ path: 'training.warmup_steps', type: 'integer', min: 0, default: 0, hf: 'warmup_steps',
    doc: 'Steps of linear warmup from 0 to `learning_rate`. Overrides `warmup_ratio` when > 0.' }),
  F({ path: 'training.warmup_ratio', type: 'number', min: 0, max: 1, default: 0, hf: 'warmup_ratio',
    doc: 'Warmup as a fraction of the total steps (used when `warmup_steps` is 0).' }),
  F({ path: 'training.weight_decay', type: 'number', min: 0, default: 0, hf: 'weight_decay',
    doc: 'AdamW decoupled weight decay, applied to every trainable parameter.' }),
  F({ path: 'training.adam_beta1', type: 'number', min: 0, max: 1, maxExclusive: true, default: 0.9, hf: 'adam_beta1',
    doc: 'AdamW β1 (first-moment decay).' }),
  F({ path: 'training.adam_beta2', type: 'number', min: 0, max: 1, maxExclusive: true, default: 0.999, hf: 'adam_beta2',
    doc: 'AdamW β2 (second-moment decay).' }),
  F({ path: 'training.adam_epsilon', type: 'number', min: 0, minExclusive: true, default: 1e-8, hf: 'adam_epsilon',
    doc: 'AdamW ε added to the denominator.' }),
  F({ path: 'training.max_grad_norm', type: 'number', min: 0, default: 1.0, hf: 'max_grad_norm',
    doc: 'Clip the global gradient norm to this value (torch `clip_grad_norm_`); 0 disables clipping.' }),
  F({ path: 'training.seed', type: 'integer', min: 0, default: 42, hf: 'seed',
    doc: 'Seed for LoRA initialisation, dropout and data shuffling.' }),
  F({ path: 'training.logging_steps', type: 'integer', min: 1, default: 1, hf: 'logging_steps',
    doc: 'Log a `step` record every this many optimizer steps.' }),
  F({ path: 'training.eval_steps', type: 'integer', min: 0, default: 0, hf: 'eval_steps',
    doc: 'Evaluate on `dataset.eval` every this many steps; 0 = only at the end (when `dataset.eval` is set).' }),
  F({ path: 'training.save_steps', type: 'integer', min: 0, default: 0, hf: 'save_steps',
    doc: 'Write a resumable checkpoint every this many steps; 0 = only the final adapter.' }),
  F({ path: 'training.eval_max_new_tokens', type: 'integer', min: 1, max: 4096, default: 64,
    doc: 'Most tokens generated per `dataset.eval_prompts` prompt at each evaluation (greedy; generation also stops at EOS).' }),
  F({ path: 'training.load_best_model_at_end', type: 'boolean', default: false, hf: 'load_best_model_at_end',
    doc: 'At the end, the final adapter is the best checkpoint\'s (by `metric_for_best_model`). Needs `eval_steps` > 0 and `save_steps` a round multiple of it.' }),
  F({ path: 'training.metric_for_best_model', type: 'enum', enum: BEST_MODEL_METRICS, nullable: true, default: null, hf: 'metric_for_best_model',
    doc: 'The evaluation metric that picks the best checkpoint: `loss` (eval loss), `perplexity`, `exact_match` or `contains` (of `dataset.eval_prompts` with expected answers); `null` = `loss` when `load_best_model_at_end` is set. Tracked as `best_metric` / `best_model_checkpoint` in trainer_state.json.' }),
  F({ path: 'training.greater_is_better', type: 'boolean', nullable: true, default: null, hf: 'greater_is_better',
    doc: 'Whether a larger `metric_for_best_model` is better; `null` = false for `loss` and `perplexity`, true for `exact_match` and `contains`.' }),
  F({ path: 'training.early_stopping_patience', type: 'integer', min: 1, nullable: true, default: null,
    doc: 'Stop after this many evaluations in a row without improving `metric_for_best_model` by more than `early_stopping_threshold` (transformers\' EarlyStoppingCallback); needs `load_best_model_at_end`. `null` = no early stopping.' }),
  F({ path: 'training.early_stopping_threshold', type: 'number', min: 0, default: 0,
    doc: 'How much `metric_for_best_model` must improve on the best so far to count as an improvement (EarlyStoppingCallback\'s `early_stopping_threshold`).' }),
  F({ path: 'training.fp16', type: 'boolean', default: false, hf: 'fp16',
    doc: 'Mixed precision on a GPU: fp16 base weights and activations, fp32 LoRA master weights. Ignored with a warning on the CPU (ORT CPU computes in fp32).' }),
  F({ path: 'training.bf16', type: 'boolean', default: false, hf: 'bf16',
    doc: 'bf16 mixed precision on a GPU. Not supported by the onnxruntime-node execution providers yet; rejected by the validator.' }),
  F({ path: 'device', type: 'enum', enum: RECIPE_DEVICES, default: 'auto',
    doc: 'Where to train: `auto` (cuda, else webgpu, else cpu — whichever onnxruntime-node can use here), `cpu`, `webgpu`, `cuda`.' }),
  F({ path: 'output_dir', type: 'path', pathKind: 'dir', default: 'runs', hf: 'output_dir',
    doc: 'Folder that receives one run folder per training run (created when missing).' }),
  F({ path: 'run_name', type: 'string', nullable: true, default: null, hf: 'run_name', folderName: true,
    doc: 'Name of the run folder inside `output_dir`; `null` = the model, rank and start time, e.g. `tinyllama-r16-dec07-0937`.' }),
  F({ path: 'quantization', type: 'section', nullable: true, default: undefined,
    doc: 'A 4-bit base (QLoRA-class memory): the frozen Linear weights of the decoder layers are stored as 4-bit blocks with one scale per block (quantized once, cached beside the graph cache) and LoRA trains in fp32 on top. Absent or `null` = full precision. See docs/QUANTIZATION.md for the rule and its accuracy cost.' }),
  F({ path: 'quantization.bits', type: 'integer', oneOf: [4], default: 4,
    doc: 'Bits per weight of the quantized base: 4 (onnxruntime\'s MatMulNBits).' }),
  F({ path: 'quantization.block_size', type: 'integer', oneOf: [16, 32, 64, 128], default: 32,
    doc: 'Weights per block along the input features, sharing one scale: 16, 32, 64 or 128. Smaller blocks are more accurate and larger: with its fp32 scale a weight takes 4 + 32/block_size bits (6 at 16, 5 at 32, 4.5 at 64, 4.25 at 128).' }),
  F({ path: 'sweep', type: 'section', nullable: true, default: undefined,
    doc: 'A hyperparameter sweep for `peft-studio sweep` (ignored by `train`): trials that vary the LoRA rank, alpha, target modules or learning rate, run one after another.' }),
  F({ path: 'sweep.name', type: 'string', nullable: true, default: null, folderName: true,
    doc: 'Names the sweep; its trials are the run folders `<name>-t1`, `<name>-t2`, … in `output_dir`. `null` = `run_name`, else `sweep`.' }),
  F({ path: 'sweep.method', type: 'enum', enum: SWEEP_METHODS, default: 'grid',
    doc: '`grid`: every combination of the lists given (`r`, `lora_alpha`, `learning_rate`, `target_modules`); `list`: exactly the `trials` given.' }),
  F({ path: 'sweep.r', type: 'list', items: 'integer', nullable: true, default: null, doc: 'LoRA ranks to try (grid).' }),
  F({ path: 'sweep.lora_alpha', type: 'list', items: 'number', nullable: true, default: null,
    doc: 'LoRA alphas to try (grid). Not given: each trial keeps the adapter config\'s `lora_alpha / r` ratio.' }),
  F({ path: 'sweep.learning_rate', type: 'list', items: 'number', nullable: true, default: null, doc: 'Learning rates to try (grid).' }),
  F({ path: 'sweep.target_modules', type: 'list', items: 'targets', nullable: true, default: null,
    doc: 'Sets of target modules to try (grid): each item a list of module names, or a regex string, or `all-linear`.' }),
  F({ path: 'sweep.trials', type: 'list', items: 'trial', nullable: true, default: null,
    doc: 'With `method: list`: the trials, each a mapping of some of `r`, `lora_alpha`, `learning_rate`, `target_modules`.' }),
  F({ path: 'sweep.max_trials', type: 'integer', min: 1, nullable: true, default: null,
    doc: 'Run at most this many trials (the trial budget), in order; `null` = all.' }),
];

const BY_PATH = new Map(RECIPE_FIELDS.map((f) => [f.path, f]));

/** The field at a dotted path, or undefined for an unknown key. */
export function recipeField(path: string): RecipeField | undefined {
  return BY_PATH.get(path);
}

/** The keys allowed directly under `section` ('' = top level), e.g. 'training' → ['max_steps', ...]. */
export function recipeKeys(section: string): string[] {
  const prefix = section === '' ? '' : section + '.';
  return RECIPE_FIELDS.filter((f) => f.path.startsWith(prefix) && !f.path.slice(prefix.length).includes('.')).map((f) =>
    f.path.slice(prefix.length),
  );
}

/**
 * Why `value` is not acceptable for `field` (one sentence), or null when it is. Type, enum and range only;
 * paths, devices and cross-field rules are checked by the validator (src/core/validate).
 */
export function checkRecipeValue(field: RecipeField, value: unknown): string | null {
  if (value === null || value === undefined) {
    if (field.nullable) return null;
    return field.required ? `"${field.path}" is required` : `"${field.path}" must not be null`;
  }
  switch (field.type) {
    case 'section':
      return typeof value === 'object' && !Array.isArray(value) ? null : `"${field.path}" must be a mapping of keys`;
    case 'string':
    case 'path':
      if (typeof value !== 'string') return `"${field.path}" must be a string, got ${describe(value)}`;
      if (field.folderName === true) {
        const why = folderNameProblem(value);
        return why === null ? null : `"${field.path}" ${why}`;
      }
      return value.trim() === '' ? `"${field.path}" must not be empty` : null;
    case 'boolean':
      return typeof value === 'boolean' ? null : `"${field.path}" must be true or false, got ${describe(value)}`;
    case 'enum':
      return typeof value === 'string' && field.enum!.includes(value)
        ? null
        : `"${field.path}" must be one of ${field.enum!.join(', ')}, got ${describe(value)}`;
    case 'list':
      return listProblem(field, value);
    case 'prompts':
      return promptsProblem(field, value);
    case 'integer':
    case 'number': {
      if (typeof value !== 'number' || !Number.isFinite(value)) return `"${field.path}" must be a number, got ${describe(value)}`;
      if (field.type === 'integer' && !Number.isInteger(value)) return `"${field.path}" must be an integer, got ${value}`;
      if (field.oneOf !== undefined && !field.oneOf.includes(value)) return `"${field.path}" must be ${field.oneOf.length === 1 ? String(field.oneOf[0]) : `one of ${field.oneOf.join(', ')}`}, got ${value}`;
      return rangeProblem(field, value);
    }
  }
}

function listProblem(f: RecipeField, value: unknown): string | null {
  if (!Array.isArray(value)) return `"${f.path}" must be a list, got ${describe(value)}`;
  if (value.length === 0) return `"${f.path}" must not be an empty list`;
  for (const [i, item] of value.entries()) {
    const why = listItemProblem(f.items ?? 'number', item);
    if (why !== null) return `"${f.path}" item ${i + 1} ${why}`;
  }
  return null;
}

/** `dataset.eval_prompts`: a JSONL path, or a non-empty list of strings / {prompt, expected?} mappings. */
function promptsProblem(f: RecipeField, value: unknown): string | null {
  if (typeof value === 'string') return value.trim() === '' ? `"${f.path}" must not be empty` : null;
  if (!Array.isArray(value)) return `"${f.path}" must be a JSONL file or a list of prompts, got ${describe(value)}`;
  if (value.length === 0) return `"${f.path}" must not be an empty list`;
  for (const [i, item] of value.entries()) {
    const why = evalPromptProblem(item);
    if (why !== null) return `"${f.path}" item ${i + 1} ${why}`;
  }
  return null;
}

/** Why one eval prompt (a list item or a JSONL line) is not a string or a {prompt, expected?} mapping, or null. */
export function evalPromptProblem(item: unknown): string | null {
  if (typeof item === 'string') return item === '' ? 'must not be an empty string' : null;
  if (typeof item !== 'object' || item === null || Array.isArray(item)) return `must be a string or a mapping {prompt, expected}, got ${describe(item)}`;
  const o = item as Record<string, unknown>;
  const extra = Object.keys(o).find((k) => k !== 'prompt' && k !== 'expected');
  if (extra !== undefined) return `has the unknown key "${extra}" (allowed: prompt, expected)`;
  if (typeof o['prompt'] !== 'string' || o['prompt'] === '') return 'needs "prompt", a non-empty string';
  if (o['expected'] !== undefined && o['expected'] !== null && typeof o['expected'] !== 'string') return `"expected" must be a string, got ${describe(o['expected'])}`;
  return null;
}

function listItemProblem(kind: RecipeListItem, item: unknown): string | null {
  switch (kind) {
    case 'integer':
      return typeof item === 'number' && Number.isSafeInteger(item) && item >= 1 ? null : `must be a positive integer, got ${describe(item)}`;
    case 'number':
      return typeof item === 'number' && Number.isFinite(item) && item > 0 ? null : `must be a positive number, got ${describe(item)}`;
    case 'targets':
      if (typeof item === 'string' && item.trim() !== '') return null;
      return Array.isArray(item) && item.length > 0 && item.every((x) => typeof x === 'string' && x !== '')
        ? null
        : `must be a list of module names or a regex string, got ${describe(item)}`;
    case 'trial': {
      if (typeof item !== 'object' || item === null || Array.isArray(item)) return `must be a mapping of ${SWEEP_KEYS.join(', ')}, got ${describe(item)}`;
      const entries = Object.entries(item as Record<string, unknown>);
      if (entries.length === 0) return `must set at least one of ${SWEEP_KEYS.join(', ')}`;
      for (const [k, v] of entries) {
        if (!(SWEEP_KEYS as readonly string[]).includes(k)) return `has the unknown key "${k}" (allowed: ${SWEEP_KEYS.join(', ')})`;
        const why = listItemProblem(k === 'r' ? 'integer' : k === 'target_modules' ? 'targets' : 'number', v);
        if (why !== null) return `"${k}" ${why}`;
      }
      return null;
    }
  }
}

function rangeProblem(f: RecipeField, v: number): string | null {
  const lowOk = f.min === undefined || (f.minExclusive === true ? v > f.min : v >= f.min);
  const highOk = f.max === undefined || (f.maxExclusive === true ? v < f.max : v <= f.max);
  if (lowOk && highOk) return null;
  if (f.path === 'training.max_steps') return `"training.max_steps" must be -1 or a positive number of steps, got ${v}`;
  const lo = f.min === undefined ? '' : f.minExclusive === true ? `> ${f.min}` : `>= ${f.min}`;
  const hi = f.max === undefined ? '' : f.maxExclusive === true ? `< ${f.max}` : `<= ${f.max}`;
  return `"${f.path}" must be ${[lo, hi].filter((s) => s !== '').join(' and ')}, got ${v}`;
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object' && v !== null) return 'a mapping';
  if (typeof v === 'string') return JSON.stringify(v);
  return String(v);
}

/** The recipe with every default filled in (nested like the YAML); required keys are absent. */
export function recipeDefaults(): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of RECIPE_FIELDS) {
    if (f.required) continue;
    const parts = f.path.split('.');
    if (f.type === 'section') {
      let node = out;
      for (const p of parts) node = (node[p] ??= {}) as Record<string, unknown>;
      continue;
    }
    let node = out;
    for (const p of parts.slice(0, -1)) node = (node[p] ??= {}) as Record<string, unknown>;
    node[parts[parts.length - 1]!] = f.default;
  }
  return out;
}
