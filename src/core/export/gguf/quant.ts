// float32 values → the bytes of a ggml tensor type: F32, F16 (round to nearest even) and Q8_0 (blocks of 32
// int8 with an f16 scale, as gguf-py's quants.py / ggml's quantize_row_q8_0_ref), and which type each tensor gets.
import { f32ToF16 } from '../../safetensors/dtypes';
import type { GgmlTypeName } from './writer';

export type GgufFileType = 'f32' | 'f16' | 'q8_0';

/** general.file_type (llama_ftype): ALL_F32 = 0, MOSTLY_F16 = 1, MOSTLY_Q8_0 = 7. */
export const LLAMA_FTYPE: Record<GgufFileType, number> = { f32: 0, f16: 1, q8_0: 7 };

/**
 * The ggml type of a tensor in a file of `fileType`, as llama.cpp's converter chooses: 1-D tensors (norms, biases)
 * and `forceF32` tensors stay F32; Q8_0 needs rows whose length is a multiple of 32, others fall back to F16.
 */
export function ggmlTypeFor(fileType: GgufFileType, shape: readonly number[], forceF32 = false): GgmlTypeName {
  if (fileType === 'f32' || forceF32 || shape.length < 2) return 'F32';
  if (fileType === 'f16') return 'F16';
  return shape[shape.length - 1]! % 32 === 0 ? 'Q8_0' : 'F16';
}

/** Rounds half away from zero (C roundf), which ggml's quantizer uses. */
function roundf(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

export function encodeGgml(values: Float32Array, type: GgmlTypeName): Uint8Array {
  if (type === 'F32') return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  if (type === 'F16') {
    const out = new Uint16Array(values.length);
    for (let i = 0; i < values.length; i++) out[i] = f32ToF16(values[i]!);
    return new Uint8Array(out.buffer);
  }
  if (values.length % 32 !== 0) throw new Error(`Q8_0 needs a multiple of 32 values, got ${values.length}`);
  const blocks = values.length / 32;
  const out = Buffer.alloc(blocks * 34);
  for (let b = 0; b < blocks; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(values[32 * b + j]!));
    const d = Math.fround(amax / 127);
    const id = d === 0 ? 0 : Math.fround(1 / d);
    out.writeUInt16LE(f32ToF16(d), 34 * b);
    for (let j = 0; j < 32; j++) out.writeInt8(roundf(Math.fround(values[32 * b + j]! * id)), 34 * b + 2 + j);
  }
  return out;
}

/** Q8_0 bytes back to float32 (for tests and error reports). */
export function decodeQ8_0(bytes: Uint8Array, f16ToF32: (h: number) => number): Float32Array {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const blocks = buf.length / 34;
  const out = new Float32Array(blocks * 32);
  for (let b = 0; b < blocks; b++) {
    const d = f16ToF32(buf.readUInt16LE(34 * b));
    for (let j = 0; j < 32; j++) out[32 * b + j] = d * buf.readInt8(34 * b + 2 + j);
  }
  return out;
}
