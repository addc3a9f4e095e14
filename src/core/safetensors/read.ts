// Reads safetensors files: the header alone (8 + N bytes, never the data), and single tensors by offset.
// Validation follows safetensors/src/tensor.rs (docs/FORMATS.md); every failure is an InputError naming file and tensor.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { visit } from 'jsonc-parser';
import { InputError, type ErrorCode, errorMessage } from '../errors';
import { bf16ToF32, dtypeBits, f16ToF32, f8ToF32, isSafetensorsDtype, numel } from './dtypes';
import type { SafetensorsDtype, SafetensorsHeader, TensorEntry } from './types';
import { deepNestingAt, jsonErrorMessage } from '../util/safeJson';

export { dtypeBits, dtypeByteSize, numel } from './dtypes';

/** safetensors' MAX_HEADER_SIZE. */
export const MAX_HEADER_SIZE = 100_000_000;

/** Largest single read() (Node caps a read at 2 GiB). */
const READ_CHUNK = 1 << 30;

function fail(file: string, code: ErrorCode, message: string, extra: { tensor?: string; expected?: string; actual?: string; hint?: string } = {}): never {
  throw new InputError(code, message, { file, ...extra });
}

function readExactly(fd: number, file: string, buf: Uint8Array, position: number): void {
  let done = 0;
  while (done < buf.length) {
    const want = Math.min(READ_CHUNK, buf.length - done);
    const n = fs.readSync(fd, buf, done, want, position + done);
    if (n === 0) fail(file, 'safetensors-truncated', `unexpected end of file at byte ${position + done}`, { hint: 'The file is truncated; download or write it again' });
    done += n;
  }
}

/** Duplicate keys at any depth (JSON.parse silently keeps the last one; the Rust reader rejects them). */
function findDuplicateKey(text: string): string | null {
  const stack: Set<string>[] = [];
  let dup: string | null = null;
  visit(text, {
    onObjectBegin: () => { stack.push(new Set()); },
    onObjectEnd: () => { stack.pop(); },
    onObjectProperty: (property) => {
      const keys = stack[stack.length - 1];
      if (keys === undefined || dup !== null) return;
      if (keys.has(property)) dup = property;
      keys.add(property);
    },
  });
  return dup;
}

function isNonNegInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

interface RawEntry { name: string; dtype: SafetensorsDtype; shape: number[]; begin: number; end: number }

function parseEntry(file: string, name: string, value: unknown): RawEntry {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(file, 'safetensors-bad-entry', 'header entry is not an object with dtype, shape and data_offsets', { tensor: name });
  }
  const v = value as Record<string, unknown>;
  const dtype = v['dtype'];
  if (!isSafetensorsDtype(dtype)) {
    fail(file, 'safetensors-unknown-dtype', `unknown dtype ${JSON.stringify(dtype)}`, { tensor: name, hint: 'Known dtypes: F32, F16, BF16, F64, I8..I64, U8..U64, BOOL, F8_*, F6_*, F4, C64' });
  }
  const shape = v['shape'];
  if (!Array.isArray(shape) || !shape.every(isNonNegInt)) {
    fail(file, 'safetensors-bad-shape', `shape must be a list of non-negative integers, got ${JSON.stringify(shape)}`, { tensor: name });
  }
  const offsets = v['data_offsets'];
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegInt)) {
    fail(file, 'safetensors-bad-offsets', `data_offsets must be [begin, end] non-negative integers, got ${JSON.stringify(offsets)}`, { tensor: name });
  }
  return { name, dtype, shape: shape as number[], begin: offsets[0] as number, end: offsets[1] as number };
}

/**
 * Reads and validates the header of a safetensors file, reading only its first 8 + N bytes.
 * Checks everything the Rust reader checks: header length bound, UTF-8, leading `{`, JSON, duplicate keys,
 * dtypes, contiguous offsets from 0, byte lengths, and that the data buffer ends exactly at the end of the file.
 */
