// Symmetric 4-bit block quantization of a Linear weight W [N, K] in the layout of onnxruntime's com.microsoft.MatMulNBits:
// blocks of `blockSize` values along K, one fp32 scale per block, zero point 8 implied (no zero_points input).
/*
 * The rule (docs/QUANTIZATION.md): for row n and block b of W, s = max|w| / 7 over the block's values and
 * q = round(w / s) + 8 ∈ [1, 15], so w ≈ (q − 8)·s with |w − (q − 8)·s| ≤ s/2 (an all-zero block has s = 0, q = 8).
 * Packing: B[n, b, j] = q[2j] | q[2j + 1] << 4 (low nibble first), B of shape [N, ceil(K / blockSize), blockSize / 2];
 * scales of shape [N · ceil(K / blockSize)], row-major (n, b). A K that is not a multiple of the block is padded with
 * zeros, as MatMulNBits expects. Dequantization is what MatMulNBits computes with no zero_points: (q − 8)·s.
 */

export const QUANT_BITS = 4;
/** Block sizes MatMulNBits accepts (a power of two ≥ 16); 32 is the common choice (GGUF Q4_0, ORT's quantizer default). */
export const QUANT_BLOCK_SIZES = [16, 32, 64, 128] as const;
export type QuantBlockSize = (typeof QUANT_BLOCK_SIZES)[number];

/** The recipe's `quantization:` setting (null = full-precision base). */
export interface QuantizationConfig {
  bits: 4;
  block_size: QuantBlockSize;
}

export interface BlockQuantized {
  /** Packed 4-bit codes [N, kBlocks, blockSize / 2]. */
  packed: Uint8Array;
  /** One scale per (row, block): [N · kBlocks]. */
  scales: Float32Array;
  n: number;
  k: number;
  blockSize: number;
  kBlocks: number;
}

export const kBlocksOf = (k: number, blockSize: number): number => Math.ceil(k / blockSize);

/** Bytes the quantized form of an [n, k] weight takes (codes + fp32 scales). */
export function quantizedBytes(n: number, k: number, blockSize: number): number {
  const kb = kBlocksOf(k, blockSize);
  return n * kb * (blockSize / 2 + 4);
}

/**
 * Quantizes W [n, k] (row-major fp32; `w` may be longer, only its first n·k values are read) by the rule above.
 * `out`: buffers to fill instead of new ones (at least n·kBlocks·blockSize/2 bytes and n·kBlocks scales; the results
 * are views of their starts), so that quantizing a whole model allocates nothing per weight.
 */
export function quantizeBlocks(w: Float32Array, n: number, k: number, blockSize: number, out?: { packed: Uint8Array; scales: Float32Array }): BlockQuantized {
  if (w.length < n * k || (out === undefined && w.length !== n * k)) throw new Error(`quantizeBlocks: ${w.length} values for [${n}, ${k}]`);
  const kb = kBlocksOf(k, blockSize);
  const blob = blockSize / 2;
  const packed = out !== undefined ? out.packed.subarray(0, n * kb * blob) : new Uint8Array(n * kb * blob);
  const scales = out !== undefined ? out.scales.subarray(0, n * kb) : new Float32Array(n * kb);
  for (let r = 0; r < n; r++) {
    const row = r * k;
    for (let b = 0; b < kb; b++) {
      const start = b * blockSize;
      const end = Math.min(start + blockSize, k);
      let amax = 0;
      for (let i = row + start; i < row + end; i++) {
        const a = Math.abs(w[i]!);
        if (a > amax) amax = a;
      }
      const s = Math.fround(amax / 7);
      scales[r * kb + b] = s;
      const inv = s > 0 ? 1 / s : 0;
      const out = (r * kb + b) * blob;
      for (let j = 0; j < blockSize; j += 2) {
        const i0 = start + j;
        const q0 = i0 < end ? code(w[row + i0]!, inv) : 8;
        const q1 = i0 + 1 < end ? code(w[row + i0 + 1]!, inv) : 8;
        packed[out + j / 2] = q0 | (q1 << 4);
      }
    }
  }
  return { packed, scales, n, k, blockSize, kBlocks: kb };
}

function code(x: number, inv: number): number {
  const q = Math.round(x * inv) + 8;
  return q < 0 ? 0 : q > 15 ? 15 : q;
}

/** (q − 8)·s back to fp32 [n, k]: the weight MatMulNBits multiplies by. */
export function dequantizeBlocks(q: Pick<BlockQuantized, 'packed' | 'scales' | 'n' | 'k' | 'blockSize'>): Float32Array {
  const { n, k, blockSize } = q;
  const kb = kBlocksOf(k, blockSize);
  const blob = blockSize / 2;
  const w = new Float32Array(n * k);
  for (let r = 0; r < n; r++) {
    for (let b = 0; b < kb; b++) {
      const s = q.scales[r * kb + b]!;
      const base = (r * kb + b) * blob;
      for (let j = 0; j < blockSize; j++) {
        const i = b * blockSize + j;
        if (i >= k) break;
        const byte = q.packed[base + (j >> 1)]!;
        const c = (j & 1) === 0 ? byte & 15 : byte >> 4;
        w[r * k + i] = (c - 8) * s;
      }
    }
  }
  return w;
}
