// The value rules of PEFT 0.20's LoraConfig as data: ranges, enums and cross-field rules. One source, read by the
// trainer's parser (throws the first error), the editor's validator (reports all) and the JSON-schema generator.
import type { LoraRuleCode } from '../errorCodes';
import { TASK_TYPES, defaultOf, type JsonValue } from './loraFields';

export type RuleSeverity = 'error' | 'warning';

/** One broken rule. The parser throws InputError(`lora-config-${code}`) for errors; the validator shows `code`. */
export interface RuleIssue {
  /** The key the issue is reported at. */
  key: string;
  severity: RuleSeverity;
  code: LoraRuleCode;
  message: string;
  /** For a range on list items or object values: the index or key of the offending entry. */
  entry?: string | number;
  /** For an enum: the accepted strings, for a did-you-mean. */
  options?: readonly string[];
}

/** A numeric range. Error ranges also go into the JSON schema (minimum / maximum). */
export interface RangeRule {
  key: string;
  /** 'value': the number itself; 'items': the number or each number of a list; 'values': each value of an object. */
  applies: 'value' | 'items' | 'values';
  min?: number;
  max?: number;
  exclusiveMin?: boolean;
  exclusiveMax?: boolean;
  severity: RuleSeverity;
  code: LoraRuleCode;
  message: (v: number, entry?: string | number) => string;
}

export const LORA_RANGES: readonly RangeRule[] = [
  // LoraLayer.update_layer raises for r <= 0, for the base rank and for every rank_pattern rank.
  { key: 'r', applies: 'value', min: 1, severity: 'error', code: 'out-of-range',
    message: (v) => `\`r\` should be a positive integer value but the value passed is ${v} (r is the LoRA rank)` },
  { key: 'rank_pattern', applies: 'values', min: 1, severity: 'error', code: 'out-of-range',
    message: (v, k) => `rank_pattern "${String(k)}": \`r\` should be a positive integer value but the value passed is ${v}` },
  // torch.nn.Dropout(p) raises outside [0, 1]; p = 1 is accepted but zeroes the LoRA branch's input.
  { key: 'lora_dropout', applies: 'value', min: 0, max: 1, severity: 'error', code: 'out-of-range',
    message: (v) => `"lora_dropout" is a dropout probability and has to be between 0 and 1, got ${v}` },
  { key: 'lora_dropout', applies: 'value', max: 1, exclusiveMax: true, severity: 'warning', code: 'dropout-one',
    message: () => '"lora_dropout" 1 drops every input of the LoRA branch: the adapter gets no gradient and learns nothing' },
  { key: 'lora_alpha', applies: 'value', min: 0, exclusiveMin: true, severity: 'warning', code: 'out-of-range',
    message: (v) => `"lora_alpha" ${v} makes the LoRA update ${v === 0 ? 'zero' : 'negative'}; it is usually 1-2 × r` },
  // A negative layer index matches no module name, so PEFT would find no target.
  { key: 'layers_to_transform', applies: 'items', min: 0, severity: 'error', code: 'out-of-range',
    message: (v) => `"layers_to_transform" indices must be >= 0, got ${v}` },
  { key: 'qalora_group_size', applies: 'value', min: 1, severity: 'error', code: 'out-of-range',
    message: (v) => `"qalora_group_size" must be >= 1, got ${v}` },
];

/** A closed set of values. */
export interface EnumRule {
  key: string;
  /** Accepted exactly. */
  values: readonly (string | boolean | null)[];
  /** Accepted in any letter case (PEFT compares `.lower()`). */
  caseInsensitive?: readonly string[];
  /** Further accepted strings: an anchored regex (valid in JS and JSON schema) and how a message writes it. */
  patterns?: readonly { regex: string; label: string }[];
  severity: RuleSeverity;
  code: LoraRuleCode;
  message: (v: JsonValue) => string;
}

/** PEFT 0.20's accepted init_lora_weights strings (LoraLayer.update_layer; "lora_ga" is accepted although LoraConfig's type hint omits it). */
export const INIT_LORA_WEIGHTS_STRINGS = ['gaussian', 'eva', 'olora', 'pissa', 'corda', 'loftq', 'orthogonal', 'mica', 'lora_ga'] as const;

