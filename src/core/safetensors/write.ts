// Writes safetensors files byte-for-byte as the Rust writer does (tensor order, compact JSON, space padding to 8).
// The file appears atomically: data goes to a temp file in the same folder, then rename().

import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../errors';
import { dtypeBits, dtypeRank, f32ToBf16, f32ToF16, isSafetensorsDtype, numel } from './dtypes';
import type { SafetensorsDtype, TensorToWrite } from './types';

/** Raw bytes of a tensor's data (a view, no copy). */
function dataBytes(t: TensorToWrite): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

function check(file: string, t: TensorToWrite): void {
  if (!isSafetensorsDtype(t.dtype)) throw new InputError('safetensors-unknown-dtype', `unknown dtype ${JSON.stringify(t.dtype)}`, { file, tensor: t.name });
  if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new InputError('safetensors-bad-shape', `shape must be non-negative integers, got ${JSON.stringify(t.shape)}`, { file, tensor: t.name });
  }
  const bits = numel(t.shape) * dtypeBits(t.dtype);
  if (bits % 8 !== 0) throw new InputError('safetensors-misaligned', `${t.dtype} [${t.shape.join(', ')}] does not fill whole bytes`, { file, tensor: t.name });
  if (t.data.byteLength !== bits / 8) {
    throw new InputError('safetensors-byte-length', `data size does not match ${t.dtype} [${t.shape.join(', ')}]`, {
      file, tensor: t.name, expected: `${bits / 8} bytes`, actual: `${t.data.byteLength} bytes`,
    });
  }
}

/** Tensor order of the Rust writer: dtype descending (alignment order), then name ascending (byte order). */
export function rustWriterOrder<T extends Pick<TensorToWrite, 'name' | 'dtype'>>(tensors: readonly T[]): T[] {
  return [...tensors].sort((a, b) => dtypeRank(b.dtype) - dtypeRank(a.dtype) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** What the header needs of a tensor: its name, dtype, shape and data size (TensorToWrite satisfies it). */
export type HeaderTensor = Pick<TensorToWrite, 'name' | 'dtype' | 'shape'> & { data: { byteLength: number } };

/** The 8-byte length + padded JSON header for tensors already in write order. */
export function buildHeader(ordered: readonly HeaderTensor[], metadata: Record<string, string> | null): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata !== null) {
    const sorted: Record<string, string> = {};
    for (const k of Object.keys(metadata).sort()) sorted[k] = metadata[k]!;
    header['__metadata__'] = sorted;
  }
  let offset = 0;
  const parts: string[] = [];
  if (metadata !== null) parts.push(`"__metadata__":${JSON.stringify(header['__metadata__'])}`);
  for (const t of ordered) {
    const n = t.data.byteLength;
    // Built by hand so that integer-like tensor names keep their place (JS objects would move them first).
    parts.push(`${JSON.stringify(t.name)}:{"dtype":"${t.dtype}","shape":${JSON.stringify(t.shape)},"data_offsets":[${offset},${offset + n}]}`);
    offset += n;
  }
  let json = Buffer.from(`{${parts.join(',')}}`, 'utf8');
  const extra = (8 - (json.length % 8)) % 8;
  if (extra > 0) json = Buffer.concat([json, Buffer.alloc(extra, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length), 0);
  return Buffer.concat([len, json]);
}

/**
 * Writes `tensors` to `file` in safetensors format. `metadata` defaults to {format: "pt"} (what transformers and
 * PEFT expect); pass null for no __metadata__. Duplicate names, unknown dtypes and size mismatches are InputErrors.
 */
export function writeSafetensors(file: string, tensors: readonly TensorToWrite[], metadata: Record<string, string> | null = { format: 'pt' }): void {
  const abs = path.resolve(file);
  const seen = new Set<string>();
  for (const t of tensors) {
    if (t.name === '__metadata__') throw new InputError('safetensors-reserved-name', 'tensor name "__metadata__" is reserved', { file: abs, tensor: t.name });
    if (seen.has(t.name)) throw new InputError('safetensors-duplicate-key', 'tensor name given more than once', { file: abs, tensor: t.name });
    seen.add(t.name);
    check(abs, t);
  }
  const ordered = rustWriterOrder(tensors);
  const header = buildHeader(ordered, metadata);
  fs.mkdirSync(path.dirname(abs), { recursive: true });
  const tmp = path.join(path.dirname(abs), `.${path.basename(abs)}.${process.pid}.${Date.now()}.tmp`);
  const fd = fs.openSync(tmp, 'w');
  try {
    writeAll(fd, header);
    for (const t of ordered) writeAll(fd, dataBytes(t));
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    // a write to a descriptor names no file: name the one we were writing
    if (typeof e === 'object' && e !== null && (e as NodeJS.ErrnoException).code !== undefined) (e as NodeJS.ErrnoException).path ??= abs;
    throw e;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, abs);
}

/** Serialises to one in-memory buffer (same bytes as writeSafetensors writes). */
export function serializeSafetensors(tensors: readonly TensorToWrite[], metadata: Record<string, string> | null = { format: 'pt' }): Buffer {
  for (const t of tensors) check('<memory>', t);
  const ordered = rustWriterOrder(tensors);
  return Buffer.concat([buildHeader(ordered, metadata), ...ordered.map((t) => dataBytes(t))]);
}

function writeAll(fd: number, bytes: Uint8Array): void {
  const CHUNK = 1 << 30;
  for (let done = 0; done < bytes.length;) {
    const n = fs.writeSync(fd, bytes, done, Math.min(CHUNK, bytes.length - done));
    done += n;
  }
}

/** float32 values as the data of a `dtype` tensor (F32 as is; F16/BF16 rounded to nearest even, as torch's .to()). */
export function fromFloat32(values: Float32Array, dtype: Extract<SafetensorsDtype, 'F32' | 'F16' | 'BF16' | 'F64'>): Float32Array | Uint16Array | Float64Array {
  if (dtype === 'F32') return values;
  if (dtype === 'F64') return Float64Array.from(values);
  const out = new Uint16Array(values.length);
  const conv = dtype === 'F16' ? f32ToF16 : f32ToBf16;
  for (let i = 0; i < values.length; i++) out[i] = conv(values[i]!);
  return out;
}
