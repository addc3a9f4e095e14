// Composite ops (nn.ts) against values computed here in JS, and their gradients by finite differences in float64.
// Covers stable softmax with large logits, log-softmax, cross-entropy with ignored labels, RMSNorm, LayerNorm, gelu_new, SiLU.
import { strict as assert } from 'node:assert';
import * as G from '../../../src/core/graph';
import { type GradCase, gradCheck, rng } from './gradcheck';

const r = rng(7);
const rand = (n: number, scale = 1): number[] => Array.from({ length: n }, () => scale * (2 * r() - 1));
const rows = (xs: number[], w: number): number[][] => Array.from({ length: xs.length / w }, (_, i) => xs.slice(i * w, i * w + w));
const close = (a: ArrayLike<number>, b: number[], tol: number, what: string): void => {
  assert.equal(a.length, b.length, what);
  for (let i = 0; i < b.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= tol * (1 + Math.abs(b[i]!)), `${what}[${i}]: ${a[i]} vs ${b[i]}`);
};

describe('nn composites: values', () => {
  const X = rand(12, 3);
  X[0] = 1000; // a large logit: the stable softmax must not overflow
  const W = rand(4);
  const B = rand(4);
  const targets = [2, -100, 0, 3];
  const expected = {
    softmax: rows(X, 4).flatMap((row) => { const m = Math.max(...row); const e = row.map((v) => Math.exp(v - m)); const s = e.reduce((p, q) => p + q); return e.map((v) => v / s); }),
    logSoftmax: rows(X, 4).flatMap((row) => { const m = Math.max(...row); const l = m + Math.log(row.reduce((p, v) => p + Math.exp(v - m), 0)); return row.map((v) => v - l); }),
    rms: rows(X, 4).flatMap((row) => { const ms = row.reduce((p, v) => p + v * v, 0) / 4; return row.map((v, i) => W[i]! * v / Math.sqrt(ms + 1e-6)); }),
    ln: rows(X, 4).flatMap((row) => { const mu = row.reduce((p, v) => p + v) / 4; const va = row.reduce((p, v) => p + (v - mu) ** 2, 0) / 4; return row.map((v, i) => ((v - mu) / Math.sqrt(va + 1e-5)) * W[i]! + B[i]!); }),
    gelu: X.map((v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)))),
    silu: X.map((v) => v / (1 + Math.exp(-v))),
  };
  it('match the JS reference in float64 and float32', async () => {
    for (const dtype of ['float64', 'float32'] as const) {
      const g = new G.Graph();
      const x = g.input('x', dtype, [3, 4]);
      const w = g.input('w', dtype, [4]);
      const b = g.input('b', dtype, [4]);
      const t = g.input('t', 'int64', [3]);
      g.output(G.nn.softmax(x), 'softmax');
      g.output(G.logSoftmax(x), 'logSoftmax');
      g.output(G.rmsNorm(x, w, 1e-6), 'rms');
      g.output(G.layerNorm(x, w, b, 1e-5), 'ln');
      g.output(G.geluNew(x), 'gelu');
      g.output(G.silu(x), 'silu');
      const ce = G.crossEntropy(x, t);
      g.output(ce.sum, 'ce_sum');
      g.output(ce.count, 'ce_count');
      g.output(ce.mean, 'ce_mean');
      const A = dtype === 'float64' ? Float64Array : Float32Array;
      const out = await G.runGraph(g, { x: A.from(X), w: A.from(W), b: A.from(B), t: BigInt64Array.from(targets.slice(0, 3), BigInt) });
      const tol = dtype === 'float64' ? 1e-12 : 2e-5;
      for (const k of ['softmax', 'logSoftmax', 'rms', 'ln', 'gelu', 'silu'] as const) close(out[k]!.data as Float64Array, expected[k], tol, `${dtype} ${k}`);
      const lsm = rows(expected.logSoftmax, 4);
      const nll = [-lsm[0]![2]!, -lsm[2]![0]!];
      close(out['ce_sum']!.data as Float64Array, [nll[0]! + nll[1]!], tol, 'ce_sum');
      close(out['ce_count']!.data as Float64Array, [2], 0, 'ce_count');
      close(out['ce_mean']!.data as Float64Array, [(nll[0]! + nll[1]!) / 2], tol, 'ce_mean');
    }
  });
  it('cross-entropy of an all-ignored batch is 0, not NaN', async () => {
    const g = new G.Graph();
    const ce = G.crossEntropy(g.input('x', 'float32', [2, 3]), g.input('t', 'int64', [2]));
    g.output(ce.mean, 'mean');
    const out = await G.runGraph(g, { x: new Float32Array(6), t: BigInt64Array.of(-100n, -100n) });
    assert.equal(out['mean']!.data[0], 0);
  });
  it('cross-entropy with a non-negative ignore_index ignores exactly that label', async () => {
    const g = new G.Graph();
    const ce = G.crossEntropy(g.input('x', 'float64', [3, 4]), g.input('t', 'int64', [3]), 2);
    g.output(ce.perRow, 'rows');
    const x = [0, 1, 2, 3, 3, 2, 1, 0, 1, 1, 1, 1];
    const out = await G.runGraph(g, { x: Float64Array.from(x), t: BigInt64Array.of(3n, 2n, 0n) });
    const lse = (r: number[]): number => Math.log(r.reduce((p, v) => p + Math.exp(v), 0));
    close(out['rows']!.data as Float64Array, [lse(x.slice(0, 4)) - 3, 0, lse(x.slice(8)) - 1], 1e-12, 'rows');
  });
  it('linear is one Gemm with transB=1 for [out,in] weights and transB=0 for Conv1D [in,out]', async () => {
    const g = new G.Graph();
    const x = g.input('x', 'float64', [2, 3]);
    const y1 = G.linear(x, g.input('W', 'float64', [4, 3]), g.input('b', 'float64', [4]));
    const y2 = G.linear(x, g.input('C', 'float64', [3, 4]), undefined, { transB: false });
    g.output(y1, 'y1');
    g.output(y2, 'y2');
    assert.deepEqual(g.nodes.map((n) => n.op), ['Gemm', 'Gemm', 'Identity', 'Identity']);
    const xs = [1, 2, 3, -1, 0, 2];
    const Wt = [1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1]; // rows = output features
    const C = [1, 0, 0, 1, 0, 1, 0, 1, 0, 0, 1, 1]; // [in, out]
    const out = await G.runGraph(g, { x: Float64Array.from(xs), W: Float64Array.from(Wt), b: Float64Array.of(10, 20, 30, 40), C: Float64Array.from(C) });
    close(out['y1']!.data as Float64Array, [11, 22, 33, 46, 9, 20, 32, 41], 0, 'y1');
    close(out['y2']!.data as Float64Array, [1, 2, 3, 6, -1, 0, 2, 1], 0, 'y2');
  });
});

