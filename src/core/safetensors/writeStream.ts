// Streams safetensors files whose tensors are produced one at a time (peak memory ≈ one tensor), and splits a
// checkpoint into shards + model.safetensors.index.json the way transformers' save_pretrained does.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../errors';
import { dtypeBits, numel } from './dtypes';
import { INDEX_FILE, SINGLE_FILE } from './checkpoint';
import { buildHeader, rustWriterOrder } from './write';
import type { SafetensorsDtype } from './types';
import { writeFileAtomicStreamed } from '../util/atomicFile';

export interface StreamedTensor {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Called once when the tensor is written; must return exactly numel·bits/8 bytes (at once, or in chunks). */
  data: () => Uint8Array | Iterable<Uint8Array>;
}

export function streamedByteLength(t: Pick<StreamedTensor, 'dtype' | 'shape'>): number {
  return (numel(t.shape) * dtypeBits(t.dtype)) / 8;
}

/** Writes one safetensors file (Rust writer layout and order), calling each tensor's `data()` in file order. */
export function writeSafetensorsStreamed(file: string, tensors: readonly StreamedTensor[], metadata: Record<string, string> | null = { format: 'pt' }): number {
  const abs = path.resolve(file);
  const ordered = rustWriterOrder(tensors);
  const header = buildHeader(ordered.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: { byteLength: streamedByteLength(t) } })), metadata);
  return writeFileAtomicStreamed(abs, (write) => {
    write(header);
    for (const t of ordered) {
      const produced = t.data();
      const want = streamedByteLength(t);
      let got = 0;
      for (const chunk of produced instanceof Uint8Array ? [produced] : produced) {
        got += chunk.byteLength;
        if (got > want) break;
        write(chunk);
      }
      if (got !== want) throw new Error(`tensor ${t.name}: ${got} bytes produced, ${want} expected`);
    }
  });
}

/** A tensor's bytes straight from its file, `chunkBytes` at a time (copying without holding the whole tensor). */
export function* tensorChunks(entry: { file: string; offset: number; length: number }, chunkBytes = 1 << 22): Generator<Uint8Array> {
  const fd = fs.openSync(entry.file, 'r');
  try {
    const buf = Buffer.allocUnsafe(Math.min(chunkBytes, Math.max(entry.length, 1)));
    for (let done = 0; done < entry.length;) {
      const n = fs.readSync(fd, buf, 0, Math.min(buf.length, entry.length - done), entry.offset + done);
      if (n <= 0) throw new Error(`${entry.file}: file ends inside a tensor`);
      done += n;
      yield buf.subarray(0, n);
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** "5GB", "500MB", "10GiB", "1000" (bytes) → bytes; units as transformers' convert_file_size_to_int (GB = 10^9). */
export function parseByteSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*$/i.exec(text);
  if (m === null) throw new InputError('bad-size', `cannot read "${text}" as a size`, { hint: 'Use a number of bytes or a size such as 500MB, 5GB, 2GiB' });
  const unit = (m[2] ?? 'B').toUpperCase();
  const pow: Record<string, number> = { B: 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12, KIB: 2 ** 10, MIB: 2 ** 20, GIB: 2 ** 30, TIB: 2 ** 40 };
  const n = Math.floor(Number(m[1]) * pow[unit]!);
  if (n <= 0) throw new InputError('bad-size', `size must be positive, got "${text}"`);
  return n;
}

export interface CheckpointWritten {
  files: string[];
  totalSize: number;
  sharded: boolean;
}

/**
 * Writes `tensors` (in the given order) as model.safetensors, or, when they exceed `maxShardBytes`, as
 * model-0000i-of-0000n.safetensors shards filled in order (a new shard starts when the next tensor would not fit;
 * a tensor larger than the limit gets a shard of its own) plus model.safetensors.index.json.
 */
export function writeCheckpointStreamed(dir: string, tensors: readonly StreamedTensor[], maxShardBytes: number): CheckpointWritten {
  const shards: StreamedTensor[][] = [[]];
  let size = 0;
  let totalSize = 0;
  for (const t of tensors) {
    const n = streamedByteLength(t);
    totalSize += n;
    if (size + n > maxShardBytes && shards[shards.length - 1]!.length > 0) {
      shards.push([]);
      size = 0;
    }
    shards[shards.length - 1]!.push(t);
    size += n;
  }
  fs.mkdirSync(dir, { recursive: true });
  if (shards.length === 1) {
    writeSafetensorsStreamed(path.join(dir, SINGLE_FILE), shards[0]!);
    return { files: [path.join(dir, SINGLE_FILE)], totalSize, sharded: false };
  }
  const pad5 = (i: number): string => String(i).padStart(5, '0');
  const files: string[] = [];
  const weightMap: Record<string, string> = {};
  shards.forEach((list, i) => {
    const name = `model-${pad5(i + 1)}-of-${pad5(shards.length)}.safetensors`;
    writeSafetensorsStreamed(path.join(dir, name), list);
    files.push(path.join(dir, name));
    for (const t of list) weightMap[t.name] = name;
  });
  const sorted: Record<string, string> = {};
  for (const k of Object.keys(weightMap).sort()) sorted[k] = weightMap[k]!;
  fs.writeFileSync(path.join(dir, INDEX_FILE), JSON.stringify({ metadata: { total_size: totalSize }, weight_map: sorted }, null, 2) + '\n');
  return { files, totalSize, sharded: true };
}
