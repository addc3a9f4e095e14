// The safetensors dtypes: bit widths, the Rust writer's ordering, and conversions of 16-bit floats.
// Order and sizes follow safetensors/src/tensor.rs `enum Dtype` ("MUST be in increasing alignment order").

import type { SafetensorsDtype } from './types';

/** Every dtype in the Rust enum's declaration order (increasing alignment); the writer sorts by it, descending. */
export const DTYPES: readonly SafetensorsDtype[] = [
  'BOOL', 'F4', 'F6_E2M3', 'F6_E3M2', 'U8', 'I8', 'F8_E5M2', 'F8_E4M3', 'F8_E8M0', 'F8_E4M3FNUZ', 'F8_E5M2FNUZ',
  'I16', 'U16', 'F16', 'BF16', 'I32', 'U32', 'F32', 'C64', 'F64', 'I64', 'U64',
];

const BITS: Record<SafetensorsDtype, number> = {
  BOOL: 8, F4: 4, F6_E2M3: 6, F6_E3M2: 6, U8: 8, I8: 8, F8_E5M2: 8, F8_E4M3: 8, F8_E8M0: 8,
  F8_E4M3FNUZ: 8, F8_E5M2FNUZ: 8, I16: 16, U16: 16, F16: 16, BF16: 16, I32: 32, U32: 32, F32: 32,
  C64: 64, F64: 64, I64: 64, U64: 64,
};

const RANK = new Map<string, number>(DTYPES.map((d, i) => [d, i]));

export function isSafetensorsDtype(s: unknown): s is SafetensorsDtype {
  return typeof s === 'string' && RANK.has(s);
}

/** Bits per element (4 for F4, 6 for the F6 types, 8·bytes otherwise). */
export function dtypeBits(dtype: SafetensorsDtype): number {
  return BITS[dtype];
}

/** Bytes per element; fractional for the sub-byte types (F4 = 0.5, F6_* = 0.75). Use dtypeBits for exact sizes. */
export function dtypeByteSize(dtype: SafetensorsDtype): number {
  return BITS[dtype] / 8;
}

/** Position in the Rust enum (alignment order). */
export function dtypeRank(dtype: SafetensorsDtype): number {
  return RANK.get(dtype)!;
}

/** Number of elements of a shape (1 for a 0-rank tensor, 0 when any dimension is 0). */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** IEEE half (binary16) bits to a number. */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** A number to IEEE half bits, rounding to nearest even (as torch's .half()). */
export function f32ToF16(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0); // inf / NaN
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow to inf
  if (e <= 0) {
    if (e < -10) return sign; // underflow to zero
    mant |= 0x800000; // implicit leading one
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let m = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    if (rest > half || (rest === half && (m & 1) !== 0)) m++;
    return sign | m;
  }
  let m = mant >>> 13;
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (m & 1) !== 0)) {
    m++;
    if (m === 0x400) {
      m = 0;
      e++;
      if (e >= 0x1f) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | m;
}

/** bfloat16 bits to a number (the high half of a float32). */
export function bf16ToF32(b: number): number {
  u32Scratch[0] = (b & 0xffff) << 16;
  return f32Scratch[0]!;
}

/** A number to bfloat16 bits, rounding to nearest even (as torch's .bfloat16()); NaN stays NaN. */
export function f32ToBf16(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0]!;
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) return ((x >>> 16) | 0x40) & 0xffff;
  const lsb = (x >>> 16) & 1;
  return ((x + 0x7fff + lsb) >>> 16) & 0xffff;
}

/**
 * An 8-bit float to a number. E4M3 = float8_e4m3fn (bias 7, no inf, S.1111.111 NaN); E5M2 = IEEE-like (bias 15);
 * the FNUZ variants (bias 8 / 16) have no inf and no -0 (0x80 is NaN); E8M0 is a bare exponent 2^(e-127), 0xFF NaN.
 */
export function f8ToF32(byte: number, dtype: 'F8_E4M3' | 'F8_E5M2' | 'F8_E4M3FNUZ' | 'F8_E5M2FNUZ' | 'F8_E8M0'): number {
  if (dtype === 'F8_E8M0') return byte === 0xff ? NaN : 2 ** (byte - 127);
  const fnuz = dtype === 'F8_E4M3FNUZ' || dtype === 'F8_E5M2FNUZ';
  if (fnuz && byte === 0x80) return NaN;
  const e4 = dtype === 'F8_E4M3' || dtype === 'F8_E4M3FNUZ';
  const mBits = e4 ? 3 : 2;
  const bias = (e4 ? 7 : 15) + (fnuz ? 1 : 0);
  const sign = byte & 0x80 ? -1 : 1;
  const exp = (byte & 0x7f) >>> mBits;
  const mant = byte & ((1 << mBits) - 1);
  const maxExp = e4 ? 15 : 31;
  if (!fnuz && exp === maxExp) {
    if (e4) { if (mant === 7) return NaN; } else return mant === 0 ? sign * Infinity : NaN;
  }
  if (exp === 0) return sign * (mant / (1 << mBits)) * 2 ** (1 - bias);
  return sign * (1 + mant / (1 << mBits)) * 2 ** (exp - bias);
}
