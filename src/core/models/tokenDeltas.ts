// trainable_token_indices in the model graphs (peft/tuners/trainable_tokens/layer.py): W' = W.index_copy(0, idx, delta)
// read by the embedding lookup (and by a tied head's Gemm), built so that the gradient reaches only the [n, dim] delta.
import { InputError } from '../errors';
import * as G from '../graph';
import type { Graph, Value } from '../graph';
import type { ModelInventory } from '../hf/types';
import type { LoraHook } from './lora';

export interface TokenParam {
  key: string;
  shape: (number | string)[];
  tokens?: { module: string; rows: number[]; tiedHead: boolean } | undefined;
}

interface Delta {
  value: Value;
  rows: number[];
  /** Rows of the wrapped weight (vocabulary size). */
  size: number;
  tiedHead: boolean;
}

/** The token deltas of one graph: an embedding hook (composed with LoRA's) and the head's logits hook. */
export class TokenDeltas {
  private readonly byModule = new Map<string, Delta>();
  private readonly used = new Set<string>();
  private headDelta: Delta | undefined;

  constructor(private readonly g: Graph, inv: ModelInventory, params: readonly TokenParam[], dtype: 'float32' | 'float64', private readonly paddingIdx: number | null) {
    for (const p of params) {
      const t = p.tokens;
      if (t === undefined) continue;
      const m = inv.modules.find((x) => x.name === t.module);
      if (m === undefined) throw new InputError('trainer-unsupported', 'trainable_token_indices names a module the model does not have', { tensor: t.module });
      const d: Delta = { value: g.input(p.key, dtype, p.shape), rows: t.rows, size: m.kind === 'embedding' ? m.inFeatures : m.outFeatures, tiedHead: t.tiedHead };
      if (m.isOutputHead) this.headDelta = d;
      else this.byModule.set(m.name, d);
      if (t.tiedHead) this.headDelta = d;
    }
  }

  get empty(): boolean {
    return this.byModule.size === 0 && this.headDelta === undefined;
  }

  /** The trainable inputs, in the given order of params. */
  values(): Value[] {
    return [...new Set([...this.byModule.values(), ...(this.headDelta !== undefined ? [this.headDelta] : [])].map((d) => d.value))];
  }

  private delta(d: Delta, dtype: Value['dtype'], padding: number | null): Value {
    let v = d.value;
    const j = padding === null ? -1 : d.rows.indexOf(padding);
    if (j >= 0) {
      // F.embedding(padding_idx): that row gets no gradient.
      const keep = new Float32Array(d.rows.length).fill(1);
      keep[j] = 0;
      const m = this.g.constant(v.dtype, [d.rows.length, 1], v.dtype === 'float64' ? Float64Array.from(keep) : keep);
      v = G.add(G.mul(v, m), G.mul(this.g.stopGradient(v), G.sub(this.g.scalar(1, v.dtype), m)));
    }
    return v.dtype === dtype ? v : G.cast(v, dtype);
  }

  /** base = W[ids] [B, T, dim] → W'[ids]: the selected tokens read their delta row. */
  embed(module: string, ids: Value, base: Value): Value {
    const d = this.byModule.get(module);
    if (d === undefined) return base;
    this.used.add(module);
    const n = d.rows.length;
    const slot = new BigInt64Array(d.size).fill(BigInt(n));
    const sel = new Float32Array(d.size);
    d.rows.forEach((r, j) => {
      slot[r] = BigInt(j);
      sel[r] = 1;
    });
    const dim = base.shape[base.shape.length - 1] as number;
    const g = this.g;
    // Constants in fp32/fp64, cast for fp16 activations.
    const c = (shape: number[], a: Float32Array): Value => {
      const v = base.dtype === 'float64' ? g.constant('float64', shape, Float64Array.from(a)) : g.constant('float32', shape, a);
      return v.dtype === base.dtype ? v : G.cast(v, base.dtype);
    };
    const selOf = G.unsqueeze(G.gather(c([d.size], sel), ids), [-1]);
    const zeros = c([1, dim], new Float32Array(dim));
    const ext = G.concat([this.delta(d, base.dtype, this.paddingIdx), zeros], 0, { name: `${module}.token_adapter.delta_ext` });
    const picked = G.gather(ext, G.gather(g.constant('int64', [d.size], slot), ids), 0, { name: `${module}.token_adapter` });
    return G.add(G.mul(base, G.sub(g.scalar(1, base.dtype), selOf)), picked, { name: `${module}.token_adapter.index_copy` });
  }

  /** logits = x·Wᵀ [N, vocab] → x·W'ᵀ: the selected columns come from x·deltaᵀ (a tied head, or the head's own delta). */
  head(x: Value, logits: Value): Value {
    const d = this.headDelta;
    if (d === undefined) return logits;
    this.used.add('lm_head');
    const n = d.rows.length;
    const V = d.size;
    const keep = new Float32Array(V).fill(1);
    const pt = new Float32Array(n * V);
    d.rows.forEach((r, j) => {
      keep[r] = 0;
      pt[j * V + r] = 1;
    });
    const dt = logits.dtype;
    // Constants in fp32/fp64, cast for fp16 logits.
    const c = (shape: number[], a: Float32Array): Value => {
      const v = dt === 'float64' ? this.g.constant('float64', shape, Float64Array.from(a)) : this.g.constant('float32', shape, a);
      return v.dtype === dt ? v : G.cast(v, dt);
    };
    const sel = G.gemm(x, this.delta(d, dt, null), { transB: true, name: 'lm_head.token_adapter' });
    const cols = G.matMul(sel, c([n, V], pt), { name: 'lm_head.token_adapter.columns' });
    return G.add(G.mul(logits, c([V], keep)), cols, { name: 'lm_head.token_adapter.index_copy' });
  }

  /** A LoraHook whose embedding lookups go through LoRA, then these deltas. */
  wrap(lora: LoraHook & { apply(module: string, x2d: Value, base: Value, rows?: Value): Value }): LoraHook {
    return {
      apply: (m, x, base) => lora.apply(m, x, base),
      embed: (m, ids, base) => this.embed(m, ids, lora.embed !== undefined ? lora.embed(m, ids, base) : base),
    };
  }
}
