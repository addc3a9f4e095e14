// VJP rules of MatMul (batched, numpy broadcasting) and Gemm (transA/transB/alpha/beta/C).
// Gemm's backward stays on 2-D operands with trans flags, so a frozen [out, in] weight is never transposed in memory.
import { attrFloat, attrInt, type Value } from '../ir';
import { gemm, matMul, mul } from '../ops';
import { transpose } from '../opsShape';
import { type VjpRule, dyOf, inp, when } from './types';

/** Swaps the last two axes. */
function mT(x: Value): Value {
  const perm = x.shape.map((_, i) => i);
  perm[x.rank - 1] = x.rank - 2;
  perm[x.rank - 2] = x.rank - 1;
  return transpose(x, perm);
}

const scaled = (x: Value, s: number): Value => (s === 1 ? x : mul(x, s));

export const matmulRules: Record<string, VjpRule> = {
  // Y = A·B: dA = dY·Bᵀ, dB = Aᵀ·dY (batch dims broadcast; the engine sums them back).
  MatMul: (a) => {
    const A = inp(a, 0);
    const B = inp(a, 1);
    if (A.rank < 2 || B.rank < 2) throw new Error('MatMul autodiff needs operands of rank >= 2');
    return [when(a, 0, () => matMul(dyOf(a), mT(B))), when(a, 1, () => matMul(mT(A), dyOf(a)))];
  },
  // Y = α·op(A)·op(B) + β·C: dop(A) = α·dY·op(B)ᵀ, dop(B) = α·op(A)ᵀ·dY, dC = β·dY; each written as one Gemm.
  Gemm: (a) => {
    const A = inp(a, 0);
    const B = inp(a, 1);
    const dY = dyOf(a);
    const tA = attrInt(a.node.attrs, 'transA', 0) === 1;
    const tB = attrInt(a.node.attrs, 'transB', 0) === 1;
    const alpha = attrFloat(a.node.attrs, 'alpha', 1);
    const beta = attrFloat(a.node.attrs, 'beta', 1);
    const dA = (): Value =>
      tA ? gemm(B, dY, { transA: tB, transB: true, alpha }) // dA = α·op(B)·dYᵀ
        : gemm(dY, B, { transB: !tB, alpha }); // dA = α·dY·op(B)ᵀ
    const dB = (): Value =>
      tB ? gemm(dY, A, { transA: true, transB: tA, alpha }) // dB = α·dYᵀ·op(A)
        : gemm(A, dY, { transA: !tA, alpha }); // dB = α·op(A)ᵀ·dY
    return [when(a, 0, dA), when(a, 1, dB), a.node.inputs[2] !== undefined ? when(a, 2, () => scaled(dY, beta)) : undefined];
  },
};
