// Descriptor of the Llama family (model_type llama, mistral, qwen2): transformers' LlamaConfig/MistralConfig/
// Qwen2Config defaults and refusals, the model.layers.* layout, the llamaHidden builder and llama.cpp's names.
import { InputError } from '../errors';
import type { ModelSpec } from '../hf/types';
import { llamaHidden } from '../models/llama';
import { type Json, Reader, dropouts, parseRope } from './configReader';
import { attentionModules, decoderLayout, gatedMlpModules, layerNorms } from './layout';
import type { ArchDescriptor, ConfigContext, GgufTensorTarget, Layout } from './types';
import { ropeGgufMetadata } from './ggufCommon';

/**
 * The sliding-window width transformers applies in some layer, or null. Mistral: `sliding_window` on every layer.
 * Qwen2/Qwen3: only with `use_sliding_window`, on layers >= `max_window_layers` (or those `layer_types` marks sliding).
 */
export function slidingWindowOf(c: Json, modelType: string, numLayers: number, file: string): number | null {
  const r = new Reader(c, file);
  if (!r.has('sliding_window')) return null;
  if (modelType === 'mistral') return r.int('sliding_window', 4096);
  if ((modelType !== 'qwen2' && modelType !== 'qwen3') || !r.bool('use_sliding_window', false)) return null;
  const types = c['layer_types'];
  const anySliding = Array.isArray(types) ? types.includes('sliding_attention') : r.int('max_window_layers', 28) < numLayers;
  return anySliding ? r.int('sliding_window', 4096) : null;
}

/** Which layers slide (Qwen2/Qwen3: layer_types, else layers >= max_window_layers); undefined = all (Mistral). */
export function slidingLayersOf(c: Json, modelType: string, numLayers: number, file: string): boolean[] | undefined {
  if (modelType === 'mistral') return undefined;
  const types = c['layer_types'];
  if (Array.isArray(types)) return types.map((t) => t === 'sliding_attention');
  const first = new Reader(c, file).int('max_window_layers', 28);
  return Array.from({ length: numLayers }, (_, i) => i >= first);
}

/** The fields every RoPE decoder shares (hidden, heads, GQA, head_dim, rope), checked as transformers does. */
export function parseRopeDecoder(c: ConfigContext, family: string): ModelSpec {
  const { json, r, file, d } = c;
  const hidden = r.int('hidden_size', d.hidden);
  const heads = r.int('num_attention_heads', d.heads);
  // num_key_value_heads: null → num_attention_heads ("for backward compatibility"); absent → the class default.
  const kvRaw = json['num_key_value_heads'];
  const kvHeads = kvRaw === null ? heads : r.int('num_key_value_heads', d.kvHeads ?? heads);
  if (!r.has('head_dim') && d.headDim === undefined && hidden % heads !== 0) {
    throw new InputError('model-config-value', `The hidden size (${hidden}) is not a multiple of the number of attention heads (${heads}).`, { file });
  }
  const headDim = r.int('head_dim', d.headDim ?? Math.floor(hidden / heads));
  if (heads % kvHeads !== 0) {
    throw new InputError('model-config-value', `num_attention_heads (${heads}) must be a multiple of num_key_value_heads (${kvHeads})`, { file });
  }
  const rope = parseRope(json, file);
  const act = r.str('hidden_act', d.act);
  const unsupported: string[] = [];
  if (rope.unsupported !== undefined) unsupported.push(rope.unsupported);
  return {
    family, modelType: c.modelType, architectures: c.architectures, unsupportedForTraining: unsupported,
    internalDropout: dropouts(json, ['attention_dropout'], 0, file), slidingWindow: null,
    vocabSize: r.int('vocab_size', d.vocab), hiddenSize: hidden, intermediateSize: r.int('intermediate_size', d.intermediate ?? 4 * hidden),
    numLayers: r.int('num_hidden_layers', d.layers), numHeads: heads, numKvHeads: kvHeads, headDim,
    maxPositionEmbeddings: r.int('max_position_embeddings', d.maxPos), normEps: r.num('rms_norm_eps', d.eps),
    ropeTheta: rope.theta, ropeScaling: rope.scaling, tieWordEmbeddings: r.bool('tie_word_embeddings', d.tie),
    qkvBias: false, oBias: false, mlpBias: false, hiddenAct: act, torchDtype: c.torchDtype,
    bosTokenId: r.tokenId('bos_token_id', d.bos), eosTokenId: r.tokenIds('eos_token_id', d.eos), padTokenId: r.tokenId('pad_token_id', null),
  };
}

function parseLlamaConfig(c: ConfigContext): ModelSpec {
  const s = parseRopeDecoder(c, 'llama');
  const { r, modelType } = c;
  if (s.hiddenAct !== 'silu' && s.hiddenAct !== 'swish') s.unsupportedForTraining?.unshift(`hidden_act "${s.hiddenAct}" (supported: silu)`);
  const attentionBias = modelType === 'llama' ? r.bool('attention_bias', false) : false;
  s.qkvBias = modelType === 'qwen2' ? true : attentionBias;
  s.oBias = attentionBias;
  s.mlpBias = modelType === 'llama' ? r.bool('mlp_bias', false) : false;
  s.slidingWindow = slidingWindowOf(c.json, modelType, s.numLayers, c.file);
  if (s.slidingWindow !== null) s.slidingLayers = slidingLayersOf(c.json, modelType, s.numLayers, c.file);
  return s;
}

