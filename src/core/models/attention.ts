// Attention pieces shared by the model builders: RoPE inverse frequencies and cos/sin tables (transformers'
// modeling_rope_utils), rotate_half application, grouped-query scaled dot-product attention and head splitting.
import * as G from '../graph';
import type { Value } from '../graph';
import { InputError } from '../errors';
import type { ModelSpec } from '../hf/types';
import { type ActivationDtype, type ComputeDtype, toFloat32 } from './common';

/**
 * inv_freq of the rotary embedding (modeling_rope_utils.py): base^(-2i/d), with linear scaling (÷ factor) or
 * llama3 scaling (_compute_llama3_parameters: low frequencies ÷ factor, high kept, a smooth blend between).
 * Computed in float64 here and rounded to the compute dtype (transformers computes in fp32; differences ~1 ulp).
 */
/** Features per head that RoPE rotates: int(head_dim · partial_rotary_factor) (all of them by default). */
export function rotaryDim(spec: ModelSpec): number {
  return Math.floor(spec.headDim * (spec.partialRotaryFactor ?? 1));
}

export function ropeInvFreq(spec: ModelSpec, which: 'short' | 'long' = 'short'): number[] {
  const d = rotaryDim(spec);
  const inv: number[] = [];
  for (let i = 0; i < d; i += 2) inv.push(1 / spec.ropeTheta ** (i / d));
  const s = spec.ropeScaling;
  if (s === null || s.ropeType === 'default' || s.ropeType === 'dynamic') return inv;
  if (s.ropeType === 'longrope') {
    const ext = longRopeFactors(spec, which);
    return inv.map((f, i) => f / ext[i]!);
  }
  if (s.ropeType === 'linear') return inv.map((f) => f / s.factor);
  const low = s.lowFreqFactor ?? 1;
  const high = s.highFreqFactor ?? 4;
  const old = s.originalMaxPositionEmbeddings ?? 8192;
  const lowWavelen = old / low;
  const highWavelen = old / high;
  return inv.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < highWavelen) return f;
    if (wavelen > lowWavelen) return f / s.factor;
    const smooth = (old / wavelen - low) / (high - low);
    return ((1 - smooth) * f) / s.factor + smooth * f;
  });
}

/** longrope's short or long per-frequency divisors, checked against the rotary dimension (one per frequency). */
export function longRopeFactors(spec: ModelSpec, which: 'short' | 'long'): number[] {
  const s = spec.ropeScaling;
  const ext = which === 'long' ? s?.longFactor : s?.shortFactor;
  const n = rotaryDim(spec) / 2;
  if (ext === undefined || ext.length !== n) {
    throw new InputError('model-config-rope', `rope_scaling.${which}_factor has ${ext?.length ?? 0} entries; longrope needs one per rotary frequency (${n})`, { hint: 'The lists have rotary_dim / 2 = int(head_dim × partial_rotary_factor) / 2 entries' });
  }
  return ext;
}

/**
 * LongRoPE's table choice (longrope_frequency_update): long factors when max(position_ids) + 1 exceeds
 * original_max_position_embeddings, else short ones; both tables are constants and Where picks one per run.
 */
function longRopeInvFreq(spec: ModelSpec, positions: Value, dtype: ComputeDtype): Value {
  const g = positions.graph;
  const table = (which: 'short' | 'long'): Value => {
    const data = ropeInvFreq(spec, which);
    return g.constant(dtype, [data.length], dtype === 'float64' ? Float64Array.from(data) : Float32Array.from(data));
  };
  const original = spec.ropeScaling?.originalMaxPositionEmbeddings ?? spec.maxPositionEmbeddings;
  const longer = G.greater(G.reduceMax(positions, undefined, false), original - 1);
  return G.where(longer, table('long'), table('short'));
}

/**
 * cos and sin tables [B, 1, T, head_dim] from the position ids (LlamaRotaryEmbedding.forward), in fp32 (or float64)
 * and then cast to the activations' dtype, as transformers (`cos.to(x.dtype)`). The positions come from the host as
 * floats (exact below 2^24): an int64→float Cast would run on the CPU under the WebGPU EP.
 */
