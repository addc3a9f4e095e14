// Descriptor of Phi-3 / Phi-3.5 / Phi-4-mini (model_type phi3): Phi3Config defaults, partial_rotary_factor, the fused
// qkv_proj / gate_up_proj layout in named_modules order (o_proj before qkv_proj), phi3Hidden, llama.cpp's tensor names.
import type { ModelSpec } from '../hf/types';
import { phi3Hidden } from '../models/phi3';
import { ropeGgufMetadata } from './ggufCommon';
import { llamaArch, llamaGgufTensor, parseRopeDecoder } from './llama';
import { decoderLayout, layerNorms, mod } from './layout';
import { dropouts } from './configReader';
import type { ArchDescriptor, ConfigContext, Layout } from './types';

function parsePhi3Config(c: ConfigContext): ModelSpec {
  const s = parseRopeDecoder(c, 'phi3');
  const unsupported = s.unsupportedForTraining ?? [];
  if (s.hiddenAct !== 'silu' && s.hiddenAct !== 'swish') unsupported.unshift(`hidden_act "${s.hiddenAct}" (supported: silu)`);
  const factor = c.r.num('partial_rotary_factor', 1.0);
  s.partialRotaryFactor = factor;
  const rot = Math.floor(s.headDim * factor);
  if (!(factor > 0 && factor <= 1) || rot % 2 !== 0) unsupported.push(`partial_rotary_factor ${factor} (head_dim ${s.headDim} × factor must be an even number of features)`);
  s.unsupportedForTraining = unsupported;
  s.internalDropout = dropouts(c.json, ['attention_dropout', 'resid_pdrop', 'embd_pdrop'], 0, c.file);
  s.slidingWindow = c.r.has('sliding_window') ? c.r.int('sliding_window', 2047) : null;
  return s;
}

function phi3Layout(s: ModelSpec): Layout {
  const h = s.hiddenSize;
  const q = s.numHeads * s.headDim;
  const kv = s.numKvHeads * s.headDim;
  return decoderLayout(s, (p, i) => [
    mod(`${p}.self_attn.o_proj`, 'linear', q, h, false, i),
    mod(`${p}.self_attn.qkv_proj`, 'linear', h, q + 2 * kv, false, i),
    mod(`${p}.mlp.gate_up_proj`, 'linear', h, 2 * s.intermediateSize, false, i),
    mod(`${p}.mlp.down_proj`, 'linear', s.intermediateSize, h, false, i),
    ...layerNorms(s, p, i, ['input_layernorm', 'post_attention_layernorm']),
  ]);
}

const PHI3_LAYER: Readonly<Record<string, string>> = {
  'self_attn.qkv_proj': 'attn_qkv', 'self_attn.o_proj': 'attn_output', 'mlp.gate_up_proj': 'ffn_up', 'mlp.down_proj': 'ffn_down',
  input_layernorm: 'attn_norm', post_attention_layernorm: 'ffn_norm',
};

export const phi3Arch: ArchDescriptor = {
  ...llamaArch,
  family: 'phi3',
  displayName: 'Phi-3',
  modelTypes: {
    phi3: {
      architectures: ['Phi3ForCausalLM'],
      defaults: { vocab: 32064, hidden: 3072, intermediate: 8192, layers: 32, heads: 32, kvHeads: null, maxPos: 4096, eps: 1e-5, bos: 1, eos: 32000, tie: false, act: 'silu' },
    },
  },
  parseConfig: parsePhi3Config,
  layout: phi3Layout,
  hidden: phi3Hidden,
  containerClasses: { '#': 'Phi3DecoderLayer', model: 'Phi3Model', layers: 'ModuleList', self_attn: 'Phi3Attention', mlp: 'Phi3MLP', activation_fn: 'SiLUActivation', rotary_emb: 'Phi3RotaryEmbedding' },
  modulesAfter(n) {
    if (n.endsWith('.mlp.down_proj')) return [n.replace(/down_proj$/, 'activation_fn')];
    if (n.endsWith('.post_attention_layernorm')) return [n.replace(/post_attention_layernorm$/, 'resid_attn_dropout'), n.replace(/post_attention_layernorm$/, 'resid_mlp_dropout')];
    if (n === 'model.norm') return ['model.rotary_emb'];
    return [];
  },
  inspectExtra: (s) => `${llamaArch.inspectExtra(s)}  partial_rotary_factor ${s.partialRotaryFactor ?? 1}`,
  // No GGUF export yet: llama.cpp's phi3 loader rejected our fixture's vocabulary, and LongRoPE models need
  // rope_factors tensors the exporter does not write. The tensor names are kept for when it does.
  gguf: { archOf: {}, metadata: ropeGgufMetadata, tensorFor: (n, s, a) => llamaGgufTensor(n, s, a, PHI3_LAYER) },
};