export const LORA_ENUMS: readonly EnumRule[] = [
  { key: 'task_type', values: [...TASK_TYPES, null], severity: 'error', code: 'bad-enum',
    message: (v) => `Invalid task type ${JSON.stringify(v)}: must be one of ${TASK_TYPES.join(', ')}.` },
  { key: 'peft_type', values: ['LORA', null], severity: 'error', code: 'bad-enum',
    message: (v) => `peft_type ${JSON.stringify(v)} is not supported: PEFT Studio trains LoRA adapters (peft_type "LORA")` },
  { key: 'bias', values: ['none', 'all', 'lora_only'], severity: 'error', code: 'bad-enum',
    message: (v) => `"bias" must be "none", "all" or "lora_only", got ${JSON.stringify(v)}` },
  { key: 'init_lora_weights', values: [true, false, ...INIT_LORA_WEIGHTS_STRINGS], caseInsensitive: ['gaussian', 'olora'],
    patterns: [{ regex: '^pissa_niter_[0-9]+$', label: 'pissa_niter_<N>' }], severity: 'error', code: 'bad-enum',
    message: (v) => `Unknown init_lora_weights value ${JSON.stringify(v)}: use true, false, ${INIT_LORA_WEIGHTS_STRINGS.map((s) => `"${s}"`).join(', ')} or "pissa_niter_<N>"` },
  // Not PEFT's rule but ours: the trainer builds causal-LM graphs only.
  { key: 'task_type', values: ['CAUSAL_LM', null], severity: 'warning', code: 'task-type',
    message: (v) => `PEFT Studio trains causal language models; task_type ${JSON.stringify(v)} is not supported for training` },
];

/** Reads a field's effective value: as written, or PEFT's default when absent (or unusable). */
export type ValueOf = (key: string) => unknown;

/** A rule over several fields, in LoraConfig.__post_init__'s order. `check` returns the issue's key and message. */
export interface CrossRule {
  severity: RuleSeverity;
  code: LoraRuleCode;
  check: (v: ValueOf) => { key: string; message: string } | null;
}

