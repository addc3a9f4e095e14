// peft-train.yaml → Recipe: parsed with `yaml`, checked against RECIPE_FIELDS (the same schema the validator
// and the editor use), defaults filled in, relative paths resolved against the YAML file's folder.
import { dirname, resolve } from 'node:path';
import { LineCounter, isMap, isScalar, parseDocument, type Node as YamlNode } from 'yaml';
import { InputError } from '../errors';
import { isHubId } from '../hf/hub';
import { didYouMean } from '../util/didYouMean';
import type { QuantizationConfig } from '../quant/blockQuant';
import type { DataFormat } from './data/formats';
import { checkRecipeValue, recipeDefaults, recipeField, recipeKeys, RECIPE_FIELDS } from './recipeSchema';
import type { SchedulerType } from './schedule';
import { MAX_JSON_DEPTH, deepNestingAt, positionAt } from '../util/safeJson';
import { bestModelProblems, type BestModelArgs } from './bestModel';
import { lintSeverities, type LintSeverities } from '../validate/lint/kinds';

/** The training settings, with the names of HF TrainingArguments. */
export interface TrainingArgs {
  max_steps: number;
  num_train_epochs: number;
  per_device_train_batch_size: number;
  gradient_accumulation_steps: number;
  learning_rate: number;
  lr_scheduler_type: SchedulerType;
  warmup_steps: number;
  warmup_ratio: number;
  weight_decay: number;
  adam_beta1: number;
  adam_beta2: number;
  adam_epsilon: number;
  max_grad_norm: number;
  seed: number;
  logging_steps: number;
  eval_steps: number;
  save_steps: number;
  fp16: boolean;
  bf16: boolean;
  /** Tokens generated per eval prompt (dataset.eval_prompts). */
  eval_max_new_tokens: number;
  load_best_model_at_end: boolean;
  metric_for_best_model: string | null;
  greater_is_better: boolean | null;
  early_stopping_patience: number | null;
  early_stopping_threshold: number;
}

/** One item of `dataset.eval_prompts` as written in the recipe: a prompt, or a prompt with its expected answer. */
export type EvalPromptItem = string | { prompt: string; expected?: string | null };

export interface DatasetArgs {
  /** Absolute path. */
  train: string;
  eval: string | null;
  format: 'auto' | DataFormat;
  max_length: number;
  packing: boolean;
  shuffle: boolean;
  train_on_prompt: boolean;
  /** Prompts answered at each evaluation: the recipe's list, or the absolute path of a JSONL file; null = none. */
  eval_prompts: EvalPromptItem[] | string | null;
  /** Severities of the data-safety lint (the validator's; the trainer does not act on them). */
  lint: LintSeverities;
}

/** A parsed peft-train.yaml; every path is absolute, every default filled in. */
export interface Recipe {
  /** Absolute path of the YAML file. */
  file: string;
  /** Absolute folder of a local model, or a hub id (org/name). */
  base_model: string;
  adapter_config: string;
  init_adapter: string | null;
  dataset: DatasetArgs;
  training: TrainingArgs;
  device: 'auto' | 'cpu' | 'webgpu' | 'cuda';
  output_dir: string;
  run_name: string | null;
  /** The `sweep:` section (used by `peft-studio sweep` only), or null when the recipe has none. */
  sweep: SweepSettings | null;
  /** A 4-bit base (`quantization:`), or null = full precision. */
  quantization: QuantizationConfig | null;
}

/** A sweep trial's overrides (`sweep.trials` items, or one combination of the grid). */
export interface SweepTrialSpec {
  r?: number;
  lora_alpha?: number;
  learning_rate?: number;
  target_modules?: string[] | string;
}

export interface SweepSettings {
  name: string | null;
  method: 'grid' | 'list';
  r: number[] | null;
  lora_alpha: number[] | null;
  learning_rate: number[] | null;
  target_modules: (string[] | string)[] | null;
  trials: SweepTrialSpec[] | null;
  max_trials: number | null;
}

/** Largest recipe accepted (characters): a recipe is a few dozen lines; a 10 MB line made YAML checks crawl. */
export const MAX_RECIPE_CHARS = 256 * 1024;

/** Why `text` is too large or too deeply nested to be read as a recipe (with a 1-based line), or null. */
export function recipeTextProblem(text: string): { message: string; line: number; offset: number } | null {
  if (text.length > MAX_RECIPE_CHARS) {
    const at = positionAt(text, MAX_RECIPE_CHARS);
    return { message: `the recipe is ${(text.length / 1024).toFixed(0)} KB, more than the ${MAX_RECIPE_CHARS / 1024} KB accepted`, line: at.line, offset: MAX_RECIPE_CHARS };
  }
  const deep = deepNestingAt(text);
  if (deep !== null) return { message: `the recipe nests lists/mappings more than ${MAX_JSON_DEPTH} levels deep`, line: deep.line, offset: deep.offset };
  return null;
}

