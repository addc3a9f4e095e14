// GGUF v3 files written tensor by tensor: header, typed key/value metadata, tensor infos, 32-byte aligned data.
// Layout as ggml's gguf.cpp / gguf-py's GGUFWriter: little-endian, strings as u64 length + UTF-8 bytes.
import * as path from 'node:path';
import { writeFileAtomicStreamed } from '../../util/atomicFile';

/** GGUF metadata value types (gguf_type). */
const T = { U8: 0, I8: 1, U16: 2, I16: 3, U32: 4, I32: 5, F32: 6, BOOL: 7, STRING: 8, ARRAY: 9, U64: 10, I64: 11, F64: 12 } as const;

export type GgufKv =
  | { key: string; type: 'u32' | 'i32' | 'f32' | 'u64' | 'f64'; value: number }
  | { key: string; type: 'bool'; value: boolean }
  | { key: string; type: 'string'; value: string }
  | { key: string; type: 'string[]'; value: readonly string[] }
  | { key: string; type: 'i32[]' | 'f32[]'; value: ArrayLike<number> };

/** ggml tensor types this writer produces. */
export const GGML_TYPE = { F32: 0, F16: 1, Q8_0: 8 } as const;
export type GgmlTypeName = keyof typeof GGML_TYPE;

/** Bytes of `n` elements along ne[0] rows of a ggml type (Q8_0: blocks of 32 = 2-byte f16 scale + 32 int8). */
export function ggmlRowBytes(type: GgmlTypeName, n: number): number {
  if (type === 'F32') return 4 * n;
  if (type === 'F16') return 2 * n;
  return (n / 32) * 34;
}

export interface GgufTensor {
  name: string;
  /** Shape in row-major order (outermost first, as numpy/safetensors); GGUF stores it reversed (ne[0] innermost). */
  shape: readonly number[];
  type: GgmlTypeName;
  /** Called once, in file order, when the tensor's data is written; must return exactly byteLength bytes. */
  data: () => Uint8Array;
}

export const GGUF_ALIGNMENT = 32;

export function tensorByteLength(t: Pick<GgufTensor, 'shape' | 'type'>): number {
  const ne0 = t.shape.length === 0 ? 1 : t.shape[t.shape.length - 1]!;
  const rows = t.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  return rows * ggmlRowBytes(t.type, ne0);
}

class Bytes {
  private readonly parts: Buffer[] = [];
  length = 0;
  push(b: Buffer): void { this.parts.push(b); this.length += b.length; }
  u32(v: number): void { const b = Buffer.alloc(4); b.writeUInt32LE(v); this.push(b); }
  u64(v: number | bigint): void { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); this.push(b); }
  str(s: string): void { const b = Buffer.from(s, 'utf8'); this.u64(b.length); this.push(b); }
  concat(): Buffer { return Buffer.concat(this.parts, this.length); }
}

function writeKv(out: Bytes, kv: GgufKv): void {
  out.str(kv.key);
  switch (kv.type) {
    case 'u32': out.u32(T.U32); out.u32(kv.value); return;
    case 'i32': { out.u32(T.I32); const b = Buffer.alloc(4); b.writeInt32LE(kv.value); out.push(b); return; }
    case 'f32': { out.u32(T.F32); const b = Buffer.alloc(4); b.writeFloatLE(kv.value); out.push(b); return; }
    case 'f64': { out.u32(T.F64); const b = Buffer.alloc(8); b.writeDoubleLE(kv.value); out.push(b); return; }
    case 'u64': out.u32(T.U64); out.u64(kv.value); return;
    case 'bool': out.u32(T.BOOL); out.push(Buffer.from([kv.value ? 1 : 0])); return;
    case 'string': out.u32(T.STRING); out.str(kv.value); return;
    case 'string[]': out.u32(T.ARRAY); out.u32(T.STRING); out.u64(kv.value.length); for (const s of kv.value) out.str(s); return;
    case 'i32[]': case 'f32[]': {
      out.u32(T.ARRAY); out.u32(kv.type === 'i32[]' ? T.I32 : T.F32); out.u64(kv.value.length);
      const b = Buffer.alloc(4 * kv.value.length);
      for (let i = 0; i < kv.value.length; i++) {
        if (kv.type === 'i32[]') b.writeInt32LE(kv.value[i]!, 4 * i);
        else b.writeFloatLE(kv.value[i]!, 4 * i);
      }
      out.push(b);
      return;
    }
  }
}

const pad = (n: number): number => (GGUF_ALIGNMENT - (n % GGUF_ALIGNMENT)) % GGUF_ALIGNMENT;

/** Header + metadata + tensor infos, padded to the alignment; offsets of each tensor relative to the data section. */
export function buildGgufHeader(kvs: readonly GgufKv[], tensors: readonly Pick<GgufTensor, 'name' | 'shape' | 'type'>[]): { header: Buffer; offsets: number[]; dataBytes: number } {
  const out = new Bytes();
  out.push(Buffer.from('GGUF', 'ascii'));
  out.u32(3);
  out.u64(tensors.length);
  out.u64(kvs.length);
  for (const kv of kvs) writeKv(out, kv);
  const offsets: number[] = [];
  let offset = 0;
  for (const t of tensors) {
    out.str(t.name);
    out.u32(t.shape.length);
    for (let i = t.shape.length - 1; i >= 0; i--) out.u64(t.shape[i]!);
    out.u32(GGML_TYPE[t.type]);
    out.u64(offset);
    offsets.push(offset);
    const n = tensorByteLength(t);
    offset += n + pad(n);
  }
  out.push(Buffer.alloc(pad(out.length)));
  return { header: out.concat(), offsets, dataBytes: offset };
}

/**
 * Writes a GGUF v3 file, one tensor's data in memory at a time. The file appears atomically (temp file + rename).
 * Throws when a tensor's data callback returns the wrong number of bytes (a bug in the caller).
 */
export function writeGguf(file: string, kvs: readonly GgufKv[], tensors: readonly GgufTensor[]): { bytes: number } {
  const abs = path.resolve(file);
  const seen = new Set<string>();
  for (const t of tensors) {
    if (seen.has(t.name)) throw new Error(`GGUF tensor ${t.name} given twice`);
    seen.add(t.name);
  }
  const { header } = buildGgufHeader(kvs, tensors);
  const bytes = writeFileAtomicStreamed(abs, (write) => {
    write(header);
    for (const t of tensors) {
      const data = t.data();
      const expected = tensorByteLength(t);
      if (data.byteLength !== expected) throw new Error(`GGUF tensor ${t.name}: ${data.byteLength} bytes of data, expected ${expected}`);
      write(data);
      write(Buffer.alloc(pad(data.byteLength)));
    }
  });
  return { bytes };
}
