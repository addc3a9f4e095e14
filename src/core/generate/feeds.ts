// Host-side feeds of the inference graph (graph.ts): the growing KV cache with its per-row key mask, positions and
// the additive attention mask of each step, and an adapter as a set of LoRA feeds (single or stacked mode).
import { archOf } from '../arch/registry';
import * as ort from 'onnxruntime-node';
import type { ModelInventory, ModuleInfo } from '../hf/types';
import { MASK_MIN } from '../models/feeds';
import { targetKeys } from '../models/lora';
import type { LoadedAdapter } from './adapter';
import { GEN, biasDeltaName, cacheShape, doraScaleName, pastName, presentName, stackName } from './graph';

export type Feeds = Record<string, ort.Tensor>;

const f32 = (data: Float32Array, dims: number[]): ort.Tensor => new ort.Tensor('float32', data, dims);

/**
 * The KV cache of a batch of rows between steps: `past` tensors [B, kvHeads, P, D] per layer (the last step's
 * `present` outputs, left on the GPU when the session keeps them there) and which of the P key positions are real
 * tokens in each row (left padding is not).
 */
export class KvCache {
  private past: Feeds;
  /** keyValid[r][j]: 1 when key j of row r is a real token. */
  private readonly keyValid: number[][];
  length = 0;

  constructor(private readonly inv: ModelInventory, public rows: number) {
    const { layers, kvHeads, headDim } = cacheShape(inv);
    this.past = {};
    for (let i = 0; i < layers; i++) {
      for (const w of ['key', 'value'] as const) this.past[pastName(i, w)] = f32(new Float32Array(0), [rows, kvHeads, 0, headDim]);
    }
    this.keyValid = Array.from({ length: rows }, () => []);
  }

  /**
   * Feeds for the next step: `ids[r]` the new tokens of row r (all rows the same length T), `valid[r][t]` 0 for
   * left padding. Positions count the real tokens before each one (transformers: cumsum(attention_mask) − 1).
   */
  stepFeeds(ids: number[][], valid?: number[][]): Feeds {
    const B = this.rows;
    const T = ids[0]!.length;
    const P = this.length;
    const S = P + T;
    const gpt2 = archOf(this.inv.spec).learnedPositions;
    const idData = new BigInt64Array(B * T);
    const pos = gpt2 ? new BigInt64Array(B * T) : new Float32Array(B * T);
    const bias = new Float32Array(B * T * S).fill(MASK_MIN);
    for (let r = 0; r < B; r++) {
      const kv = this.keyValid[r]!;
      let count = kv.reduce((a, b) => a + b, 0);
      for (let t = 0; t < T; t++) {
        const ok = valid?.[r]?.[t] ?? 1;
        kv.push(ok);
        idData[r * T + t] = BigInt(ids[r]![t]!);
        const p = Math.max(count + ok - 1, 0);
        if (gpt2) (pos as BigInt64Array)[r * T + t] = BigInt(ok === 1 ? p : 1);
        else (pos as Float32Array)[r * T + t] = ok === 1 ? p : 1; // transformers fills padding positions with 1
        count += ok;
        const row = (r * T + t) * S;
        for (let j = 0; j <= P + t; j++) if (kv[j] === 1) bias[row + j] = 0;
      }
    }
    return {
      ...this.past,
      [GEN.inputIds]: new ort.Tensor('int64', idData, [B, T]),
      [GEN.positionIds]: gpt2 ? new ort.Tensor('int64', pos as BigInt64Array, [B, T]) : f32(pos as Float32Array, [B, T]),
      [GEN.attentionBias]: f32(bias, [B, 1, T, S]),
    };
  }

  /** Takes the step's `present` outputs as the next step's past; GPU buffers of the replaced past are released. */
  update(out: ort.InferenceSession.OnnxValueMapType): void {
    const { layers } = cacheShape(this.inv);
    const next: Feeds = {};
    for (let i = 0; i < layers; i++) {
      for (const w of ['key', 'value'] as const) next[pastName(i, w)] = out[presentName(i, w)]!;
    }
    this.release();
    this.past = next;
    this.length = Number(this.past[pastName(0, 'key')]!.dims[2]);
  }

  /** Appends the rows of another cache (its own prefill); the shorter one's keys are left-padded with masked zeros. */
  merge(other: KvCache): void {
    const P = Math.max(this.length, other.length);
    const { kvHeads: H, headDim: D } = cacheShape(this.inv);
    const rows = this.rows + other.rows;
    for (const name of Object.keys(this.past)) {
      const next = new Float32Array(rows * H * P * D);
      const copy = (c: KvCache, offset: number): void => {
        const t = c.past[name]!;
        if (t.location !== 'cpu') throw new Error('continuous batching needs the KV cache on the CPU');
        const src = t.data as Float32Array;
        const n = c.length * D;
        for (let r = 0; r < c.rows; r++) {
          for (let h = 0; h < H; h++) next.set(src.subarray((r * H + h) * n, (r * H + h + 1) * n), (((offset + r) * H + h) * P + P - c.length) * D);
        }
      };
      copy(this, 0);
      copy(other, this.rows);
      this.past[name] = f32(next, [rows, H, P, D]);
    }
    const padded = (c: KvCache): number[][] => c.keyValid.map((v) => [...new Array<number>(P - c.length).fill(0), ...v]);
    this.keyValid.splice(0, this.keyValid.length, ...padded(this), ...padded(other));
    this.rows = rows;
    this.length = P;
  }