/** Python truthiness of a JSON value. */
export function truthy(v: unknown): boolean {
  if (v === null || v === undefined || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

const isRegexTarget = (v: ValueOf): boolean => typeof v('target_modules') === 'string';

export const LORA_CROSS_RULES: readonly CrossRule[] = [
  { severity: 'error', code: 'layers-with-regex', check: (v) => (isRegexTarget(v) && v('layers_to_transform') !== null
    ? { key: 'layers_to_transform', message: '`layers_to_transform` cannot be used when `target_modules` is a str (a regex): write target_modules as a list' } : null) },
  { severity: 'error', code: 'layers-with-regex', check: (v) => (isRegexTarget(v) && v('layers_pattern') !== null
    ? { key: 'layers_pattern', message: '`layers_pattern` cannot be used when `target_modules` is a str (a regex): write target_modules as a list' } : null) },
  { severity: 'error', code: 'pattern-without-layers', check: (v) => (truthy(v('layers_pattern')) && !truthy(v('layers_to_transform'))
    ? { key: 'layers_pattern', message: 'When `layers_pattern` is specified, `layers_to_transform` must also be specified' } : null) },
  { severity: 'error', code: 'dora-megatron', check: (v) => (v('use_dora') === true && truthy(v('megatron_config'))
    ? { key: 'use_dora', message: 'DoRA does not support megatron_core, please set `use_dora=False`' } : null) },
  { severity: 'error', code: 'loftq-without-config', check: (v) => (v('init_lora_weights') === 'loftq' && !truthy(v('loftq_config'))
    ? { key: 'init_lora_weights', message: "`loftq_config` must be specified when `init_lora_weights` is 'loftq'" } : null) },
  // PEFT's if/elif chain: at most one of these warnings, the first that applies.
  { severity: 'warning', code: 'ignored-config', check: ignoredSubConfig },
  // LoraLayer.lora_ga_init raises without a config.
  { severity: 'error', code: 'lora-ga-without-config', check: (v) => (v('init_lora_weights') === 'lora_ga' && v('lora_ga_config') === null
    ? { key: 'init_lora_weights', message: "`lora_ga_config` must be specified when `init_lora_weights` is 'lora_ga'" } : null) },
  { severity: 'error', code: 'lora-bias-init', check: (v) => (v('lora_bias') === true && typeof v('init_lora_weights') !== 'boolean'
    ? { key: 'lora_bias', message: `The argument lora_bias=True is only supported with init_lora_weights=True or False, got init_lora_weights=${JSON.stringify(v('init_lora_weights'))}` } : null) },
  { severity: 'error', code: 'lora-bias-dora', check: (v) => (v('lora_bias') === true && v('use_dora') === true
    ? { key: 'lora_bias', message: 'The argument lora_bias=True is not supported for DoRA: set use_dora or lora_bias to false' } : null) },
  { severity: 'warning', code: 'alora-task-type', check: (v) => (v('alora_invocation_tokens') !== null && v('task_type') !== 'CAUSAL_LM'
    ? { key: 'alora_invocation_tokens', message: 'aLoRA is currently only supported for CAUSAL_LM task' } : null) },
];

function ignoredSubConfig(v: ValueOf): { key: string; message: string } | null {
  const init = v('init_lora_weights');
  if (init === 'loftq') return null;
  if (truthy(v('loftq_config'))) return { key: 'loftq_config', message: "`loftq_config` specified but will be ignored when `init_lora_weights` is not 'loftq'" };
  if (init === 'eva' && v('eva_config') === null) return { key: 'init_lora_weights', message: "`init_lora_weights` is 'eva' but `eva_config` is not specified: PEFT uses the default EVA config" };
  const eva = init !== 'eva' && v('eva_config') !== null;
  const corda = init !== 'corda' && v('corda_config') !== null;
  if (eva && corda) return { key: 'eva_config', message: "`eva_config` and `corda_config` specified but both will be ignored: `init_lora_weights` is neither 'eva' nor 'corda'" };
  if (eva) return { key: 'eva_config', message: "`eva_config` specified but will be ignored when `init_lora_weights` is not 'eva'" };
  if (init === 'corda' && v('corda_config') === null) return { key: 'init_lora_weights', message: "`init_lora_weights` is 'corda' but `corda_config` is not specified: PEFT uses the default CorDA config" };
  if (corda) return { key: 'corda_config', message: "`corda_config` specified but will be ignored when `init_lora_weights` is not 'corda'" };
  return null;
}

function outside(r: RangeRule, x: number): boolean {
  if (r.min !== undefined && (r.exclusiveMin === true ? x <= r.min : x < r.min)) return true;
  return r.max !== undefined && (r.exclusiveMax === true ? x >= r.max : x > r.max);
}

/** Does `v` belong to the enum? */
export function enumAccepts(e: EnumRule, v: unknown): boolean {
  if (e.values.includes(v as string | boolean | null)) return true;
  if (typeof v !== 'string') return false;
  if (e.caseInsensitive?.includes(v.toLowerCase()) === true) return true;
  return e.patterns?.some((p) => new RegExp(p.regex).test(v)) === true;
}

/** The strings an enum suggests (for did-you-mean and completions). */
export function enumOptions(e: EnumRule): string[] {
  return [...e.values.filter((x): x is string => typeof x === 'string'), ...(e.patterns ?? []).map((p) => p.label)];
}

/** The values a field's enum lists (no null), for completions and tests; undefined when it has none. */
export function enumValues(key: string): (string | boolean)[] | undefined {
  const e = LORA_ENUMS.find((x) => x.key === key && x.severity === 'error');
  return e?.values.filter((x): x is string | boolean => x !== null);
}

/**
 * The range and enum issues of one field's value (its JSON type already checked). Per key, the first failing
 * range rule only (an error hides the warning about the same number).
 */
export function valueIssues(key: string, value: unknown): RuleIssue[] {
  const out: RuleIssue[] = [];
  for (const e of LORA_ENUMS) {
    if (e.key !== key || enumAccepts(e, value)) continue;
    out.push({ key, severity: e.severity, code: e.code, message: e.message(value as JsonValue), options: enumOptions(e).filter((o) => !o.includes('<')) });
    if (e.severity === 'error') return out;
  }
  const seen = new Set<string | number | undefined>();
  for (const r of LORA_RANGES) {
    if (r.key !== key) continue;
    for (const [entry, x] of numbersOf(r, value)) {
      if (seen.has(entry) || !outside(r, x)) continue;
      seen.add(entry);
      out.push({ key, severity: r.severity, code: r.code, message: r.message(x, entry), ...(entry !== undefined ? { entry } : {}) });
    }
  }
  return out;
}

function numbersOf(r: RangeRule, value: unknown): [string | number | undefined, number][] {
  if (typeof value === 'number') return r.applies === 'values' ? [] : [[undefined, value]];
  if (r.applies === 'items' && Array.isArray(value)) return value.flatMap((x, i): [number, number][] => (typeof x === 'number' ? [[i, x]] : []));
  if (r.applies === 'values' && value !== null && typeof value === 'object' && !Array.isArray(value)) {
    return Object.entries(value).flatMap(([k, x]): [string, number][] => (typeof x === 'number' ? [[k, x]] : []));
  }
  return [];
}

/** The cross-field issues, in PEFT's order. `value` gives what is written; absent keys read as PEFT's default. */
export function crossFieldIssues(value: (key: string) => unknown): RuleIssue[] {
  const v: ValueOf = (k) => {
    const x = value(k);
    return x === undefined ? defaultOf(k) : x;
  };
  const out: RuleIssue[] = [];
  for (const rule of LORA_CROSS_RULES) {
    const hit = rule.check(v);
    if (hit !== null) out.push({ key: hit.key, severity: rule.severity, code: rule.code, message: hit.message });
  }
  return out;
}
