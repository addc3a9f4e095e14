// config.json reading helpers shared by the architecture descriptors: typed field access with InputErrors naming
// the key, RoPE parameters (v4 rope_scaling / v5 rope_parameters) and model-internal dropout probabilities.
import { InputError } from '../errors';
import { didYouMean } from '../util/didYouMean';
import { CONFIG_MAXIMA } from '../hf/limits';
import type { RopeScaling } from '../hf/types';

export type Json = Record<string, unknown>;

export class Reader {
  constructor(private readonly c: Json, private readonly file: string) {}

  has(key: string): boolean {
    return this.c[key] !== undefined && this.c[key] !== null;
  }

  int(key: string, dflt: number): number {
    const v = this.c[key];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
      throw new InputError('model-config-value', `"${key}" must be a positive integer`, { file: this.file, actual: JSON.stringify(v) });
    }
    const max = CONFIG_MAXIMA[key];
    if (max !== undefined && v > max) {
      throw new InputError('model-config-value', `"${key}" is ${v}, more than the ${max} any supported model uses`, { file: this.file, hint: `Fix "${key}" in config.json` });
    }
    return v;
  }

  num(key: string, dflt: number): number {
    const v = this.c[key];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new InputError('model-config-value', `"${key}" must be a number`, { file: this.file, actual: JSON.stringify(v) });
    }
    return v;
  }

  bool(key: string, dflt: boolean): boolean {
    const v = this.c[key];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'boolean') throw new InputError('model-config-value', `"${key}" must be true or false`, { file: this.file, actual: JSON.stringify(v) });
    return v;
  }

  str(key: string, dflt: string): string {
    const v = this.c[key];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'string') throw new InputError('model-config-value', `"${key}" must be a string`, { file: this.file, actual: JSON.stringify(v) });
    return v;
  }

  tokenId(key: string, dflt: number | null): number | null {
    const v = this.c[key];
    if (v === undefined) return dflt;
    if (v === null) return null;
    if (typeof v === 'number' && Number.isInteger(v)) return v;
    if (Array.isArray(v) && v.length > 0 && typeof v[0] === 'number') return v[0];
    throw new InputError('model-config-value', `"${key}" must be a token id`, { file: this.file, actual: JSON.stringify(v) });
  }

  tokenIds(key: string, dflt: number | null): number | number[] | null {
    const v = this.c[key];
    if (v === undefined) return dflt;
    if (v === null) return null;
    if (typeof v === 'number' && Number.isInteger(v)) return v;
    if (Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isInteger(x))) return [...(v as number[])];
    throw new InputError('model-config-value', `"${key}" must be a token id or a list of token ids`, { file: this.file, actual: JSON.stringify(v) });
  }
}

export function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * rope_theta + rope_scaling (transformers v4) or rope_parameters (v5, possibly per layer type) →
 * theta and scaling. `type` is the old name of `rope_type`.
 */
/** RoPE types transformers knows that our graphs do not compute: the model can be read, counted and validated, not trained. */
const ROPE_TYPES_READ_ONLY = ['yarn', 'dynamic_yarn', 'mrope'];

