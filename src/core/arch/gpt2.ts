// Descriptor of GPT-2 (model_type gpt2): GPT2Config defaults and refusals, the transformer.h.* Conv1D layout, the
// gpt2Hidden builder (learned positions) and llama.cpp's gpt2 tensor names (Conv1D weights transposed).
import { InputError } from '../errors';
import type { ModelSpec, ModuleInfo } from '../hf/types';
import { gpt2Hidden } from '../models/gpt2';
import { dropouts } from './configReader';
import { baseGgufMetadata } from './ggufCommon';
import { mod, parametersOf } from './layout';
import type { ArchDescriptor, ConfigContext, GgufTensorTarget, Layout } from './types';

function parseGpt2Config(c: ConfigContext): ModelSpec {
  const { r, d, file, json } = c;
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
    family: 'gpt2', modelType: c.modelType, architectures: c.architectures, unsupportedForTraining: unsupported, internalDropout: dropout, slidingWindow: null,
    vocabSize: r.int('vocab_size', d.vocab), hiddenSize: hidden, intermediateSize: r.int('n_inner', 4 * hidden),
    numLayers: r.int('n_layer', d.layers), numHeads: heads, numKvHeads: heads, headDim: hidden / heads,
    maxPositionEmbeddings: r.int('n_positions', d.maxPos), normEps: r.num('layer_norm_epsilon', d.eps),
    ropeTheta: 0, ropeScaling: null, tieWordEmbeddings: r.bool('tie_word_embeddings', d.tie),
    qkvBias: true, oBias: true, mlpBias: true, hiddenAct: act, torchDtype: c.torchDtype,
    bosTokenId: r.tokenId('bos_token_id', d.bos), eosTokenId: r.tokenIds('eos_token_id', d.eos), padTokenId: r.tokenId('pad_token_id', null),
  };
}

function gpt2Layout(s: ModelSpec): Layout {
  const modules: ModuleInfo[] = [];
  const h = s.hiddenSize;
  modules.push(mod('transformer.wte', 'embedding', s.vocabSize, h, false, null));
  modules.push(mod('transformer.wpe', 'embedding', s.maxPositionEmbeddings, h, false, null));
  for (let i = 0; i < s.numLayers; i++) {
    const p = `transformer.h.${i}`;
    modules.push(
      mod(`${p}.ln_1`, 'layernorm', h, h, true, i),
      mod(`${p}.attn.c_attn`, 'conv1d', h, 3 * h, true, i),
      mod(`${p}.attn.c_proj`, 'conv1d', h, h, true, i),
      mod(`${p}.ln_2`, 'layernorm', h, h, true, i),
      mod(`${p}.mlp.c_fc`, 'conv1d', h, s.intermediateSize, true, i),
      mod(`${p}.mlp.c_proj`, 'conv1d', s.intermediateSize, h, true, i),
    );
  }
  modules.push(mod('transformer.ln_f', 'layernorm', h, h, true, null));
  modules.push(mod('lm_head', 'linear', h, s.vocabSize, false, null, true));
  return { modules, parameters: parametersOf(modules, s) };
}

const GPT2_LAYER: Record<string, string> = {
  ln_1: 'attn_norm', 'attn.c_attn': 'attn_qkv', 'attn.c_proj': 'attn_output', ln_2: 'ffn_norm', 'mlp.c_fc': 'ffn_up', 'mlp.c_proj': 'ffn_down',
};

function gpt2GgufTensor(hfName: string): GgufTensorTarget | null | undefined {
  const none = { kind: 'none' } as const;
  const n = hfName.replace(/^transformer\./, '');
  if (/^h\.\d+\.attn\.(bias|masked_bias)$/.test(n)) return null;
  const fixed: Record<string, string> = { 'wte.weight': 'token_embd.weight', 'wpe.weight': 'position_embd.weight', 'ln_f.weight': 'output_norm.weight', 'ln_f.bias': 'output_norm.bias', 'lm_head.weight': 'output.weight' };
  if (fixed[n] !== undefined) return { name: fixed[n], transform: none };
  const m = /^h\.(\d+)\.(.+)\.(weight|bias)$/.exec(n);
  const g = m !== null ? GPT2_LAYER[m[2]!] : undefined;
  if (m === null || g === undefined) return undefined;
  const conv = m[3] === 'weight' && m[2]!.includes('.');
  return { name: `blk.${m[1]}.${g}.${m[3]}`, transform: conv ? { kind: 'transpose' } : none };
}

export const gpt2Arch: ArchDescriptor = {
  family: 'gpt2',
  displayName: 'GPT-2',
  modelTypes: {
    gpt2: {
      architectures: ['GPT2LMHeadModel'],
      defaults: { vocab: 50257, hidden: 768, intermediate: null, layers: 12, heads: 12, kvHeads: null, maxPos: 1024, eps: 1e-5, bos: 50256, eos: 50256, tie: true, act: 'gelu_new' },
    },
  },
  parseConfig: parseGpt2Config,
  basePrefix: 'transformer.',
  layersPrefix: 'transformer.h',
  layout: gpt2Layout,
  hidden: (spec, vb, inputs, lora) => gpt2Hidden(spec, vb, inputs, lora),
  learnedPositions: true,
  paddingIdx: () => null, // GPT2Model: nn.Embedding(vocab_size, embed_dim), no padding_idx
  cacheKvHeads: (s) => s.numHeads,
  normEpsKey: 'layer_norm_epsilon',
  inspectExtra: () => '',
  containerClasses: { transformer: 'GPT2Model', h: 'ModuleList', attn: 'GPT2Attention', mlp: 'GPT2MLP', act: 'NewGELUActivation', '#': 'GPT2Block' },
  modulesAfter(n) {
    if (n === 'transformer.wpe') return ['transformer.drop'];
    if (n.endsWith('.attn.c_proj')) return [n.replace(/c_proj$/, 'attn_dropout'), n.replace(/c_proj$/, 'resid_dropout')];
    if (n.endsWith('.mlp.c_proj')) return [n.replace(/c_proj$/, 'act'), n.replace(/c_proj$/, 'dropout')];
    return [];
  },
  mlpLabel: 'gelu_new',
  gguf: {
    archOf: { gpt2: 'gpt2' },
    metadata: (spec, arch) => [...baseGgufMetadata(spec, arch), { key: `${arch}.attention.layer_norm_epsilon`, type: 'f32', value: spec.normEps }],
    tensorFor: gpt2GgufTensor,
  },
};
