// PEFT's LoraConfig as a typed object: parse adapter_config.json JSON, apply PEFT 0.20's defaults and the
// checks of LoraConfig.__post_init__ / LoraLayer.update_layer (as InputError). Source: peft v0.20.0 tuners/lora/config.py.
import { InputError } from '../errors';
import { didYouMean } from '../util/didYouMean';
import { LORA_CONFIG_FIELDS, LORA_FIELD_NAMES, TASK_TYPES, loraField } from './loraFields';
import type { JsonType, JsonValue } from './loraFields';

export { LORA_CONFIG_FIELDS, LORA_FIELD_NAMES, TASK_TYPES, INIT_LORA_WEIGHTS_VALUES, loraField } from './loraFields';
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

/** Is `v` a valid init_lora_weights value of PEFT 0.20 (true/false, a known scheme, or pissa_niter_<N>)? */
export function isValidInitLoraWeights(v: unknown): boolean {
  if (typeof v === 'boolean') return true;
  if (typeof v !== 'string') return false;
  if (/^pissa_niter_\d+$/.test(v) || v.toLowerCase() === 'gaussian') return true;
  return ['eva', 'olora', 'pissa', 'corda', 'loftq', 'orthogonal', 'mica', 'lora_ga'].includes(v);
}

/**
 * Parse adapter_config.json content (already JSON-parsed) into a LoraConfig with PEFT's defaults.
 * Throws InputError for wrong types, bad enum values and every ValueError/TypeError PEFT's
 * LoraConfig.__post_init__ raises (plus `r <= 0` and unknown init_lora_weights, raised later by PEFT).
 */
export function parseLoraConfig(json: unknown, file?: string, options: ParseOptions = {}): LoraConfig {
  const ctx = file !== undefined ? { file } : {};
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new InputError('lora-config-not-object', 'adapter_config.json must contain a JSON object', { ...ctx, actual: jsonTypeOf(json) });
  }
  const src = json as Record<string, unknown>;
  const cfg = defaultLoraConfig() as unknown as Record<string, unknown>;
  const warn = (key: string, message: string): void => {
    options.warnings?.push({ key, message });
  };
  for (const [key, value] of Object.entries(src)) {
    const spec = loraField(key);
    if (spec === undefined) {
      warn(key, `Unknown LoraConfig key "${key}" is ignored by PEFT.${didYouMean(key, LORA_FIELD_NAMES)}`);
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
    cfg[key] = structuredClone(value);
  }
  // Optional[dict] fields given as null behave as empty (PEFT tests `if self.rank_pattern`).
  if (cfg['rank_pattern'] === null) cfg['rank_pattern'] = {};
  if (cfg['alpha_pattern'] === null) cfg['alpha_pattern'] = {};
  const c = cfg as unknown as LoraConfig;
  checkEnums(c, ctx);
  postInit(c, ctx, warn);
  return c;
}

function checkEnums(c: LoraConfig, ctx: { file?: string }): void {
  // PeftConfigMixin.__post_init__
  if (c.task_type !== null && !(TASK_TYPES as readonly string[]).includes(c.task_type)) {
    throw new InputError('lora-config-task-type', `Invalid task type: '${c.task_type}'. Must be one of the following task types: ${TASK_TYPES.join(', ')}.${didYouMean(c.task_type, TASK_TYPES)}`, ctx);
  }
  if ((c.peft_type as string | null) === null) c.peft_type = 'LORA';
  if (c.peft_type !== 'LORA') {
    throw new InputError('lora-config-peft-type', `peft_type "${String(c.peft_type)}" is not supported: PEFT Studio trains LoRA adapters (peft_type "LORA")`, ctx);
  }
  if (!['none', 'all', 'lora_only'].includes(c.bias)) {
    throw new InputError('lora-config-bias', `"bias" must be "none", "all" or "lora_only"`, { ...ctx, actual: JSON.stringify(c.bias) });
  }
  if (!isValidInitLoraWeights(c.init_lora_weights)) {
    throw new InputError('lora-config-init', `Unknown initialization init_lora_weights=${JSON.stringify(c.init_lora_weights)}`, {
      ...ctx,
      hint: `Use true, false, "gaussian", "eva", "olora", "pissa", "pissa_niter_<N>", "corda", "loftq", "orthogonal" or "mica".${didYouMean(String(c.init_lora_weights), ['gaussian', 'eva', 'olora', 'pissa', 'corda', 'loftq', 'orthogonal', 'mica'])}`,
    });
  }
  // LoraLayer.update_layer
  if (!(c.r > 0)) {
    throw new InputError('lora-config-r', `\`r\` should be a positive integer value but the value passed is ${c.r}`, ctx);
  }
  for (const [k, v] of Object.entries(c.rank_pattern)) {
    if (!(v > 0)) throw new InputError('lora-config-r', `\`r\` should be a positive integer value but the value passed is ${v} (rank_pattern "${k}")`, ctx);
  }
  if (c.lora_dropout < 0 || c.lora_dropout > 1) {
    throw new InputError('lora-config-dropout', 'dropout probability has to be between 0 and 1', { ...ctx, actual: String(c.lora_dropout) });
  }
  if (c.layer_replication !== null) {
    for (const pair of c.layer_replication as unknown[]) {
      if (!Array.isArray(pair) || pair.length !== 2 || !pair.every((x) => Number.isInteger(x))) {
        throw new InputError('lora-config-type', '"layer_replication" must be a list of [start, end] pairs of integers', { ...ctx, actual: JSON.stringify(pair) });
      }
    }
  }
}

