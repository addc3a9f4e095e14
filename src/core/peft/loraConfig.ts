// PEFT's LoraConfig as a typed object: parse adapter_config.json JSON, apply PEFT 0.20's defaults, and throw
// the first error of the shared rules (loraRules.ts: ranges, enums, __post_init__'s cross-field rules) as InputError.
import { InputError } from '../errors';
import { didYouMean } from '../util/didYouMean';
import { LORA_CONFIG_FIELDS, LORA_FIELD_NAMES, TASK_TYPES, loraField } from './loraFields';
import { crossFieldIssues, valueIssues, type RuleIssue } from './loraRules';
import type { JsonType, JsonValue } from './loraFields';

export { LORA_CONFIG_FIELDS, LORA_FIELD_NAMES, TASK_TYPES, loraField } from './loraFields';
export type { JsonType, JsonValue, LoraFieldSpec } from './loraFields';

export type JsonObject = { [key: string]: JsonValue };
export type TaskType = (typeof TASK_TYPES)[number];

/** Every PeftConfig + LoraConfig field of PEFT 0.20.0, keys exactly as in adapter_config.json. */
export interface LoraConfig {
  // PeftConfig
  task_type: TaskType | null;
  peft_type: 'LORA';
  auto_mapping: JsonObject | null;
  peft_version: string | null;
  base_model_name_or_path: string | null;
  revision: string | null;
  inference_mode: boolean;
  // LoraConfig
  r: number;
  /** List (order as written; PEFT keeps a set), a regex string, "all-linear", or null = the model type's defaults. */
  target_modules: string[] | string | null;
  exclude_modules: string[] | string | null;
  lora_alpha: number;
  lora_dropout: number;
  fan_in_fan_out: boolean;
  bias: 'none' | 'all' | 'lora_only';
  use_rslora: boolean;
  modules_to_save: string[] | null;
  init_lora_weights: boolean | string;
  layers_to_transform: number[] | number | null;
  layers_pattern: string[] | string | null;
  rank_pattern: Record<string, number>;
  alpha_pattern: Record<string, number>;
  megatron_config: JsonObject | null;
  megatron_core: string | null;
  trainable_token_indices: number[] | Record<string, number[]> | null;
  loftq_config: JsonObject;
  eva_config: JsonObject | null;
  corda_config: JsonObject | null;
  lora_ga_config: JsonObject | null;
  use_dora: boolean;
  velora_config: JsonObject | null;
  alora_invocation_tokens: number[] | null;
  use_qalora: boolean;
  qalora_group_size: number;
  monteclora_config: JsonObject | null;
  layer_replication: [number, number][] | null;
  runtime_config: JsonObject;
  lora_bias: boolean;
  target_parameters: string[] | null;
  use_bdlora: JsonObject | null;
  arrow_config: JsonObject | null;
  ensure_weight_tying: boolean;
}

/** A non-fatal remark PEFT would print as a warning (unknown key, ignored sub-config). */
export interface LoraConfigWarning {
  key: string;
  message: string;
}

export interface ParseOptions {
  /** Receives PEFT's warnings (unknown keys are dropped with a warning, as PeftConfig.from_pretrained does). */
  warnings?: LoraConfigWarning[];
}

/** The JSON type of a parsed value, with integers told apart from other numbers. */
export function jsonTypeOf(v: unknown): JsonType {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  if (typeof v === 'boolean') return 'boolean';
  if (typeof v === 'string') return 'string';
  return typeof v === 'object' ? 'object' : 'null';
}

function accepts(types: JsonType[], t: JsonType): boolean {
  return types.includes(t) || (t === 'integer' && types.includes('number'));
}

function typeList(types: JsonType[]): string {
  return types.map((t) => (t === 'null' ? 'null' : t === 'object' ? 'an object' : t === 'array' ? 'a list' : t === 'integer' ? 'an integer' : `a ${t}`)).join(' or ');
}