export function parseRope(c: Json, file: string): { theta: number; scaling: RopeScaling | null; unsupported?: string } {
  let params: Json | null = null;
  if (isObject(c['rope_parameters'])) {
    const rp = c['rope_parameters'];
    // v5 models with several attention types nest one dict per layer type.
    params = 'rope_type' in rp || 'rope_theta' in rp || 'type' in rp ? rp : isObject(rp['full_attention']) ? rp['full_attention'] : rp;
  }
  const scalingSrc: Json | null = isObject(c['rope_scaling']) ? c['rope_scaling'] : params;
  let theta = 10000.0;
  const thetaSrc = params !== null && params['rope_theta'] !== undefined ? params['rope_theta'] : c['rope_theta'];
  if (thetaSrc !== undefined && thetaSrc !== null) {
    if (typeof thetaSrc !== 'number' || !(thetaSrc > 0)) throw new InputError('model-config-value', '"rope_theta" must be a positive number', { file, actual: JSON.stringify(thetaSrc) });
    theta = thetaSrc;
  }
  if (scalingSrc === null) return { theta, scaling: null };
  const rawType = scalingSrc['rope_type'] ?? scalingSrc['type'] ?? 'default';
  if (typeof rawType !== 'string') throw new InputError('model-config-value', '"rope_scaling.rope_type" must be a string', { file, actual: JSON.stringify(rawType) });
  const supported = ['default', 'linear', 'dynamic', 'llama3', 'longrope'];
  if (ROPE_TYPES_READ_ONLY.includes(rawType)) return { theta, scaling: null, unsupported: `rope_type "${rawType}" (supported for training: ${supported.join(', ')})` };
  if (!supported.includes(rawType) && rawType !== 'su') {
    throw new InputError('model-config-rope', `rope_type "${rawType}" is not supported`, { file, hint: `Supported: ${supported.join(', ')}.${didYouMean(rawType, supported)}` });
  }
  if (rawType === 'default') return { theta, scaling: null };
  const num = (key: string, required: boolean): number | undefined => {
    const v = scalingSrc[key];
    if (v === undefined || v === null) {
      if (required) throw new InputError('model-config-rope', `rope_scaling of type "${rawType}" needs "${key}"`, { file });
      return undefined;
    }
    if (typeof v !== 'number') throw new InputError('model-config-value', `"rope_scaling.${key}" must be a number`, { file, actual: JSON.stringify(v) });
    return v;
  };
  // Phi-3's first long-context configs call longrope "su".
  if (rawType === 'longrope' || rawType === 'su') return { theta, scaling: longRope(scalingSrc, num, file) };
  const factor = num('factor', true) as number;
  if (rawType === 'llama3') {
    const low = num('low_freq_factor', true) as number;
    const high = num('high_freq_factor', true) as number;
    const orig = num('original_max_position_embeddings', true) as number;
    return { theta, scaling: { ropeType: 'llama3', factor, lowFreqFactor: low, highFreqFactor: high, originalMaxPositionEmbeddings: orig } };
  }
  const scaling: RopeScaling = { ropeType: rawType as 'linear' | 'dynamic', factor };
  const orig = num('original_max_position_embeddings', false);
  if (orig !== undefined) scaling.originalMaxPositionEmbeddings = orig;
  return { theta, scaling };
}

function longRope(src: Json, num: (key: string, required: boolean) => number | undefined, file: string): RopeScaling {
  const list = (key: string): number[] => {
    const v = src[key];
    if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'number' && x > 0)) {
      throw new InputError('model-config-rope', `rope_scaling of type "longrope" needs "${key}": a list of positive numbers (one per rotary frequency)`, { file, actual: JSON.stringify(v) });
    }
    return v as number[];
  };
  const scaling: RopeScaling = { ropeType: 'longrope', factor: num('factor', false) ?? 1, shortFactor: list('short_factor'), longFactor: list('long_factor') };
  const attn = num('attention_factor', false);
  if (attn !== undefined) scaling.attentionFactor = attn;
  const orig = num('original_max_position_embeddings', false);
  if (orig !== undefined) scaling.originalMaxPositionEmbeddings = orig;
  return scaling;
}

/**
 * _compute_longrope_parameters: with a config-level original_max_position_embeddings (Phi-3), factor = max / original
 * and the switch point is that original; otherwise the rope factor and max_position_embeddings. The attention
 * factor, unless given, is sqrt(1 + ln(factor) / ln(original)) (1 when factor <= 1).
 */
export function resolveLongRope(s: RopeScaling, maxPos: number, configOriginal: number | undefined): RopeScaling {
  const original = configOriginal ?? maxPos;
  const factor = configOriginal !== undefined ? maxPos / configOriginal : s.factor;
  const attentionFactor = s.attentionFactor ?? (factor <= 1 ? 1 : Math.sqrt(1 + Math.log(factor) / Math.log(original)));
  return { ...s, factor, attentionFactor, originalMaxPositionEmbeddings: original };
}

/** Dropout probabilities above 0 among `keys` (absent keys take `dflt`, the config class default). */
export function dropouts(c: Json, keys: string[], dflt: number, file: string): Record<string, number> {
  const r = new Reader(c, file);
  const out: Record<string, number> = {};
  for (const k of keys) {
    const p = r.num(k, dflt);
    if (p > 0) out[k] = p;
  }
  return out;
}

