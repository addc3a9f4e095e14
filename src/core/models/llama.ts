// The Llama-family forward pass (Llama, Mistral, Qwen2, Qwen3's q/k norms) as transformers' modeling_llama.py computes it, on 2-D
// [B*T, features] views: RMSNorm, rotate_half RoPE (default/linear/llama3), GQA, SwiGLU MLP, tied or separate head.
import * as G from '../graph';
import type { Value } from '../graph';
import type { ModelSpec } from '../hf/types';
import { applyRope, attention, rotaryTables, splitHeads } from './attention';
import { type ActivationDtype, type ComputeDtype, type FinalHidden, type ModelInputs, type VarBuilder, layerBias, linear, rmsNorm, silu } from './common';
import { type LoraHook, embeddingLookup } from './lora';

/** Final hidden states [B*T, hidden] and the head weight of LlamaForCausalLM / MistralForCausalLM / Qwen2ForCausalLM. */
export function llamaHidden(spec: ModelSpec, vb: VarBuilder, inputs: ModelInputs, lora: LoraHook, dtype: ComputeDtype, act: ActivationDtype = dtype): FinalHidden {
  const g = inputs.inputIds.graph;
  const H = spec.hiddenSize;
  const D = spec.headDim;
  const embed = vb.get('model.embed_tokens.weight', [spec.vocabSize, H]);
  let h = G.reshape(embeddingLookup(lora, 'model.embed_tokens', embed, inputs.inputIds), ['B*T', H]);
  const { cos, sin } = rotaryTables(spec, inputs.positionIds, dtype, act);
  for (let i = 0; i < spec.numLayers; i++) {
    const lb = vb.pp(`model.layers.${i}`);
    h = g.scope(lb.prefix, () => {
      const x = rmsNorm(h, lb.get('input_layernorm.weight', [H]), spec.normEps);
      const at = lb.pp('self_attn');
      const q = linear(at.pp('q_proj'), x, H, spec.numHeads * D, spec.qkvBias, lora);
      const k = linear(at.pp('k_proj'), x, H, spec.numKvHeads * D, spec.qkvBias, lora);
      const v = linear(at.pp('v_proj'), x, H, spec.numKvHeads * D, spec.qkvBias, lora);
      // Qwen3: RMSNorm over each head's features (q_norm / k_norm) before RoPE.
      const qkNorm = (x: Value, name: string): Value => (spec.qkNorm === true ? rmsNorm(x, at.get(`${name}.weight`, [D]), spec.normEps) : x);
      const qh = applyRope(qkNorm(splitHeads(q, spec.numHeads, D), 'q_norm'), cos, sin, D);
      const kh = applyRope(qkNorm(splitHeads(k, spec.numKvHeads, D), 'k_norm'), cos, sin, D);
      const vh = splitHeads(v, spec.numKvHeads, D);
      const kv = inputs.kvCache?.(i, kh, vh) ?? { k: kh, v: vh };
      const o = attention(qh, kv.k, kv.v, layerBias(inputs, spec, i), spec.numHeads, spec.numKvHeads, D);
      const h1 = G.add(h, linear(at.pp('o_proj'), o, spec.numHeads * D, H, spec.oBias, lora));
      const x2 = rmsNorm(h1, lb.get('post_attention_layernorm.weight', [H]), spec.normEps);
      const mlp = lb.pp('mlp');
      const I = spec.intermediateSize;
      const gate = linear(mlp.pp('gate_proj'), x2, H, I, spec.mlpBias, lora);
      const up = linear(mlp.pp('up_proj'), x2, H, I, spec.mlpBias, lora);
      return G.add(h1, linear(mlp.pp('down_proj'), G.mul(silu(gate), up), I, H, spec.mlpBias, lora));
    });
  }
  const hn = rmsNorm(h, vb.get('model.norm.weight', [H]), spec.normEps);
  const head = !spec.tieWordEmbeddings && vb.has('lm_head.weight') ? vb.get('lm_head.weight', [spec.vocabSize, H]) : embed;
  return { hidden: hn, head };
}
