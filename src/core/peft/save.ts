// adapter_config.json exactly as PEFT 0.20.0 writes it: every saved field, json.dumps(indent=2, sort_keys=True),
// inference_mode true, peft_type LORA, peft_version "0.20.0". Source: peft config.py save_pretrained, peft_model.py.
import { LORA_CONFIG_FIELDS } from './loraFields';
import type { JsonValue } from './loraFields';
import type { LoraConfig } from './loraConfig';

export const PEFT_VERSION = '0.20.0';

/** Python's repr(float): shortest round-trip digits, exponent form when exp < -4 or exp >= 16 ("1e-05", "16.0"). */
export function pythonFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? 'Infinity' : '-Infinity';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mant, expStr] = x.toExponential().split('e') as [string, string];
  const exp = Number(expStr);
  const neg = mant.startsWith('-');
  const digits = mant.replace('-', '').replace('.', '');
  const sign = neg ? '-' : '';
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const e = Math.abs(exp).toString().padStart(2, '0');
    return `${sign}${m}e${exp < 0 ? '-' : '+'}${e}`;
  }
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  const intPart = digits.length > exp + 1 ? digits.slice(0, exp + 1) : digits.padEnd(exp + 1, '0');
  const frac = digits.length > exp + 1 ? digits.slice(exp + 1) : '0';
  return `${sign}${intPart}.${frac}`;
}

/** A JSON string literal as Python's json.dumps writes it (ensure_ascii=True: non-ASCII as \uXXXX). */
function pyString(s: string): string {
  return JSON.stringify(s).replace(/[\u007f-\uffff]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * json.dumps(value, indent, sort_keys=True). Numbers that are integers print as ints unless their
 * path is in `floatPaths` (top-level keys whose Python value is a float), which print as Python floats.
 */
export function pythonJsonDumps(value: JsonValue, indent = 2, floatKeys: ReadonlySet<string> = new Set()): string {
  const pad = (n: number): string => ' '.repeat(n * indent);
  const enc = (v: JsonValue, depth: number, isFloat: boolean): string => {
    if (v === null) return 'null';
    if (typeof v === 'boolean') return v ? 'true' : 'false';
    if (typeof v === 'number') return isFloat || !Number.isInteger(v) ? pythonFloatRepr(v) : String(v);
    if (typeof v === 'string') return pyString(v);
    if (Array.isArray(v)) {
      if (v.length === 0) return '[]';
      return `[\n${v.map((x) => pad(depth + 1) + enc(x, depth + 1, false)).join(',\n')}\n${pad(depth)}]`;
    }
    const keys = Object.keys(v).sort();
    if (keys.length === 0) return '{}';
    const body = keys.map((k) => `${pad(depth + 1)}${pyString(k)}: ${enc(v[k] as JsonValue, depth + 1, depth === 0 && floatKeys.has(k))}`);
    return `{\n${body.join(',\n')}\n${pad(depth)}}`;
  };
  return enc(value, 0, false);
}

export interface SerializeOptions {
  /** Written as `auto_mapping` when task_type is null (PeftModel.save_pretrained), e.g. {base_model_class: "LlamaForCausalLM", parent_library: "transformers.models.llama.modeling_llama"}. */
  autoMapping?: { base_model_class: string; parent_library: string };
}

/**
 * The adapter_config.json text PEFT 0.20.0 saves for `cfg` (no trailing newline, as PEFT).
 * `baseModelNameOrPath` is written as base_model_name_or_path. target_modules is written as given
 * (resolve a null target_modules to the model type's defaults first, as PEFT does before saving).
 */
export function serializeAdapterConfig(cfg: LoraConfig, baseModelNameOrPath: string, options: SerializeOptions = {}): string {
  const src = cfg as unknown as Record<string, JsonValue>;
  const out: Record<string, JsonValue> = {};
  const floatKeys = new Set<string>();
  for (const f of LORA_CONFIG_FIELDS) {
    if (!f.saved) continue;
    const v = src[f.name];
    out[f.name] = v === undefined ? structuredClone(f.default) : v;
    if (f.pythonFloat === true) floatKeys.add(f.name);
  }
  out['peft_type'] = 'LORA';
  out['peft_version'] = PEFT_VERSION;
  out['inference_mode'] = true;
  out['base_model_name_or_path'] = baseModelNameOrPath;
  if (cfg.task_type === null && options.autoMapping !== undefined) out['auto_mapping'] = { ...options.autoMapping };
  return pythonJsonDumps(out, 2, floatKeys);
}
