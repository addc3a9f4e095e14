// The GPT-2 forward pass as transformers' modeling_gpt2.py computes it, on 2-D [B*T, features] views: learned
// positions, LayerNorm, Conv1D (x @ W [in, out] + b) as Gemm, gelu_new MLP, head tied to wte.
import * as G from '../graph';
import type { Value } from '../graph';
import type { ModelSpec } from '../hf/types';
import { type FinalHidden, type ModelInputs, type VarBuilder, conv1d, geluNew, layerNorm } from './common';
import { attention, splitHeads } from './attention';
import { type LoraHook, embeddingLookup } from './lora';

/** Final hidden states [B*T, hidden] and the (tied) head weight of GPT2LMHeadModel (model-internal dropouts off). */
export function gpt2Hidden(spec: ModelSpec, vb: VarBuilder, inputs: ModelInputs, lora: LoraHook): FinalHidden {
  const g = inputs.inputIds.graph;
  const H = spec.hiddenSize;
  const D = spec.headDim;
  const I = spec.intermediateSize;
  const tr = vb.pp('transformer');
  const wte = tr.get('wte.weight', [spec.vocabSize, H]);
  const wpe = tr.get('wpe.weight', [spec.maxPositionEmbeddings, H]);
  const emb = G.add(embeddingLookup(lora, 'transformer.wte', wte, inputs.inputIds), embeddingLookup(lora, 'transformer.wpe', wpe, inputs.positionIds));
  let h = G.reshape(emb, ['B*T', H]);
  const ln = (b: VarBuilder, x: Value): Value => layerNorm(x, b.get('weight', [H]), b.get('bias', [H]), spec.normEps);
  for (let i = 0; i < spec.numLayers; i++) {
    const lb = tr.pp(`h.${i}`);
    h = g.scope(lb.prefix, () => {
      const x = ln(lb.pp('ln_1'), h);
      const qkv = conv1d(lb.pp('attn.c_attn'), x, H, 3 * H, lora);
      const [q, k, v] = G.split(qkv, [H, H, H], 1) as [Value, Value, Value];
      const kh = splitHeads(k, spec.numHeads, D);
      const vh = splitHeads(v, spec.numHeads, D);
      const kv = inputs.kvCache?.(i, kh, vh) ?? { k: kh, v: vh };
      const o = attention(splitHeads(q, spec.numHeads, D), kv.k, kv.v, inputs.attentionBias, spec.numHeads, spec.numHeads, D, true);
      const h1 = G.add(h, conv1d(lb.pp('attn.c_proj'), o, H, H, lora));
      const x2 = ln(lb.pp('ln_2'), h1);
      const m = geluNew(conv1d(lb.pp('mlp.c_fc'), x2, H, I, lora));
      return G.add(h1, conv1d(lb.pp('mlp.c_proj'), m, I, H, lora));
    });
  }
  // tie_word_embeddings false (not GPT2Config's default): GPT2LMHeadModel keeps its own lm_head.weight.
  const head = !spec.tieWordEmbeddings && vb.has('lm_head.weight') ? vb.get('lm_head.weight', [spec.vocabSize, H]) : wte;
  return { hidden: ln(tr.pp('ln_f'), h), head };
}