export function readSafetensorsHeader(file: string): SafetensorsHeader {
  const abs = path.resolve(file);
  let fd: number;
  try {
    fd = fs.openSync(abs, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    fail(abs, 'safetensors-open', code === 'ENOENT' ? 'file not found' : `cannot open: ${errorMessage(e)}`);
  }
  try {
    const fileSize = fs.fstatSync(fd).size;
    if (fileSize < 8) fail(abs, 'safetensors-too-small', 'not a safetensors file: shorter than the 8-byte header length', { actual: `${fileSize} bytes` });
    const lenBuf = Buffer.alloc(8);
    readExactly(fd, abs, lenBuf, 0);
    const n64 = lenBuf.readBigUInt64LE(0);
    if (n64 > BigInt(MAX_HEADER_SIZE)) {
      fail(abs, 'safetensors-header-too-large', `header length ${n64} exceeds the safetensors limit of ${MAX_HEADER_SIZE} bytes`, { hint: 'The file is not a safetensors file or is corrupt' });
    }
    const headerLength = Number(n64);
    if (8 + headerLength > fileSize) {
      fail(abs, 'safetensors-truncated', `header length ${headerLength} runs past the end of the file (${fileSize} bytes)`, { hint: 'The file is truncated or not a safetensors file' });
    }
    const headerBuf = Buffer.alloc(headerLength);
    readExactly(fd, abs, headerBuf, 8);
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(headerBuf);
    } catch {
      fail(abs, 'safetensors-header-utf8', 'header is not valid UTF-8');
    }
    if (!text.startsWith('{')) {
      fail(abs, 'safetensors-header-start', 'header does not start with "{"', { actual: JSON.stringify(text.slice(0, 16)) });
    }
    if (deepNestingAt(text, 8) !== null) fail(abs, 'safetensors-header-json', 'header nests arrays/objects more than 8 levels deep');
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      fail(abs, 'safetensors-header-json', `header is not valid JSON: ${jsonErrorMessage(e, text)}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) fail(abs, 'safetensors-header-json', 'header is not a JSON object');
    const dup = findDuplicateKey(text);
    if (dup !== null) fail(abs, 'safetensors-duplicate-key', `header has the key "${dup}" more than once`, { tensor: dup });

    const metadata: Record<string, string> = {};
    const raw: RawEntry[] = [];
    for (const [name, value] of Object.entries(parsed as Record<string, unknown>)) {
      if (name === '__metadata__') {
        if (value === null) continue;
        if (typeof value !== 'object' || Array.isArray(value)) fail(abs, 'safetensors-bad-metadata', '__metadata__ must be an object of strings');
        for (const [k, mv] of Object.entries(value as Record<string, unknown>)) {
          if (typeof mv !== 'string') fail(abs, 'safetensors-bad-metadata', `__metadata__ value for "${k}" must be a string, got ${JSON.stringify(mv)}`);
          metadata[k] = mv;
        }
        continue;
      }
      raw.push(parseEntry(abs, name, value));
    }

    const dataStart = 8 + headerLength;
    const byOffset = [...raw].sort((a, b) => a.begin - b.begin || a.end - b.end);
    let expectedBegin = 0;
    for (const e of byOffset) {
      if (e.begin !== expectedBegin || e.end < e.begin) {
        const what = e.end < e.begin ? 'ends before it begins' : e.begin < expectedBegin ? 'overlaps the previous tensor' : 'leaves a gap after the previous tensor';
        fail(abs, 'safetensors-bad-offsets', `data_offsets [${e.begin}, ${e.end}] ${what}: offsets must be contiguous from 0`, { tensor: e.name, expected: `begin ${expectedBegin}`, actual: `begin ${e.begin}` });
      }
      const bits = numel(e.shape) * dtypeBits(e.dtype);
      if (!Number.isSafeInteger(bits)) fail(abs, 'safetensors-overflow', `shape ${JSON.stringify(e.shape)} is too large`, { tensor: e.name });
      if (bits % 8 !== 0) fail(abs, 'safetensors-misaligned', `${e.dtype} tensor of shape [${e.shape.join(', ')}] does not fill whole bytes`, { tensor: e.name });
      if (e.end - e.begin !== bits / 8) {
        fail(abs, 'safetensors-byte-length', `byte length does not match ${e.dtype} [${e.shape.join(', ')}]`, { tensor: e.name, expected: `${bits / 8} bytes`, actual: `${e.end - e.begin} bytes` });
      }
      expectedBegin = e.end;
    }
    const dataEnd = dataStart + expectedBegin;
    if (dataEnd > fileSize) {
      const last = byOffset.find((e) => dataStart + e.end > fileSize);
      fail(abs, 'safetensors-truncated', 'file is truncated: the header describes more data than the file holds', {
        ...(last !== undefined ? { tensor: last.name } : {}), expected: `${dataEnd} bytes`, actual: `${fileSize} bytes`,
        hint: 'Download or write the file again',
      });
    }
    if (dataEnd < fileSize) {
      fail(abs, 'safetensors-trailing-bytes', `file has ${fileSize - dataEnd} bytes after the last tensor's data`, { expected: `${dataEnd} bytes`, actual: `${fileSize} bytes` });
    }

    const tensors = new Map<string, TensorEntry>();
    for (const e of raw) {
      tensors.set(e.name, { name: e.name, dtype: e.dtype, shape: e.shape, offset: dataStart + e.begin, length: e.end - e.begin, file: abs });
    }
    return { file: abs, headerLength, dataStart, fileSize, metadata, tensors };
  } finally {
    fs.closeSync(fd);
  }
}