export function llamaLayout(s: ModelSpec): Layout {
  return decoderLayout(s, (p, i) => [...attentionModules(s, p, i), ...gatedMlpModules(s, p, i, s.mlpBias), ...layerNorms(s, p, i, ['input_layernorm', 'post_attention_layernorm'])]);
}

export const LLAMA_LAYER: Readonly<Record<string, string>> = {
  'self_attn.q_proj': 'attn_q', 'self_attn.k_proj': 'attn_k', 'self_attn.v_proj': 'attn_v', 'self_attn.o_proj': 'attn_output',
  'mlp.gate_proj': 'ffn_gate', 'mlp.up_proj': 'ffn_up', 'mlp.down_proj': 'ffn_down',
  input_layernorm: 'attn_norm', post_attention_layernorm: 'ffn_norm',
};

/** llama.cpp names of a model.layers.* checkpoint (q/k row-permuted for arch llama's RoPE). */
export function llamaGgufTensor(hfName: string, spec: ModelSpec, arch: string, layer: Readonly<Record<string, string>> = LLAMA_LAYER): GgufTensorTarget | null | undefined {
  const none = { kind: 'none' } as const;
  if (/rotary_emb\.inv_freq$/.test(hfName)) return null;
  const fixed: Record<string, string> = { 'model.embed_tokens.weight': 'token_embd.weight', 'model.norm.weight': 'output_norm.weight', 'lm_head.weight': 'output.weight' };
  if (fixed[hfName] !== undefined) return { name: fixed[hfName], transform: none };
  const m = /^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(hfName);
  const g = m !== null ? layer[m[2]!] : undefined;
  if (m === null || g === undefined) return undefined;
  if (arch === 'llama' && g === 'attn_q') return { name: `blk.${m[1]}.${g}.${m[3]}`, transform: { kind: 'permute', heads: spec.numHeads } };
  if (arch === 'llama' && g === 'attn_k') return { name: `blk.${m[1]}.${g}.${m[3]}`, transform: { kind: 'permute', heads: spec.numKvHeads } };
  return { name: `blk.${m[1]}.${g}.${m[3]}`, transform: none };
}

export const LLAMA_CONTAINERS: Readonly<Record<string, string>> = {
  '#': 'DecoderLayer', model: 'Model', layers: 'ModuleList', self_attn: 'Attention', mlp: 'MLP', act_fn: 'SiLUActivation', rotary_emb: 'RotaryEmbedding',
};

export const llamaArch: ArchDescriptor = {
  family: 'llama',
  displayName: 'Llama',
  modelTypes: {
    llama: {
      architectures: ['LlamaForCausalLM'],
      defaults: { vocab: 32000, hidden: 4096, intermediate: 11008, layers: 32, heads: 32, kvHeads: null, maxPos: 2048, eps: 1e-6, bos: 1, eos: 2, tie: false, act: 'silu' },
    },
    mistral: {
      architectures: ['MistralForCausalLM'],
      defaults: { vocab: 32000, hidden: 4096, intermediate: 14336, layers: 32, heads: 32, kvHeads: 8, maxPos: 4096 * 32, eps: 1e-6, bos: 1, eos: 2, tie: false, act: 'silu' },
    },
    qwen2: {
      architectures: ['Qwen2ForCausalLM'],
      defaults: { vocab: 151936, hidden: 4096, intermediate: 22016, layers: 32, heads: 32, kvHeads: 32, maxPos: 32768, eps: 1e-6, bos: null, eos: null, tie: false, act: 'silu' },
    },
  },
  parseConfig: parseLlamaConfig,
  basePrefix: 'model.',
  layersPrefix: 'model.layers',
  layout: llamaLayout,
  hidden: llamaHidden,
  learnedPositions: false,
  cacheKvHeads: (s) => s.numKvHeads,
  normEpsKey: 'rms_norm_eps',
  inspectExtra: (s) => `  rope_theta ${s.ropeTheta}${s.ropeScaling !== null ? `  rope_scaling ${s.ropeScaling.ropeType} x${s.ropeScaling.factor}` : ''}`,
  containerClasses: LLAMA_CONTAINERS,
  modulesAfter(n) {
    if (n.endsWith('.mlp.down_proj')) return [n.replace(/down_proj$/, 'act_fn')];
    if (n === 'model.norm') return ['model.rotary_emb'];
    return [];
  },
  mlpLabel: 'SwiGLU',
  gguf: { archOf: { llama: 'llama', mistral: 'llama', qwen2: 'qwen2' }, metadata: ropeGgufMetadata, tensorFor: llamaGgufTensor },
};