export function parseRecipe(text: string, file: string): Recipe {
  const abs = resolve(file);
  const baseDir = dirname(abs);
  const tooBig = recipeTextProblem(text);
  if (tooBig !== null) throw new InputError('recipe-yaml', tooBig.message, { file: abs, line: tooBig.line });
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false });
  const lineOf = (n: YamlNode | null | undefined): number | undefined => (n?.range ? lc.linePos(n.range[0]).line : undefined);
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    throw new InputError('recipe-yaml', `invalid YAML: ${e.message.split('\n')[0]}`, { file: abs, line: lc.linePos(e.pos[0]).line });
  }
  if (!isMap(doc.contents)) {
    throw new InputError('recipe-yaml', 'a recipe must be a mapping of keys (base_model, dataset, training, ...)', {
      file: abs,
      line: lineOf(doc.contents) ?? 1,
    });
  }

  const values = recipeDefaults();
  const seen = new Set<string>();
  const lines = new Map<string, number>();
  const nullSections = new Set<string>();
  const walk = (map: YamlNode, section: string): void => {
    if (!isMap(map)) return;
    for (const pair of map.items) {
      const keyNode = pair.key as YamlNode | null;
      const key = isScalar(keyNode) ? String(keyNode.value) : String(keyNode);
      const path = section === '' ? key : `${section}.${key}`;
      const line = lineOf(keyNode);
      const field = recipeField(path);
      if (field === undefined) {
        const allowed = recipeKeys(section);
        const elsewhere = RECIPE_FIELDS.find((f) => f.path.endsWith('.' + key) || (f.path === key && section !== ''));
        const hint = elsewhere !== undefined ? ` "${key}" belongs at "${elsewhere.path}".` : didYouMean(key, allowed);
        throw new InputError('recipe-unknown-key', hint === '' ? `unknown key "${path}"` : `unknown key "${path}".${hint}`, {
          file: abs,
          ...(line !== undefined ? { line } : {}),
          // The list of allowed keys only when there is no better suggestion.
          ...(hint === '' ? { hint: `Allowed${section === '' ? '' : ` under "${section}"`}: ${allowed.join(', ')}` } : {}),
        });
      }
      seen.add(path);
      if (line !== undefined) lines.set(path, line);
      const valueNode = pair.value as YamlNode | null;
      const value: unknown = valueNode === null ? null : (valueNode.toJSON() as unknown);
      const problem = checkRecipeValue(field, value);
      if (problem !== null) {
        throw new InputError('recipe-value', problem, { file: abs, ...((lineOf(valueNode) ?? line) !== undefined ? { line: (lineOf(valueNode) ?? line)! } : {}) });
      }
      if (field.type === 'section') {
        if (value === null) nullSections.add(path);
        walk(valueNode as YamlNode, path);
        continue;
      }
      setPath(values, path, value);
    }
  };
  walk(doc.contents, '');
  for (const f of RECIPE_FIELDS) {
    if (f.required && !seen.has(f.path)) {
      throw new InputError('recipe-missing', `"${f.path}" is required`, { file: abs, hint: f.doc });
    }
  }

  const v = values as { [k: string]: unknown } & { dataset: Record<string, unknown>; training: Record<string, unknown> };
  // Cross-field rules of the evaluation keys (TrainingArguments' and EarlyStoppingCallback's), as the validator reports them.
  const prompts = v.dataset['eval_prompts'];
  const rules = bestModelProblems(v.training as unknown as BestModelArgs, {
    evalData: v.dataset['eval'] !== null && v.dataset['eval'] !== undefined,
    evalPrompts: prompts !== null && prompts !== undefined,
    expected: Array.isArray(prompts) ? prompts.some((p) => typeof p === 'object' && p !== null && typeof (p as Record<string, unknown>)['expected'] === 'string') : null,
  });
  const rule = rules[0];
  if (rule !== undefined) throw new InputError('recipe-value', rule.message, { file: abs, ...(lines.has(rule.path) ? { line: lines.get(rule.path)! } : {}) });

  const rel = (p: unknown): string => resolve(baseDir, String(p));
  const baseModel = String(v['base_model']);
  const ds = v.dataset;
  return {
    file: abs,
    base_model: isHubId(baseModel, baseDir) ? baseModel : rel(baseModel),
    adapter_config: rel(v['adapter_config']),
    init_adapter: v['init_adapter'] === null ? null : rel(v['init_adapter']),
    dataset: {
      train: rel(ds['train']),
      eval: ds['eval'] === null || ds['eval'] === undefined ? null : rel(ds['eval']),
      format: ds['format'] as DatasetArgs['format'],
      max_length: ds['max_length'] as number,
      packing: ds['packing'] as boolean,
      shuffle: ds['shuffle'] as boolean,
      train_on_prompt: ds['train_on_prompt'] as boolean,
      eval_prompts: typeof ds['eval_prompts'] === 'string' ? rel(ds['eval_prompts']) : ((ds['eval_prompts'] ?? null) as EvalPromptItem[] | null),
      lint: lintSeverities(ds['lint'] as Record<string, unknown> | undefined),
    },
    training: { ...(v.training as unknown as TrainingArgs) },
    device: v['device'] as Recipe['device'],
    output_dir: rel(v['output_dir']),
    run_name: v['run_name'] === null || v['run_name'] === undefined ? null : String(v['run_name']),
    sweep: seen.has('sweep') && v['sweep'] !== null ? (v['sweep'] as SweepSettings) : null,
    quantization: seen.has('quantization') && !nullSections.has('quantization') ? { ...(v['quantization'] as QuantizationConfig) } : null,
  };
}

function setPath(root: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = root;
  for (const p of parts.slice(0, -1)) node = (node[p] ??= {}) as Record<string, unknown>;
  node[parts[parts.length - 1]!] = value;
}
