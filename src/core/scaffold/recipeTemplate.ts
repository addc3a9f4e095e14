// The peft-train.yaml a new project starts from: every key of CONTRACTS.md §1 with its documented default and a comment
// on each line saying what it is; only base_model, the dataset and max_steps are chosen for the project.

export interface RecipeTemplateValues {
  /** Already a YAML scalar (quoted when needed). */
  baseModel: string;
  format: string;
  maxSteps: number;
  maxLength: number;
  modelType: string;
  template: string;
}

/** [key text, comment] rows; a null comment leaves the line bare. Indentation is part of the key text. */
type Row = [string, string | null];

export function recipeText(v: RecipeTemplateValues): string {
  const rows: Row[] = [
    [`base_model: ${v.baseModel}`, `local HF-layout folder (relative to this file) or a hub id org/name (${v.modelType})`],
    ['adapter_config: ./adapter_config.json', 'PEFT LoraConfig: which modules get LoRA, rank r, lora_alpha'],
    ['init_adapter: null', 'folder of an existing PEFT adapter to keep training; null = fresh LoRA init'],
    ['dataset:', null],
    ['  train: data/train.jsonl', 'training data, one JSON example a line'],
    ['  eval: data/eval.jsonl', 'held-out data for eval_loss (null = no evaluation)'],
    [`  format: ${v.format}`, `${v.template} template; auto|text|alpaca|messages|prompt_completion|tokenized`],
    [`  max_length: ${v.maxLength}`, 'examples are truncated to this many tokens'],
    ['  packing: false', 'true = concatenate examples into max_length rows'],
    ['  shuffle: true', 'shuffle each epoch (seeded); false = file order'],
    ['  train_on_prompt: false', 'false = loss only on the answer/assistant tokens'],
    ['training:', 'names and meanings of HF TrainingArguments'],
    [`  max_steps: ${v.maxSteps}`, 'optimizer steps; > 0 overrides num_train_epochs, -1 = use epochs'],
    ['  num_train_epochs: 1', 'passes over the training data (when max_steps is -1)'],
    ['  per_device_train_batch_size: 4', 'examples per micro-batch'],
    ['  gradient_accumulation_steps: 1', 'micro-batches per optimizer step'],
    ['  learning_rate: 2.0e-4', 'peak AdamW learning rate'],
    ['  lr_scheduler_type: linear', 'constant|constant_with_warmup|linear|cosine'],
    ['  warmup_steps: 0', 'linear warmup steps from 0 to learning_rate (or warmup_ratio)'],
    ['  weight_decay: 0.0', 'AdamW decoupled weight decay'],
    ['  adam_beta1: 0.9', 'AdamW first-moment decay'],
    ['  adam_beta2: 0.999', 'AdamW second-moment decay'],
    ['  adam_epsilon: 1.0e-8', 'AdamW epsilon'],
    ['  max_grad_norm: 1.0', 'gradient clipping norm; 0 disables clipping'],
    ['  seed: 42', 'seed for LoRA init, dropout and shuffling'],
    ['  logging_steps: 1', 'log loss/lr/grad_norm every N steps'],
    ['  eval_steps: 0', 'evaluate every N steps; 0 = only at the end'],
    ['  save_steps: 0', 'resumable checkpoint every N steps; 0 = only the final adapter'],
    ['device: auto', 'auto|cpu|webgpu|cuda'],
    ['output_dir: runs', 'each run gets a folder in here (metrics.jsonl, checkpoints, adapter)'],
    ['run_name: null', 'run folder name; null = model, rank and time (tinyllama-r16-dec07-0937)'],
  ];
  const width = Math.max(...rows.filter((r) => r[1] !== null).map((r) => r[0].length)) + 2;
  const body = rows.map(([k, c]) => (c === null ? k : `${k.padEnd(width)}# ${c}`));
  return [
    '# PEFT Studio training recipe: `peft-studio train peft-train.yaml` (or "PEFT: Train Adapter" in the editor).',
    '# Relative paths are relative to this file. Hover a key in the editor for its documentation.',
    ...body,
    '',
  ].join('\n');
}