/** The PEFT default of every field (fresh copies of objects). */
export function defaultLoraConfig(): LoraConfig {
  const out: Record<string, JsonValue> = {};
  for (const f of LORA_CONFIG_FIELDS) out[f.name] = structuredClone(f.default);
  return out as unknown as LoraConfig;
}

/**
 * Parse adapter_config.json content (already JSON-parsed) into a LoraConfig with PEFT's defaults.
 * Throws InputError for wrong types and for the first error of the rules in loraRules.ts (ranges, enums,
 * LoraConfig.__post_init__'s cross-field rules); their warnings go to options.warnings.
 */
export function parseLoraConfig(json: unknown, file?: string, options: ParseOptions = {}): LoraConfig {
  const ctx = file !== undefined ? { file } : {};
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new InputError('lora-config-not-object', 'adapter_config.json must contain a JSON object', { ...ctx, actual: jsonTypeOf(json) });
  }
  const src = json as Record<string, unknown>;
  const cfg = defaultLoraConfig() as unknown as Record<string, unknown>;
  const raise = (issues: RuleIssue[]): void => {
    for (const i of issues) {
      if (i.severity === 'error') {
        const near = i.options !== undefined ? didYouMean(String(src[i.key]), i.options) : '';
        throw new InputError(`lora-config-${i.code}`, i.message + near, ctx);
      }
      options.warnings?.push({ key: i.key, message: i.message });
    }
  };
  for (const [key, value] of Object.entries(src)) {
    const spec = loraField(key);
    if (spec === undefined) {
      options.warnings?.push({ key, message: `Unknown LoraConfig key "${key}" is ignored by PEFT.${didYouMean(key, LORA_FIELD_NAMES)}` });
      continue;
    }
    const t = jsonTypeOf(value);
    if (!accepts(spec.types, t)) {
      throw new InputError('lora-config-type', `"${key}" must be ${typeList(spec.types)}`, { ...ctx, expected: spec.types.join(' | '), actual: `${t} ${JSON.stringify(value)}` });
    }
    if (spec.items !== undefined && (t === 'array' || (t === 'object' && key.endsWith('_pattern')))) {
      const items = Array.isArray(value) ? value : Object.values(value as object);
      for (const item of items) {
        const it = jsonTypeOf(item);
        if (!accepts(spec.items, it)) {
          throw new InputError('lora-config-type', `every entry of "${key}" must be ${typeList(spec.items)}`, { ...ctx, actual: `${it} ${JSON.stringify(item)}` });
        }
      }
    }
    if (key === 'layer_replication' && Array.isArray(value)) {
      for (const pair of value as unknown[]) {
        if (!Array.isArray(pair) || pair.length !== 2 || !pair.every((x) => Number.isInteger(x))) {
          throw new InputError('lora-config-type', '"layer_replication" must be a list of [start, end] pairs of integers', { ...ctx, actual: JSON.stringify(pair) });
        }
      }
    }
    raise(valueIssues(key, value));
    cfg[key] = structuredClone(value);
  }
  // Optional[dict] fields given as null behave as empty (PEFT tests `if self.rank_pattern`).
  if (cfg['rank_pattern'] === null) cfg['rank_pattern'] = {};
  if (cfg['alpha_pattern'] === null) cfg['alpha_pattern'] = {};
  if (cfg['peft_type'] === null) cfg['peft_type'] = 'LORA';
  raise(crossFieldIssues((k) => cfg[k]));
  const c = cfg as unknown as LoraConfig;
  // __post_init__ drops an ignored loftq_config (the warning came from the rules).
  if (c.init_lora_weights !== 'loftq' && Object.keys(c.loftq_config).length > 0) c.loftq_config = {};
  return c;
}

/** scaling = lora_alpha / r, or lora_alpha / sqrt(r) with use_rslora (LoraLayer.update_layer). */
export function loraScaling(alpha: number, r: number, useRslora: boolean): number {
  return useRslora ? alpha / Math.sqrt(r) : alpha / r;
}
