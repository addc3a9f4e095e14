// llama.cpp's view of Gemma 2 / Gemma 3 text (convert_hf_to_gguf.py Gemma2Model / Gemma3Model): RMSNorm weights
// stored as 1 + w, the untied-head copy dropped, soft-caps and the sliding-window period as keys, q scaling folded.
import type { GgufKv } from '../export/gguf/writer';
import { InputError } from '../errors';
import type { ModelSpec } from '../hf/types';
import { ropeGgufMetadata } from './ggufCommon';
import type { GgufTensorTarget } from './types';

const GEMMA_LAYER: Readonly<Record<string, string>> = {
  'self_attn.q_proj': 'attn_q', 'self_attn.k_proj': 'attn_k', 'self_attn.v_proj': 'attn_v', 'self_attn.o_proj': 'attn_output',
  'self_attn.q_norm': 'attn_q_norm', 'self_attn.k_norm': 'attn_k_norm',
  'mlp.gate_proj': 'ffn_gate', 'mlp.up_proj': 'ffn_up', 'mlp.down_proj': 'ffn_down',
  input_layernorm: 'attn_norm', post_attention_layernorm: 'post_attention_norm',
  pre_feedforward_layernorm: 'ffn_norm', post_feedforward_layernorm: 'post_ffw_norm',
};

/** Layer count llama.cpp reads as the 27B model, which scales q by (hidden / heads)^-0.5 instead of head_dim^-0.5. */
const LLAMA_CPP_27B_LAYERS: Readonly<Record<string, number>> = { gemma2: 46, gemma3: 62 };

/**
 * llama.cpp does not read query_pre_attn_scalar: it scales q by head_dim^-0.5 (or (hidden/heads)^-0.5 at the 27B
 * layer count). The factor that turns its scale into transformers' query_pre_attn_scalar^-0.5, folded into q
 * (q_proj, or Gemma 3's q_norm, which comes after q_proj); 1 for the released checkpoints.
 */
export function gemmaQueryFold(spec: ModelSpec, arch: string): number {
  const llamaCppScalar = spec.numLayers === LLAMA_CPP_27B_LAYERS[arch] ? Math.floor(spec.hiddenSize / spec.numHeads) : spec.headDim;
  const q = spec.queryPreAttnScalar ?? spec.headDim;
  return q === llamaCppScalar ? 1 : Math.sqrt(llamaCppScalar / q);
}

export function gemmaGgufTensor(hfName: string, spec: ModelSpec, arch: string): GgufTensorTarget | null | undefined {
  if (/rotary_emb(_local)?\.inv_freq$/.test(hfName)) return null;
  // Gemma2Model.modify_tensors: lm_head is not used by llama.cpp (the head is the embedding).
  if (hfName === 'lm_head.weight') return null;
  if (hfName === 'model.embed_tokens.weight') return { name: 'token_embd.weight', transform: { kind: 'none' } };
  if (hfName === 'model.norm.weight') return { name: 'output_norm.weight', transform: { kind: 'affine', add: 1, mul: 1 } };
  const m = /^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(hfName);
  const g = m !== null ? GEMMA_LAYER[m[2]!] : undefined;
  if (m === null || g === undefined) return undefined;
  const name = `blk.${m[1]}.${g}.${m[3]}`;
  const fold = gemmaQueryFold(spec, arch);
  const qTarget = spec.qkNorm === true ? 'attn_q_norm' : 'attn_q';
  const mul = g === qTarget && fold !== 1 ? fold : 1;
  // Gemma's RMSNorm multiplies by (1 + w); llama.cpp's by w, so the converter stores w + 1.
  const add = g.endsWith('norm') && m[3] === 'weight' ? 1 : 0;
  return { name, transform: add === 0 && mul === 1 ? { kind: 'none' } : { kind: 'affine', add, mul } };
}

/** The period p of llama.cpp's set_swa_pattern (layer i slides when i % p < p - 1) that gives the spec's layers. */
function slidingPeriod(spec: ModelSpec, preferred: number): number {
  const layers = spec.slidingLayers ?? Array.from({ length: spec.numLayers }, (_, i) => (i + 1) % preferred !== 0);
  const fits = (p: number): boolean => layers.every((s, i) => s === (i % p < p - 1));
  const candidates = [preferred, ...Array.from({ length: spec.numLayers + 1 }, (_, i) => i + 1)];
  const p = candidates.find(fits);
  if (p === undefined) {
    throw new InputError('gguf-config', 'llama.cpp describes sliding layers by one period (layer i slides when i % p < p - 1); this layer_types list has none', {
      hint: 'Export models whose sliding and global layers alternate with a fixed period, as the released Gemma models do',
    });
  }
  return p;
}

export function gemmaGgufMetadata(spec: ModelSpec, arch: string): GgufKv[] {
  const k = (s: string): string => `${arch}.${s}`;
  const kv = ropeGgufMetadata(spec, arch);
  const gemma3 = arch === 'gemma3';
  if (gemma3 && (spec.attnLogitSoftcap != null || spec.finalLogitSoftcap != null)) {
    throw new InputError('gguf-config', "llama.cpp's gemma3 graph has no soft-capping; this config sets attn_logit_softcapping or final_logit_softcapping", { hint: 'Set both to null (as Gemma 3 does) or export without GGUF' });
  }
  if (!gemma3) {
    if (spec.attnLogitSoftcap == null || spec.finalLogitSoftcap == null) {
      throw new InputError('gguf-config', "llama.cpp's gemma2 graph always soft-caps; this config sets a soft-cap to null", { hint: 'Gemma 2 checkpoints use attn_logit_softcapping 50 and final_logit_softcapping 30' });
    }
    kv.push({ key: k('attn_logit_softcapping'), type: 'f32', value: spec.attnLogitSoftcap }, { key: k('final_logit_softcapping'), type: 'f32', value: spec.finalLogitSoftcap });
  }
  // No sliding window: a window as long as the context slides nothing.
  kv.push({ key: k('attention.sliding_window'), type: 'u32', value: spec.slidingWindow ?? spec.maxPositionEmbeddings });
  kv.push({ key: k('attention.sliding_window_pattern'), type: 'u32', value: spec.slidingWindow === null ? 2 : slidingPeriod(spec, gemma3 ? 6 : 2) });
  if (spec.ropeLocalTheta !== undefined) kv.push({ key: k('rope.freq_base_swa'), type: 'f32', value: spec.ropeLocalTheta });
  return kv;
}
