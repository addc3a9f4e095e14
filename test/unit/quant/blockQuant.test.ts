// 4-bit blocks: the quantize → dequantize error bound, MatMulNBits against an fp32 matmul of the dequantized weight,
// and the backward's per-use dequantization (standard ops) against the host's.
import { strict as assert } from 'node:assert';
import * as G from '../../../src/core/graph';
import { dequantizeBlocks, quantizeBlocks } from '../../../src/core/quant/blockQuant';
import { Rng } from '../../../src/core/util/random';

function randn(n: number, seed: number, scale = 1): Float32Array {
  const rng = new Rng(seed);
  const v = new Float32Array(n);
  rng.fillUniform(v, -scale, scale);
  return v;
}

/** x [m, k] · wᵀ, w [n, k], in float64. */
function matmulT(x: Float32Array, w: Float32Array, m: number, k: number, n: number): Float64Array {
  const y = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let t = 0; t < k; t++) s += x[i * k + t]! * w[j * k + t]!;
    y[i * n + j] = s;
  }
  return y;
}

describe('4-bit block quantization', () => {
  for (const bs of [16, 32, 64, 128]) {
    it(`round trip stays within half a step of each block (block ${bs}, K not a multiple of it)`, () => {
      const n = 7;
      const k = 3 * bs + 10;
      const w = randn(n * k, bs);
      w[5] = 0; // an exact zero stays zero
      const q = quantizeBlocks(w, n, k, bs);
      assert.equal(q.packed.length, n * 4 * (bs / 2));
      const back = dequantizeBlocks(q);
      let worst = 0;
      for (let r = 0; r < n; r++) {
        for (let i = 0; i < k; i++) {
          const s = q.scales[r * q.kBlocks + Math.floor(i / bs)]!;
          const err = Math.abs(back[r * k + i]! - w[r * k + i]!);
          assert.ok(err <= s / 2 + 1e-7, `error ${err} > s/2 = ${s / 2}`);
          worst = Math.max(worst, err / s);
        }
      }
      assert.equal(back[5], 0);
      assert.ok(worst > 0.3, `worst ${worst}`); // the bound is tight, not vacuous
      // The block's largest magnitude is exact (it maps to ±7 steps).
      const row0 = Array.from(w.subarray(0, bs));
      const iMax = row0.reduce((bi, x, i) => (Math.abs(x) > Math.abs(row0[bi]!) ? i : bi), 0);
      assert.ok(Math.abs(back[iMax]! - w[iMax]!) < 1e-6);
    });
  }

  it('an all-zero block has scale 0 and dequantizes to zeros', () => {
    const q = quantizeBlocks(new Float32Array(64), 2, 32, 32);
    assert.deepEqual(Array.from(q.scales), [0, 0]);
    assert.deepEqual(Array.from(dequantizeBlocks(q)), new Array(64).fill(0));
  });

  it('MatMulNBits equals an fp32 matmul with the dequantized weight, and the per-use dequantization equals the host\'s', async () => {
    const m = 5; const k = 80; const n = 24; const bs = 32; // K = 2.5 blocks: padded tail
    const w = randn(n * k, 1, 0.5);
    const x = randn(m * k, 2);
    const q = quantizeBlocks(w, n, k, bs);
    const g = new G.Graph('nbits');
    const a = g.input('x', 'float32', ['M', k]);
    const b = g.initializer('B', 'uint8', [n, q.kBlocks, bs / 2], q.packed);
    const s = g.initializer('scales', 'float32', [n * q.kBlocks], q.scales);
    const at = { K: k, N: n, bits: 4, blockSize: bs };
    g.output(G.matMulNBits(a, b, s, at), 'y');
    g.output(G.dequantizeNBits(b, s, at, a), 'w');
    const out = await G.runGraph(g, { x: { data: x, dims: [m, k] } });
    const wq = dequantizeBlocks(q);
    assert.deepEqual(out['w']!.dims, [n, k]);
    assert.deepEqual(Array.from(out['w']!.data as Float32Array), Array.from(wq));
    const ref = matmulT(x, wq, m, k, n);
    const y = out['y']!.data as Float32Array;
    for (let i = 0; i < ref.length; i++) assert.ok(Math.abs(y[i]! - ref[i]!) <= 1e-4 * (1 + Math.abs(ref[i]!)), `y[${i}] ${y[i]} vs ${ref[i]}`);
    // and the quantized product is not the fp32 one (the test would notice a kernel that ignored the blocks)
    const exact = matmulT(x, w, m, k, n);
    assert.ok(Math.max(...Array.from(exact, (e, i) => Math.abs(e - y[i]!))) > 1e-3);
  });

  it('the VJP of MatMulNBits: d(Σ r·y)/dx = r·W with W the dequantized blocks (batched 3-D input too)', async () => {
    const k = 48; const n = 20; const bs = 16;
    const w = randn(n * k, 3, 0.5);
    const q = quantizeBlocks(w, n, k, bs);
    const wq = dequantizeBlocks(q);
    for (const shape of [[6, k], [2, 3, k]] as const) {
      const m = shape.length === 2 ? shape[0] : shape[0] * shape[1];
      const g = new G.Graph('nbits-vjp');
      const x = g.input('x', 'float32', [...shape]);
      const r = g.input('r', 'float32', [...shape.slice(0, -1), n]);
      const b = g.initializer('B', 'uint8', [n, q.kBlocks, bs / 2], q.packed);
      const s = g.initializer('scales', 'float32', [n * q.kBlocks], q.scales);
      const y = G.matMulNBits(x, b, s, { K: k, N: n, bits: 4, blockSize: bs });
      const loss = G.reduceSum(G.mul(y, r), undefined, false);
      g.output(G.gradients(g, loss, [x]).get(x)!, 'dx');
      const rv = randn(m * n, 4);
      const out = await G.runGraph(g, { x: { data: randn(m * k, 5), dims: [...shape] }, r: { data: rv, dims: [...shape.slice(0, -1), n] } });
      const dx = out['dx']!.data as Float32Array;
      for (let i = 0; i < m; i++) for (let j = 0; j < k; j++) {
        let e = 0;
        for (let t = 0; t < n; t++) e += rv[i * n + t]! * wq[t * k + j]!;
        assert.ok(Math.abs(dx[i * k + j]! - e) <= 1e-4 * (1 + Math.abs(e)), `dx[${i},${j}] ${dx[i * k + j]} vs ${e}`);
      }
    }
  });
});