/** The raw little-endian bytes of one tensor, read by offset (the rest of the file is not touched). */
export function readTensorBytes(entry: TensorEntry): Buffer {
  // allocUnsafeSlow: own ArrayBuffer at byteOffset 0, so typed-array views over it are aligned.
  const buf = Buffer.allocUnsafeSlow(entry.length);
  if (entry.length === 0) return buf;
  let fd: number;
  try {
    fd = fs.openSync(entry.file, 'r');
  } catch (e) {
    fail(entry.file, 'safetensors-open', `cannot open: ${errorMessage(e)}`, { tensor: entry.name });
  }
  try {
    readExactly(fd, entry.file, buf, entry.offset);
  } catch (e) {
    if (e instanceof InputError) fail(entry.file, e.code, `cannot read tensor data: ${e.message}`, { tensor: entry.name });
    throw e;
  } finally {
    fs.closeSync(fd);
  }
  return buf;
}

/** Decode raw bytes of `dtype` to float32 (F32, F16, BF16, F64, the F8 types, BOOL and integers; 64-bit ints may lose precision). */
export function bytesToFloat32(bytes: Uint8Array, dtype: SafetensorsDtype, context: { file: string; tensor: string }): Float32Array {
  const bits = dtypeBits(dtype);
  const n = (bytes.length * 8) / bits;
  // Aligned copy when needed, so typed views can be used.
  const aligned = bytes.byteOffset % 8 === 0 ? bytes : new Uint8Array(bytes);
  const ab = aligned.buffer;
  const off = aligned.byteOffset;
  const out = new Float32Array(n);
  switch (dtype) {
    case 'F32': out.set(new Float32Array(ab, off, n)); break;
    case 'F64': out.set(new Float64Array(ab, off, n)); break;
    case 'F16': { const u = new Uint16Array(ab, off, n); for (let i = 0; i < n; i++) out[i] = f16ToF32(u[i]!); break; }
    case 'BF16': {
      const u = new Uint16Array(ab, off, n);
      const o32 = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) o32[i] = u[i]! << 16;
      break;
    }
    case 'BOOL': case 'U8': out.set(new Uint8Array(ab, off, n)); break;
    case 'I8': out.set(new Int8Array(ab, off, n)); break;
    case 'I16': out.set(new Int16Array(ab, off, n)); break;
    case 'U16': out.set(new Uint16Array(ab, off, n)); break;
    case 'I32': out.set(new Int32Array(ab, off, n)); break;
    case 'U32': out.set(new Uint32Array(ab, off, n)); break;
    case 'I64': { const v = new BigInt64Array(ab, off, n); for (let i = 0; i < n; i++) out[i] = Number(v[i]!); break; }
    case 'U64': { const v = new BigUint64Array(ab, off, n); for (let i = 0; i < n; i++) out[i] = Number(v[i]!); break; }
    case 'F8_E4M3': case 'F8_E5M2': case 'F8_E4M3FNUZ': case 'F8_E5M2FNUZ': case 'F8_E8M0': {
      const u = new Uint8Array(ab, off, n);
      const table = new Float32Array(256).map((_, b) => f8ToF32(b, dtype));
      for (let i = 0; i < n; i++) out[i] = table[u[i]!]!;
      break;
    }
    default:
      throw new InputError('safetensors-unsupported-dtype', `cannot convert ${dtype} to float32`, { ...context, hint: 'Supported: F32, F16, BF16, F64, F8_*, BOOL and integer dtypes (not F4, F6_*, C64)' });
  }
  return out;
}

/** One tensor as float32 values (row-major), converted from its stored dtype. */
export function readTensorAsFloat32(entry: TensorEntry): Float32Array {
  return bytesToFloat32(readTensorBytes(entry), entry.dtype, { file: entry.file, tensor: entry.name });
}

export { bf16ToF32, f16ToF32 };
