// onnxruntime's com.microsoft.MatMulNBits (a matmul against 4-bit blocks, src/core/quant/blockQuant.ts layout) and the
// same blocks dequantized to fp32 with standard ops, which the backward pass multiplies by (dX = dY·W).
import { type Value, int } from './ir';
import { add, cast, mul, sub } from './ops';
import { concat, reshape, slice, unsqueeze } from './opsShape';

export const MS_DOMAIN = 'com.microsoft';

export interface NBitsAttrs {
  /** In features (A's last dim). */
  K: number;
  /** Out features. */
  N: number;
  bits: number;
  blockSize: number;
}

/**
 * Y = A · dequant(B)ᵀ: A [..., K], B uint8 [N, ceil(K/bs), bs/2], scales [N · ceil(K/bs)] of A's dtype; no zero_points
 * (zero point 2^(bits−1) = 8). accuracy_level 0: fp32 compute on the CPU (MLAS dequantizes blocks, fp32 GEMM).
 */
export function matMulNBits(a: Value, b: Value, scales: Value, at: NBitsAttrs, name?: string): Value {
  return a.graph.op('MatMulNBits', [a, b, scales], {
    K: int(at.K), N: int(at.N), bits: int(at.bits), block_size: int(at.blockSize), accuracy_level: int(0),
  }, { domain: MS_DOMAIN, ...(name !== undefined ? { name } : {}) });
}

/**
 * Small integer/float constants that onnxruntime cannot fold at session creation: derived from the (symbolic) row
 * count of `anchor`. Folding (q − 8)·s of constant blocks would store every weight again in fp32 — exactly the copy
 * a 4-bit base exists to avoid — so the dequantization must depend on a value known only at run time. They are made
 * per use from that use's own anchor (the backward's dY): anchored on one shared value, every layer's dequantization
 * became ready at once and ORT ran them all early, holding all the fp32 weights together (measured: +0.36 GiB on a
 * 90M-parameter base).
 */
interface RunTimeConstants { mask: Value; four: Value; one: Value }

function runTimeConstants(anchor: Value): RunTimeConstants {
  const g = anchor.graph;
  const rows = g.op('Shape', [anchor], { start: int(0), end: int(1) }, { name: g.freshName('nbits.rows') });
  const zero = mul(rows, 0); // int64 [1]; 0 at run time, unknown to the constant folder
  return {
    mask: cast(add(zero, 15), 'uint8'),
    four: cast(add(zero, 4), 'uint8'),
    one: cast(add(zero, 1), 'float32'),
  };
}

/**
 * dequant(B) [N, K] = (q − 8)·s, built per use from the packed blocks (nothing is kept between uses). `anchor`: any
 * value with a run-time row count (the backward's dY), see runTimeConstants. The result has `dtype` (scales' dtype).
 */
export function dequantizeNBits(b: Value, scales: Value, at: NBitsAttrs, anchor: Value): Value {
  const g = b.graph;
  const { mask, four, one } = runTimeConstants(anchor);
  const kb = Math.ceil(at.K / at.blockSize);
  const blob = at.blockSize / 2;
  return g.scope(`${b.name}.dequant`, () => {
    const lo = g.op('BitwiseAnd', [b, mask]);
    const hi = g.op('BitShift', [b, four], { direction: { kind: 'string', value: 'RIGHT' } });
    const pairs = concat([unsqueeze(lo, [3]), unsqueeze(hi, [3])], 3); // [N, kb, blob, 2]: low nibble first
    const q = cast(reshape(pairs, [at.N * kb, 2 * blob]), scales.dtype);
    const s = reshape(mul(scales, cast(one, scales.dtype)), [at.N * kb, 1]);
    const w = reshape(mul(sub(q, 8), s), [at.N, kb * at.blockSize]);
    return kb * at.blockSize === at.K ? w : slice(w, [0], [at.K], [1]);
  });
}
