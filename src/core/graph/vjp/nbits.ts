// VJP rule of com.microsoft.MatMulNBits: only A gets a gradient (B, the 4-bit blocks, is frozen and integer).
// dA = dY·dequant(B), the blocks dequantized per use (docs/QUANTIZATION.md: measured against a second packed layout of Wᵀ).
import { attrInt } from '../ir';
import { dequantizeNBits } from '../nbits';
import { gemm, matMul } from '../ops';
import { type VjpRule, dyOf, inp, when } from './types';

export const nbitsRules: Record<string, VjpRule> = {
  // Y = A·Wᵀ with W = (q − 8)·s [N, K]: dA = dY·W (2-D: one Gemm; batched: MatMul broadcasting W).
  MatMulNBits: (a) => {
    const attrs = a.node.attrs;
    const at = { K: attrInt(attrs, 'K', 0), N: attrInt(attrs, 'N', 0), bits: attrInt(attrs, 'bits', 4), blockSize: attrInt(attrs, 'block_size', 32) };
    if (a.needs[2] === true || a.needs[3] === true) throw new Error('MatMulNBits: scales and zero points are frozen (no gradient)');
    return [
      when(a, 0, () => {
        const dY = dyOf(a);
        const w = dequantizeNBits(inp(a, 1), inp(a, 2), at, dY);
        return dY.rank === 2 ? gemm(dY, w) : matMul(dY, w);
      }),
    ];
  },
};
