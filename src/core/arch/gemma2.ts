// Descriptors of Gemma 2 (model_type gemma2) and Gemma 3 text (gemma3_text: + q/k norms, local RoPE base): Gemma2Config defaults (head_dim 256, query_pre_attn_scalar, soft-caps,
// sliding window on even layers), the four-norm layer layout and gemma2Hidden. No GGUF export yet (llama.cpp stores
// Gemma norms as 1 + w, a transform the exporter does not have).
import type { ModelSpec } from '../hf/types';
import { gemma2Hidden } from '../models/gemma2';
import { llamaArch, parseRopeDecoder } from './llama';
import { attentionModules, decoderLayout, gatedMlpModules, layerNorms } from './layout';
import type { ArchDescriptor, ConfigContext, Layout } from './types';

function parseGemma2Config(c: ConfigContext): ModelSpec {
  const s = parseRopeDecoder(c, 'gemma2');
  const { r, json } = c;
  // Gemma2MLP reads hidden_activation (hidden_act is its legacy twin).
  const act = r.str('hidden_activation', r.str('hidden_act', 'gelu_pytorch_tanh'));
  s.hiddenAct = act;
  if (act !== 'gelu_pytorch_tanh' && act !== 'gelu_new') s.unsupportedForTraining?.unshift(`hidden_activation "${act}" (supported: gelu_pytorch_tanh)`);
  const bias = r.bool('attention_bias', false);
  s.qkvBias = bias;
  s.oBias = bias;
  s.queryPreAttnScalar = r.num('query_pre_attn_scalar', 256);
  const cap = (key: string, dflt: number): number | null => (json[key] === null ? null : r.num(key, dflt));
  s.attnLogitSoftcap = cap('attn_logit_softcapping', 50.0);
  s.finalLogitSoftcap = cap('final_logit_softcapping', 30.0);
  s.slidingWindow = json['sliding_window'] === null ? null : r.int('sliding_window', 4096);
  if (s.slidingWindow !== null) {
    const types = json['layer_types'];
    // Gemma2Config: layer i slides when (i + 1) % 2 (layers 0, 2, 4, ...), unless layer_types says otherwise.
    s.slidingLayers = Array.isArray(types) ? types.map((t) => t === 'sliding_attention') : Array.from({ length: s.numLayers }, (_, i) => (i + 1) % 2 === 1);
  }
  return s;
}

/** Gemma3TextConfig: q/k norms, sliding layers where (i + 1) % sliding_window_pattern (6) != 0, local RoPE base. */
function parseGemma3Config(c: ConfigContext): ModelSpec {
  const s = parseGemma2Config(c);
  s.family = 'gemma3_text';
  s.qkNorm = true;
  s.ropeLocalTheta = c.r.num('rope_local_base_freq', 10000.0);
  const cap = (key: string): number | null => (c.json[key] === undefined || c.json[key] === null ? null : c.r.num(key, 0));
  s.attnLogitSoftcap = cap('attn_logit_softcapping');
  s.finalLogitSoftcap = cap('final_logit_softcapping');
  if (s.slidingWindow !== null && !Array.isArray(c.json['layer_types'])) {
    const pattern = c.r.int('sliding_window_pattern', 6);
    s.slidingLayers = Array.from({ length: s.numLayers }, (_, i) => (i + 1) % pattern !== 0);
  }
  return s;
}

function gemma2Layout(s: ModelSpec): Layout {
  const norms = ['input_layernorm', 'post_attention_layernorm', 'pre_feedforward_layernorm', 'post_feedforward_layernorm'];
  return decoderLayout(s, (p, i) => [...attentionModules(s, p, i), ...gatedMlpModules(s, p, i, false), ...layerNorms(s, p, i, norms)]);
}

export const gemma2Arch: ArchDescriptor = {
  ...llamaArch,
  family: 'gemma2',
  displayName: 'Gemma 2',
  modelTypes: {
    gemma2: {
      architectures: ['Gemma2ForCausalLM'],
      defaults: { vocab: 256000, hidden: 2304, intermediate: 9216, layers: 26, heads: 8, kvHeads: 4, maxPos: 8192, eps: 1e-6, bos: 2, eos: 1, tie: true, act: 'gelu_pytorch_tanh', headDim: 256 },
    },
  },
  parseConfig: parseGemma2Config,
  layout: gemma2Layout,
  hidden: gemma2Hidden,
  containerClasses: { '#': 'Gemma2DecoderLayer', model: 'Gemma2Model', layers: 'ModuleList', self_attn: 'Gemma2Attention', mlp: 'Gemma2MLP', act_fn: 'PytorchGELUTanh', rotary_emb: 'Gemma2RotaryEmbedding' },
  inspectExtra: (s) => `${llamaArch.inspectExtra(s)}  query_pre_attn_scalar ${s.queryPreAttnScalar}  softcaps attn ${s.attnLogitSoftcap} final ${s.finalLogitSoftcap}  sliding_window ${s.slidingWindow}`,
  mlpLabel: 'GeGLU',
  gguf: { archOf: {}, metadata: () => [], tensorFor: () => undefined },
};

export const gemma3TextArch: ArchDescriptor = {
  ...gemma2Arch,
  family: 'gemma3_text',
  displayName: 'Gemma 3',
  modelTypes: {
    gemma3_text: {
      architectures: ['Gemma3ForCausalLM'],
      defaults: { vocab: 262208, hidden: 2304, intermediate: 9216, layers: 26, heads: 8, kvHeads: 4, maxPos: 131072, eps: 1e-6, bos: 2, eos: 1, tie: true, act: 'gelu_pytorch_tanh', headDim: 256 },
    },
  },
  parseConfig: parseGemma3Config,
  modulesAfter(n) {
    if (n.endsWith('.mlp.down_proj')) return [n.replace(/down_proj$/, 'act_fn')];
    if (n === 'model.norm') return ['model.rotary_emb', 'model.rotary_emb_local'];
    return [];
  },
  containerClasses: { '#': 'Gemma3DecoderLayer', model: 'Gemma3TextModel', layers: 'ModuleList', self_attn: 'Gemma3Attention', mlp: 'Gemma3MLP', act_fn: 'PytorchGELUTanh', rotary_emb: 'Gemma3RotaryEmbedding' },
};