export function rotaryTables(spec: ModelSpec, positions: Value, dtype: ComputeDtype, act: ActivationDtype): { cos: Value; sin: Value } {
  const g = positions.graph;
  return g.scope('model.rotary_emb', () => {
    const pos = positions.dtype === dtype ? positions : G.cast(positions, dtype);
    let inv: Value;
    if (spec.ropeScaling?.ropeType === 'longrope') inv = longRopeInvFreq(spec, pos, dtype);
    else {
      const invData = ropeInvFreq(spec);
      inv = g.constant(dtype, [invData.length], dtype === 'float64' ? Float64Array.from(invData) : Float32Array.from(invData));
    }
    const freqs = G.mul(G.unsqueeze(pos, [2]), inv);
    const emb = G.concat([freqs, freqs], -1);
    // cos/sin × attention_scaling (longrope's attention factor; 1 for the other types) before the dtype cast.
    const scale = spec.ropeScaling?.attentionFactor ?? 1;
    const scaled = (v: Value): Value => (scale === 1 ? v : G.mul(v, scale));
    const out = (v: Value): Value => G.unsqueeze(act === dtype ? v : G.cast(v, act), [1]);
    return { cos: out(scaled(g.op('Cos', [emb]))), sin: out(scaled(g.op('Sin', [emb]))) };
  });
}

/**
 * q·cos + rotate_half(q)·sin on [B, H, T, D] (rotate_half: halves, not interleaved). With `rotDim` < D only the
 * first rotDim features rotate and the rest pass through (Phi-3's partial rotary: cat([rot, pass], -1)).
 */
export function applyRope(x: Value, cos: Value, sin: Value, headDim: number, rotDim = headDim): Value {
  const rotate = (r: Value): Value => {
    const [x1, x2] = G.split(r, [rotDim / 2, rotDim / 2], -1) as [Value, Value];
    return G.add(G.mul(r, cos), G.mul(G.concat([G.neg(x2), x1], -1), sin));
  };
  if (rotDim === headDim) return rotate(x);
  const [rot, pass] = G.split(x, [rotDim, headDim - rotDim], -1) as [Value, Value];
  return G.concat([rotate(rot), pass], -1);
}

/**
 * Scaled dot-product attention with an additive mask, softmax over keys, grouped-query heads by broadcasting
 * (q viewed as [B, kvHeads, groups, T, D] against k, v [B, kvHeads, 1, T, D]: the same as repeat_kv without a copy).
 * Returns [B*T, heads*D]. `divide`: GPT-2 divides by sqrt(D); Llama multiplies by D^-0.5. `opts.scale` replaces
 * D^-0.5 (Gemma 2: query_pre_attn_scalar^-0.5); `opts.softcap` caps the scores before the mask: tanh(s / c) · c.
 */
export function attention(q: Value, k: Value, v: Value, bias: Value, heads: number, kvHeads: number, headDim: number, divide = false, opts: { scale?: number; softcap?: number | null } = {}): Value {
  const groups = heads / kvHeads;
  const cap = opts.softcap ?? null;
  const softcap = (s: Value): Value => (cap === null ? s : G.mul(G.tanh(G.div(s, cap)), cap));
  const scale = (s: Value): Value => softcap(divide ? G.div(s, Math.sqrt(headDim)) : G.mul(s, opts.scale ?? headDim ** -0.5));
  // fp16 activations: scores in fp16, then mask + softmax in fp32 and the probabilities back to fp16
  // (eager attention: softmax(attn_weights, dtype=torch.float32).to(query.dtype)); the mask is fp32 (finfo.min).
  const probs = (scores: Value, b: Value): Value => {
    const p = G.softmax(G.add(toFloat32(scores), b), -1);
    return p.dtype === q.dtype ? p : G.cast(p, q.dtype);
  };
  let out: Value;
  if (groups === 1) {
    const scores = scale(G.matMul(q, G.transpose(k, [0, 1, 3, 2])));
    out = G.matMul(probs(scores, bias), v);
  } else {
    const q5 = G.reshape(q, ['B', kvHeads, groups, 'T', headDim]);
    const k5 = G.unsqueeze(k, [2]);
    const v5 = G.unsqueeze(v, [2]);
    const scores = scale(G.matMul(q5, G.transpose(k5, [0, 1, 2, 4, 3])));
    out = G.reshape(G.matMul(probs(scores, G.unsqueeze(bias, [1])), v5), ['B', heads, 'T', headDim]);
  }
  return G.reshape(G.transpose(out, [0, 2, 1, 3]), ['B*T', heads * headDim]);
}

/** [B*T, heads*D] → [B, heads, T, D]. */
export function splitHeads(x2d: Value, heads: number, headDim: number): Value {
  return G.transpose(G.reshape(x2d, ['B', 'T', heads, headDim]), [0, 2, 1, 3]);
}