describe('nn composites: gradients by finite differences (float64)', function () {
  this.timeout(60000);
  const cases: GradCase[] = [
    { name: 'stable softmax', inputs: { x: { shape: [2, 5] } }, f: ({ x }) => G.nn.softmax(x!) },
    { name: 'logSoftmax', inputs: { x: { shape: [2, 5] } }, f: ({ x }) => G.logSoftmax(x!) },
    {
      name: 'crossEntropy mean with ignored labels', inputs: { x: { shape: [4, 5] } },
      f: ({ x }, g) => G.crossEntropy(x!, g.constant('int64', [4], BigInt64Array.of(3n, -100n, 0n, 4n))).mean,
    },
    { name: 'rmsNorm', inputs: { x: { shape: [3, 4] }, w: { shape: [4] } }, f: ({ x, w }) => G.rmsNorm(x!, w!, 1e-6) },
    { name: 'layerNorm', inputs: { x: { shape: [3, 4] }, w: { shape: [4] }, b: { shape: [4] } }, f: ({ x, w, b }) => G.layerNorm(x!, w!, b!, 1e-5) },
    { name: 'silu', inputs: { x: { shape: [2, 3] } }, f: ({ x }) => G.silu(x!) },
    { name: 'geluNew', inputs: { x: { shape: [2, 3] } }, f: ({ x }) => G.geluNew(x!) },
    { name: 'linear + bias', inputs: { x: { shape: [3, 4] }, W: { shape: [2, 4] }, b: { shape: [2] } }, f: ({ x, W, b }) => G.linear(x!, W!, b!) },
    {
      name: 'LoRA linear: W x + s·B(A x)', inputs: { x: { shape: [3, 4] }, A: { shape: [2, 4] }, B: { shape: [5, 2] } },
      f: ({ x, A, B }, g) => G.add(G.linear(x!, g.constant('float64', [5, 4], Float64Array.from(rand(20)))), G.mul(G.linear(G.linear(x!, A!), B!), 0.5)),
    },
  ];
  let results: Awaited<ReturnType<typeof gradCheck>>;
  before(async () => {
    results = await gradCheck(cases, 'float64', 1e-6);
  });
  for (const c of cases) {
    it(c.name, () => {
      const res = results.get(c.name)!;
      assert.ok(res.maxRel < 1e-6, `relative error ${res.maxRel.toExponential(2)}`);
    });
  }
});
