// config.json → ModelSpec for the supported causal LMs (llama incl. SmolLM/TinyLlama, mistral, qwen2, gpt2),
// with transformers' defaults per config class (LlamaConfig, MistralConfig, Qwen2Config, GPT2Config; docs/FORMATS.md).
import { InputError } from '../errors';
import { didYouMean } from '../util/didYouMean';
import { CONFIG_MAXIMA } from './limits';
import type { ModelFamily, ModelSpec, RopeScaling } from './types';

interface ModelTypeInfo {
  family: ModelFamily;
  architectures: string[];
  defaults: { vocab: number; hidden: number; intermediate: number | null; layers: number; heads: number; kvHeads: number | null; maxPos: number; eps: number; bos: number | null; eos: number | null; tie: boolean; act: string };
}

/** model_type → family, accepted architectures and the config class defaults (transformers). */
export const SUPPORTED_MODEL_TYPES: Readonly<Record<string, ModelTypeInfo>> = {
  llama: {
    family: 'llama', architectures: ['LlamaForCausalLM'],
    defaults: { vocab: 32000, hidden: 4096, intermediate: 11008, layers: 32, heads: 32, kvHeads: null, maxPos: 2048, eps: 1e-6, bos: 1, eos: 2, tie: false, act: 'silu' },
  },
  mistral: {
    family: 'llama', architectures: ['MistralForCausalLM'],
    defaults: { vocab: 32000, hidden: 4096, intermediate: 14336, layers: 32, heads: 32, kvHeads: 8, maxPos: 4096 * 32, eps: 1e-6, bos: 1, eos: 2, tie: false, act: 'silu' },
  },
  qwen2: {
    family: 'llama', architectures: ['Qwen2ForCausalLM'],
    defaults: { vocab: 151936, hidden: 4096, intermediate: 22016, layers: 32, heads: 32, kvHeads: 32, maxPos: 32768, eps: 1e-6, bos: null, eos: null, tie: false, act: 'silu' },
  },
  gpt2: {
    family: 'gpt2', architectures: ['GPT2LMHeadModel'],
    defaults: { vocab: 50257, hidden: 768, intermediate: null, layers: 12, heads: 12, kvHeads: null, maxPos: 1024, eps: 1e-5, bos: 50256, eos: 50256, tie: true, act: 'gelu_new' },
  },
};

export const SUPPORTED_ARCHITECTURES: readonly string[] = Object.values(SUPPORTED_MODEL_TYPES).flatMap((t) => t.architectures);

type Json = Record<string, unknown>;