/** LoraConfig.__post_init__ of PEFT v0.20.0, in its order. */
function postInit(c: LoraConfig, ctx: { file?: string }, warn: (key: string, message: string) => void): void {
  if (typeof c.target_parameters === 'string') {
    throw new InputError('lora-config-type', '`target_parameters` must be a list of strings or None.', ctx);
  }
  if (typeof c.target_modules === 'string' && c.layers_to_transform !== null) {
    throw new InputError('lora-config-layers', '`layers_to_transform` cannot be used when `target_modules` is a str.', ctx);
  }
  if (typeof c.target_modules === 'string' && c.layers_pattern !== null) {
    throw new InputError('lora-config-layers', '`layers_pattern` cannot be used when `target_modules` is a str.', ctx);
  }
  // v0.20.0: `if self.layers_pattern and not self.layers_to_transform` (0 and [] count as not given).
  const truthy = (v: unknown): boolean => v !== null && v !== 0 && v !== '' && !(Array.isArray(v) && v.length === 0);
  if (truthy(c.layers_pattern) && !truthy(c.layers_to_transform)) {
    throw new InputError('lora-config-layers', 'When `layers_pattern` is specified, `layers_to_transform` must also be specified. ', ctx);
  }
  if (c.use_dora && c.megatron_config !== null && Object.keys(c.megatron_config).length > 0) {
    throw new InputError('lora-config-dora', 'DoRA does not support megatron_core, please set `use_dora=False`.', ctx);
  }
  const loftqSet = Object.keys(c.loftq_config).length > 0;
  if (c.init_lora_weights === 'loftq') {
    if (!loftqSet) throw new InputError('lora-config-loftq', "`loftq_config` must be specified when `init_lora_weights` is 'loftq'.", ctx);
  } else if (loftqSet) {
    c.loftq_config = {};
    warn('loftq_config', "`loftq_config` specified but will be ignored when `init_lora_weights` is not 'loftq'.");
  } else if (c.init_lora_weights === 'eva' && c.eva_config === null) {
    warn('init_lora_weights', "`init_lora_weights` is 'eva' but `eva_config` is not specified. Using default EVA config.");
  } else if (c.init_lora_weights !== 'eva' && c.eva_config !== null) {
    warn('eva_config', "`eva_config` specified but will be ignored when `init_lora_weights` is not 'eva'.");
  } else if (c.init_lora_weights === 'corda' && c.corda_config === null) {
    warn('init_lora_weights', "`init_lora_weights` is 'corda' but `corda_config` is not specified. Using default CorDA config.");
  } else if (c.init_lora_weights !== 'corda' && c.corda_config !== null) {
    warn('corda_config', "`corda_config` specified but will be ignored when `init_lora_weights` is not 'corda'.");
  }
  if (c.lora_bias) {
    if (typeof c.init_lora_weights !== 'boolean') {
      throw new InputError('lora-config-lora-bias', `The argument lora_bias=True is only supported with init_lora_weights=True or False, got init_lora_weights=${c.init_lora_weights} instead.`, ctx);
    }
    if (c.use_dora) {
      throw new InputError('lora-config-lora-bias', 'The argument lora_bias=True is not supported for DoRA, please pass use_dora=False', ctx);
    }
  }
  if (c.alora_invocation_tokens !== null && c.task_type !== 'CAUSAL_LM') {
    warn('alora_invocation_tokens', 'aLoRA is currently only supported for CAUSAL_LM task.');
  }
}

/** scaling = lora_alpha / r, or lora_alpha / sqrt(r) with use_rslora (LoraLayer.update_layer). */
export function loraScaling(alpha: number, r: number, useRslora: boolean): number {
  return useRslora ? alpha / Math.sqrt(r) : alpha / r;
}
