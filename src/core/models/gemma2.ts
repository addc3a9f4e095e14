// The Gemma 2 forward pass as transformers' modeling_gemma2.py computes it: embeddings × √hidden (in the model dtype),
// RMSNorm with (1 + w), pre/post attention and feed-forward norms, GeGLU (tanh GELU), attention scaled by
// query_pre_attn_scalar^-0.5 with score soft-capping, sliding window on alternate layers, final-logit soft-capping;
// Gemma 3 text adds (1 + w) q/k norms and a local RoPE base on its sliding layers.
import * as G from '../graph';
import type { Value } from '../graph';
import type { ModelSpec } from '../hf/types';
import { applyRope, attention, rotaryTables, splitHeads } from './attention';
import { type ActivationDtype, type ComputeDtype, type FinalHidden, type ModelInputs, type VarBuilder, geluNew, layerBias, linear, rmsNorm } from './common';
import { type LoraHook, embeddingLookup } from './lora';

/** Gemma2RMSNorm: x · rsqrt(mean(x²) + eps) · (1 + w), in fp32 then cast back. */
function gemmaNorm(x: Value, weight: Value, eps: number): Value {
  return rmsNorm(x, G.add(weight, 1), eps);
}

/** Final hidden states [B*T, hidden], the tied head and the final-logit soft-cap of Gemma2ForCausalLM. */
export function gemma2Hidden(spec: ModelSpec, vb: VarBuilder, inputs: ModelInputs, lora: LoraHook, dtype: ComputeDtype, act: ActivationDtype = dtype): FinalHidden {
  const g = inputs.inputIds.graph;
  const H = spec.hiddenSize;
  const D = spec.headDim;
  const I = spec.intermediateSize;
  const embed = vb.get('model.embed_tokens.weight', [spec.vocabSize, H]);
  // normalizer = torch.tensor(hidden_size ** 0.5, dtype=hidden_states.dtype): √H rounded to the activations' dtype.
  const normalizer = act === 'float64' ? Math.sqrt(H) : Math.fround(Math.sqrt(H));
  let h = G.mul(G.reshape(embeddingLookup(lora, 'model.embed_tokens', embed, inputs.inputIds), ['B*T', H]), normalizer);
  const global = rotaryTables(spec, inputs.positionIds, dtype, act);
  // Gemma 3: sliding layers rotate with rope_local_base_freq and no scaling.
  const local = spec.ropeLocalTheta === undefined ? global : g.scope('local', () => rotaryTables({ ...spec, ropeTheta: spec.ropeLocalTheta!, ropeScaling: null }, inputs.positionIds, dtype, act));
  const scale = (spec.queryPreAttnScalar ?? D) ** -0.5;
  const norm = (b: VarBuilder, name: string, x: Value): Value => gemmaNorm(x, b.get(`${name}.weight`, [H]), spec.normEps);
  for (let i = 0; i < spec.numLayers; i++) {
    const lb = vb.pp(`model.layers.${i}`);
    h = g.scope(lb.prefix, () => {
      const x = norm(lb, 'input_layernorm', h);
      const at = lb.pp('self_attn');
      const q = linear(at.pp('q_proj'), x, H, spec.numHeads * D, spec.qkvBias, lora);
      const k = linear(at.pp('k_proj'), x, H, spec.numKvHeads * D, spec.qkvBias, lora);
      const v = linear(at.pp('v_proj'), x, H, spec.numKvHeads * D, spec.qkvBias, lora);
      const { cos, sin } = spec.slidingLayers?.[i] === true ? local : global;
      // Gemma 3: q_norm / k_norm ((1 + w) RMSNorm over head_dim) before RoPE.
      const qkNorm = (x: Value, name: string): Value => (spec.qkNorm === true ? gemmaNorm(x, at.get(`${name}.weight`, [D]), spec.normEps) : x);
      const qh = applyRope(qkNorm(splitHeads(q, spec.numHeads, D), 'q_norm'), cos, sin, D);
      const kh = applyRope(qkNorm(splitHeads(k, spec.numKvHeads, D), 'k_norm'), cos, sin, D);
      const vh = splitHeads(v, spec.numKvHeads, D);
      const kv = inputs.kvCache?.(i, kh, vh) ?? { k: kh, v: vh };
      const o = attention(qh, kv.k, kv.v, layerBias(inputs, spec, i), spec.numHeads, spec.numKvHeads, D, false, { scale, softcap: spec.attnLogitSoftcap ?? null });
      const h1 = G.add(h, norm(lb, 'post_attention_layernorm', linear(at.pp('o_proj'), o, spec.numHeads * D, H, spec.oBias, lora)));
      const x2 = norm(lb, 'pre_feedforward_layernorm', h1);
      const mlp = lb.pp('mlp');
      const gate = linear(mlp.pp('gate_proj'), x2, H, I, false, lora);
      const up = linear(mlp.pp('up_proj'), x2, H, I, false, lora);
      const m = linear(mlp.pp('down_proj'), G.mul(geluNew(gate), up), I, H, false, lora);
      return G.add(h1, norm(lb, 'post_feedforward_layernorm', m));
    });
  }
  const hn = norm(vb, 'model.norm', h);
  const head = !spec.tieWordEmbeddings && vb.has('lm_head.weight') ? vb.get('lm_head.weight', [spec.vocabSize, H]) : embed;
  return { hidden: hn, head, logitSoftcap: spec.finalLogitSoftcap ?? null };
}