class Reader {
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

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * rope_theta + rope_scaling (transformers v4) or rope_parameters (v5, possibly per layer type) →
 * theta and scaling. `type` is the old name of `rope_type`.
 */
/** RoPE types transformers knows that our graphs do not compute: the model can be read, counted and validated, not trained. */
const ROPE_TYPES_READ_ONLY = ['yarn', 'longrope', 'dynamic_yarn', 'su', 'mrope'];

function parseRope(c: Json, file: string): { theta: number; scaling: RopeScaling | null; unsupported?: string } {
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
  const supported = ['default', 'linear', 'dynamic', 'llama3'];
  if (ROPE_TYPES_READ_ONLY.includes(rawType)) return { theta, scaling: null, unsupported: `rope_type "${rawType}" (supported for training: ${supported.join(', ')})` };
  if (!supported.includes(rawType)) {
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

/** Dropout probabilities above 0 among `keys` (absent keys take `dflt`, the config class default). */
function dropouts(c: Json, keys: string[], dflt: number, file: string): Record<string, number> {
  const r = new Reader(c, file);
  const out: Record<string, number> = {};
  for (const k of keys) {
    const p = r.num(k, dflt);
    if (p > 0) out[k] = p;
  }
  return out;
}

/**
 * The sliding-window width transformers applies in some layer, or null. Mistral: `sliding_window` on every layer.
 * Qwen2: only with `use_sliding_window`, on layers >= `max_window_layers` (or those `layer_types` marks sliding).
 */
function slidingWindowOf(c: Json, modelType: string, numLayers: number, file: string): number | null {
  const r = new Reader(c, file);
  if (!r.has('sliding_window')) return null;
  if (modelType === 'mistral') return r.int('sliding_window', 4096);
  if (modelType !== 'qwen2' || !r.bool('use_sliding_window', false)) return null;
  const types = c['layer_types'];
  const anySliding = Array.isArray(types) ? types.includes('sliding_attention') : r.int('max_window_layers', 28) < numLayers;
  return anySliding ? r.int('sliding_window', 4096) : null;
}

/** Parse a config.json object into a ModelSpec. `file` names the config in errors. */
export function parseModelConfig(json: unknown, file: string): ModelSpec {
  if (!isObject(json)) throw new InputError('model-config-not-object', 'config.json must contain a JSON object', { file });
  const modelType = json['model_type'];
  const supportedTypes = Object.keys(SUPPORTED_MODEL_TYPES);
  if (typeof modelType !== 'string') {
    throw new InputError('model-config-model-type', 'config.json has no "model_type"', { file, hint: `Supported model types: ${supportedTypes.join(', ')}` });
  }
  const info = Object.hasOwn(SUPPORTED_MODEL_TYPES, modelType) ? SUPPORTED_MODEL_TYPES[modelType] : undefined;
  if (info === undefined) {
    throw new InputError('model-config-model-type', `model_type "${modelType}" is not supported`, {
      file, hint: `Supported model types: ${supportedTypes.join(', ')} (architectures ${SUPPORTED_ARCHITECTURES.join(', ')}).${didYouMean(modelType, supportedTypes)}`,
    });
  }
  const archRaw = json['architectures'];
  let architectures = [...info.architectures];
  if (Array.isArray(archRaw) && archRaw.length > 0) {
    architectures = archRaw.map(String);
    const bad = architectures.find((a) => !info.architectures.includes(a));
    if (bad !== undefined) {
      throw new InputError('model-config-architecture', `architecture "${bad}" is not supported`, {
        file, hint: `Supported architectures: ${SUPPORTED_ARCHITECTURES.join(', ')}.${didYouMean(bad, SUPPORTED_ARCHITECTURES)}`,
      });
    }
  }
  const r = new Reader(json, file);
  const d = info.defaults;
  const dtypeRaw = json['dtype'] ?? json['torch_dtype'];
  const torchDtype = typeof dtypeRaw === 'string' ? dtypeRaw.replace(/^torch\./, '') : null;
  if (info.family === 'gpt2') {
    const hidden = r.int('n_embd', d.hidden);
    const heads = r.int('n_head', d.heads);
    if (hidden % heads !== 0) {
      throw new InputError('model-config-value', `n_embd (${hidden}) is not a multiple of n_head (${heads})`, { file });
    }
    const unsupported: string[] = [];
    const act = r.str('activation_function', d.act);
    // gelu_pytorch_tanh is the same tanh approximation as gelu_new.
    if (act !== 'gelu_new' && act !== 'gelu_pytorch_tanh') unsupported.push(`activation_function "${act}" (supported: gelu_new)`);
    if (!r.bool('scale_attn_weights', true)) unsupported.push('scale_attn_weights false');
    if (r.bool('scale_attn_by_inverse_layer_idx', false)) unsupported.push('scale_attn_by_inverse_layer_idx true');
    // GPT2Config's dropouts default to 0.1 when the key is absent.
    const dropout = dropouts(json, ['attn_pdrop', 'resid_pdrop', 'embd_pdrop'], 0.1, file);
    return {
      family: 'gpt2', modelType, architectures, unsupportedForTraining: unsupported, internalDropout: dropout, slidingWindow: null,
      vocabSize: r.int('vocab_size', d.vocab), hiddenSize: hidden, intermediateSize: r.int('n_inner', 4 * hidden),
      numLayers: r.int('n_layer', d.layers), numHeads: heads, numKvHeads: heads, headDim: hidden / heads,
      maxPositionEmbeddings: r.int('n_positions', d.maxPos), normEps: r.num('layer_norm_epsilon', d.eps),
      ropeTheta: 0, ropeScaling: null, tieWordEmbeddings: r.bool('tie_word_embeddings', d.tie),
      qkvBias: true, oBias: true, mlpBias: true, hiddenAct: r.str('activation_function', d.act), torchDtype,
      bosTokenId: r.tokenId('bos_token_id', d.bos), eosTokenId: r.tokenIds('eos_token_id', d.eos), padTokenId: r.tokenId('pad_token_id', null),
    };
  }
  const hidden = r.int('hidden_size', d.hidden);
  const heads = r.int('num_attention_heads', d.heads);
  // num_key_value_heads: null → num_attention_heads ("for backward compatibility"); absent → the class default.
  const kvRaw = json['num_key_value_heads'];
  const kvHeads = kvRaw === null ? heads : r.int('num_key_value_heads', d.kvHeads ?? heads);
  if (!r.has('head_dim') && hidden % heads !== 0) {
    throw new InputError('model-config-value', `The hidden size (${hidden}) is not a multiple of the number of attention heads (${heads}).`, { file });
  }
  const headDim = r.int('head_dim', Math.floor(hidden / heads));
  if (heads % kvHeads !== 0) {
    throw new InputError('model-config-value', `num_attention_heads (${heads}) must be a multiple of num_key_value_heads (${kvHeads})`, { file });
  }
  const rope = parseRope(json, file);
  const attentionBias = modelType === 'llama' ? r.bool('attention_bias', false) : false;
  const act = r.str('hidden_act', d.act);
  const unsupported = act === 'silu' || act === 'swish' ? [] : [`hidden_act "${act}" (supported: silu)`];
  if (rope.unsupported !== undefined) unsupported.push(rope.unsupported);
  const numLayers = r.int('num_hidden_layers', d.layers);
  return {
    family: 'llama', modelType, architectures, unsupportedForTraining: unsupported,
    internalDropout: dropouts(json, ['attention_dropout'], 0, file), slidingWindow: slidingWindowOf(json, modelType, numLayers, file),
    vocabSize: r.int('vocab_size', d.vocab), hiddenSize: hidden, intermediateSize: r.int('intermediate_size', d.intermediate ?? 4 * hidden),
    numLayers, numHeads: heads, numKvHeads: kvHeads, headDim,
    maxPositionEmbeddings: r.int('max_position_embeddings', d.maxPos), normEps: r.num('rms_norm_eps', d.eps),
    ropeTheta: rope.theta, ropeScaling: rope.scaling, tieWordEmbeddings: r.bool('tie_word_embeddings', d.tie),
    qkvBias: modelType === 'qwen2' ? true : attentionBias, oBias: attentionBias,
    mlpBias: modelType === 'llama' ? r.bool('mlp_bias', false) : false,
    hiddenAct: act, torchDtype,
    bosTokenId: r.tokenId('bos_token_id', d.bos), eosTokenId: r.tokenIds('eos_token_id', d.eos), padTokenId: r.tokenId('pad_token_id', null),
  };
}