  /** Keeps only the given rows (in that order), then drops key positions that no remaining row attends to. */
  keepRows(rows: readonly number[]): void {
    const valid = rows.map((r) => this.keyValid[r]!);
    const cols = [...Array(this.length).keys()].filter((j) => valid.some((v) => v[j] === 1));
    const P = this.length;
    this.rebuild((old, H, _P, D) => {
      const next = new Float32Array(rows.length * H * cols.length * D);
      rows.forEach((r, i) => {
        for (let h = 0; h < H; h++) {
          cols.forEach((j, k) => {
            const from = ((r * H + h) * P + j) * D;
            next.set(old.subarray(from, from + D), ((i * H + h) * cols.length + k) * D);
          });
        }
      });
      return next;
    }, rows.length, cols.length);
    this.keyValid.splice(0, this.keyValid.length, ...valid.map((v) => cols.map((j) => v[j]!)));
  }

  private rebuild(fn: (old: Float32Array, H: number, P: number, D: number) => Float32Array, rows: number, length: number): void {
    const { kvHeads, headDim } = cacheShape(this.inv);
    for (const [name, t] of Object.entries(this.past)) {
      if (t.location !== 'cpu') throw new Error('continuous batching needs the KV cache on the CPU');
      this.past[name] = f32(fn(t.data as Float32Array, kvHeads, this.length, headDim), [rows, kvHeads, length, headDim]);
    }
    this.rows = rows;
    this.length = length;
  }

  /** Releases GPU buffers the cache holds (CPU tensors are left to the garbage collector). */
  release(): void {
    for (const t of Object.values(this.past)) if (t.location !== 'cpu') t.dispose();
  }

  /** Names of the graph outputs the cache needs from each step. */
  static outputs(inv: ModelInventory): string[] {
    const { layers } = cacheShape(inv);
    return Array.from({ length: layers }, (_, i) => [presentName(i, 'key'), presentName(i, 'value')]).flat();
  }
}

/** Single mode: A [r, in] and B·scaling [out, r] (the adapter's arrays, no copy) per module of the graph; rank-1 zeros where the adapter has none. */
export function adapterFeeds(modules: readonly ModuleInfo[], adapter: LoadedAdapter | null, dora: ReadonlySet<string> = new Set(), biased: ReadonlySet<string> = new Set()): Feeds {
  const out: Feeds = {};
  for (const m of modules) {
    const e = adapter?.modules.get(m.name);
    // DoRA scale m / ||W + s·B·A||; 1 leaves the base output and the plain LoRA term unchanged.
    if (dora.has(m.name)) out[doraScaleName(m.name)] = f32(e?.doraScale ?? new Float32Array(m.outFeatures).fill(1), [m.outFeatures]);
    if (biased.has(m.name)) out[biasDeltaName(m.name)] = f32(e?.biasDelta ?? new Float32Array(m.outFeatures), [m.outFeatures]);
    const [aKey, bKey] = targetKeys({ module: m });
    if (e === undefined) {
      out[aKey] = f32(new Float32Array(m.inFeatures), [1, m.inFeatures]);
      out[bKey] = f32(new Float32Array(m.outFeatures), [m.outFeatures, 1]);
      continue;
    }
    out[aKey] = f32(e.a, [e.r, m.inFeatures]);
    out[bKey] = f32(e.b, [m.outFeatures, e.r]);
  }
  return out;
}

/**
 * Stacked mode: slot s holds adapters[s] (null = the base model: zeros). Per module A as [N, in, r] and B·scaling
 * as [N, r, out] (transposed for MatMul), ranks zero-padded to the largest (the padding contributes exactly 0).
 */
export function stackedFeeds(
  modules: readonly ModuleInfo[], adapters: readonly (LoadedAdapter | null)[], dora: ReadonlySet<string> = new Set(), biased: ReadonlySet<string> = new Set(),
): Feeds {
  const out: Feeds = {};
  const N = adapters.length;
  for (const m of modules) {
    if (dora.has(m.name)) {
      const S = new Float32Array(N * m.outFeatures).fill(1);
      adapters.forEach((ad, s) => {
        const sc = ad?.modules.get(m.name)?.doraScale;
        if (sc !== undefined) S.set(sc, s * m.outFeatures);
      });
      out[stackName(m.name, 'dora_scale')] = f32(S, [N, m.outFeatures]);
    }
    if (biased.has(m.name)) {
      const D = new Float32Array(N * m.outFeatures);
      adapters.forEach((ad, s) => {
        const d = ad?.modules.get(m.name)?.biasDelta;
        if (d !== undefined) D.set(d, s * m.outFeatures);
      });
      out[stackName(m.name, 'bias_delta')] = f32(D, [N, m.outFeatures]);
    }
    const r = Math.max(1, ...adapters.map((a) => a?.modules.get(m.name)?.r ?? 1));
    const inF = m.inFeatures;
    const outF = m.outFeatures;
    const A = new Float32Array(N * inF * r);
    const B = new Float32Array(N * r * outF);
    adapters.forEach((ad, s) => {
      const e = ad?.modules.get(m.name);
      if (e === undefined) return;
      for (let k = 0; k < e.r; k++) {
        for (let i = 0; i < inF; i++) A[s * inF * r + i * r + k] = e.a[k * inF + i]!;
        for (let o = 0; o < outF; o++) B[s * r * outF + k * outF + o] = e.b[o * e.r + k]!;
      }
    });
    out[stackName(m.name, 'A')] = f32(A, [N, inF, r]);
    out[stackName(m.name, 'B')] = f32(B, [N, r, outF]);
  }
  return out;
}
