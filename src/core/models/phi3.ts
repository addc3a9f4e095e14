// The Phi-3 forward pass (Phi-3, Phi-3.5, Phi-4-mini) as transformers' modeling_phi3.py computes it: fused qkv_proj
// split into q, k, v; partial rotary (only int(head_dim·partial_rotary_factor) features rotate); fused gate_up_proj
// with gate, up = chunk(2) and up · silu(gate); RMSNorm; GQA; tied or separate head.
import * as G from '../graph';
import type { Value } from '../graph';
import type { ModelSpec } from '../hf/types';
import { applyRope, attention, rotaryDim, rotaryTables, splitHeads } from './attention';
import { type ActivationDtype, type ComputeDtype, type FinalHidden, type ModelInputs, type VarBuilder, layerBias, linear, rmsNorm, silu } from './common';
import { type LoraHook, embeddingLookup } from './lora';

/** Final hidden states [B*T, hidden] and the head weight of Phi3ForCausalLM. */
export function phi3Hidden(spec: ModelSpec, vb: VarBuilder, inputs: ModelInputs, lora: LoraHook, dtype: ComputeDtype, act: ActivationDtype = dtype): FinalHidden {
  const g = inputs.inputIds.graph;
  const H = spec.hiddenSize;
  const D = spec.headDim;
  const I = spec.intermediateSize;
  const R = rotaryDim(spec);
  const qOut = spec.numHeads * D;
  const kvOut = spec.numKvHeads * D;
  const embed = vb.get('model.embed_tokens.weight', [spec.vocabSize, H]);
  let h = G.reshape(embeddingLookup(lora, 'model.embed_tokens', embed, inputs.inputIds), ['B*T', H]);
  const { cos, sin } = rotaryTables(spec, inputs.positionIds, dtype, act);
  for (let i = 0; i < spec.numLayers; i++) {
    const lb = vb.pp(`model.layers.${i}`);
    h = g.scope(lb.prefix, () => {
      const x = rmsNorm(h, lb.get('input_layernorm.weight', [H]), spec.normEps);
      const at = lb.pp('self_attn');
      const qkv = linear(at.pp('qkv_proj'), x, H, qOut + 2 * kvOut, false, lora);
      const [q, k, v] = G.split(qkv, [qOut, kvOut, kvOut], 1) as [Value, Value, Value];
      const qh = applyRope(splitHeads(q, spec.numHeads, D), cos, sin, D, R);
      const kh = applyRope(splitHeads(k, spec.numKvHeads, D), cos, sin, D, R);
      const vh = splitHeads(v, spec.numKvHeads, D);
      const kv = inputs.kvCache?.(i, kh, vh) ?? { k: kh, v: vh };
      const o = attention(qh, kv.k, kv.v, layerBias(inputs, spec, i), spec.numHeads, spec.numKvHeads, D);
      const h1 = G.add(h, linear(at.pp('o_proj'), o, qOut, H, false, lora));
      const x2 = rmsNorm(h1, lb.get('post_attention_layernorm.weight', [H]), spec.normEps);
      const mlp = lb.pp('mlp');
      const gateUp = linear(mlp.pp('gate_up_proj'), x2, H, 2 * I, false, lora);
      const [gate, up] = G.split(gateUp, [I, I], 1) as [Value, Value];
      return G.add(h1, linear(mlp.pp('down_proj'), G.mul(up, silu(gate)), I, H, false, lora));
    });
  }
  const hn = rmsNorm(h, vb.get('model.norm.weight', [H]), spec.normEps);
  const head = !spec.tieWordEmbeddings && vb.has('lm_head.weight') ? vb.get('lm_head.weight', [spec.vocabSize, H]) : embed;
  return { hidden: hn, head };
}
