// Descriptor of Qwen3 (model_type qwen3): Qwen3Config defaults, explicit head_dim, attention_bias on q/k/v/o,
// per-head RMSNorm q_norm/k_norm before RoPE (modeling_qwen3.py), built by the Llama-family builder.
import type { ModelSpec } from '../hf/types';
import { llamaHidden } from '../models/llama';
import { ropeGgufMetadata } from './ggufCommon';
import { LLAMA_CONTAINERS, LLAMA_LAYER, llamaArch, llamaGgufTensor, llamaLayout, parseRopeDecoder, slidingLayersOf, slidingWindowOf } from './llama';
import type { ArchDescriptor, ConfigContext } from './types';

function parseQwen3Config(c: ConfigContext): ModelSpec {
  const s = parseRopeDecoder(c, 'qwen3');
  if (s.hiddenAct !== 'silu' && s.hiddenAct !== 'swish') s.unsupportedForTraining?.unshift(`hidden_act "${s.hiddenAct}" (supported: silu)`);
  const bias = c.r.bool('attention_bias', false);
  s.qkvBias = bias;
  s.oBias = bias;
  s.qkNorm = true;
  s.slidingWindow = slidingWindowOf(c.json, c.modelType, s.numLayers, c.file);
  if (s.slidingWindow !== null) s.slidingLayers = slidingLayersOf(c.json, c.modelType, s.numLayers, c.file);
  return s;
}

const QWEN3_LAYER: Readonly<Record<string, string>> = { ...LLAMA_LAYER, 'self_attn.q_norm': 'attn_q_norm', 'self_attn.k_norm': 'attn_k_norm' };

export const qwen3Arch: ArchDescriptor = {
  ...llamaArch,
  family: 'qwen3',
  displayName: 'Qwen3',
  modelTypes: {
    qwen3: {
      architectures: ['Qwen3ForCausalLM'],
      defaults: { vocab: 151936, hidden: 4096, intermediate: 22016, layers: 32, heads: 32, kvHeads: 32, maxPos: 32768, eps: 1e-6, bos: null, eos: null, tie: false, act: 'silu', headDim: 128 },
    },
  },
  parseConfig: parseQwen3Config,
  layout: llamaLayout,
  hidden: llamaHidden,
  containerClasses: LLAMA_CONTAINERS,
  gguf: { archOf: { qwen3: 'qwen3' }, metadata: ropeGgufMetadata, tensorFor: (n, s, a) => llamaGgufTensor(n, s, a, QWEN3_LAYER) },
};
