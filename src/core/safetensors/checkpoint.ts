// Opens a Hugging Face checkpoint folder: one model.safetensors, or shards listed by model.safetensors.index.json.
// Only headers are read; every tensor's entry points at its file and absolute byte offset (for ORT external data).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../errors';
import { didYouMean } from '../util/didYouMean';
import { readSafetensorsHeader } from './read';
import type { Checkpoint, SafetensorsHeader, TensorEntry } from './types';
import { parseJsonText } from '../util/safeJson';

export const SINGLE_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';

/**
 * Opens `dir` (a model folder, or a path to one .safetensors file). With a sharded checkpoint, checks that every
 * file of weight_map exists and that every listed tensor is in the shard the index names.
 */
export function openCheckpoint(dir: string): Checkpoint {
  const abs = path.resolve(dir);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(abs);
  } catch {
    throw new InputError('checkpoint-not-found', 'model folder not found', { file: abs });
  }
  if (stat.isFile()) {
    const header = readSafetensorsHeader(abs);
    return { dir: path.dirname(abs), files: [abs], tensors: new Map(header.tensors) };
  }
  const single = path.join(abs, SINGLE_FILE);
  if (fs.existsSync(single)) {
    const header = readSafetensorsHeader(single);
    return { dir: abs, files: [single], tensors: new Map(header.tensors) };
  }
  const index = path.join(abs, INDEX_FILE);
  if (fs.existsSync(index)) return openSharded(abs, index);

  const present = fs.readdirSync(abs);
  const other = present.filter((f) => f.endsWith('.safetensors'));
  const hint = other.length > 0
    ? `Found ${other.join(', ')}: name a single file model.safetensors, or add a model.safetensors.index.json`
    : present.some((f) => f.endsWith('.bin') || f.endsWith('.pt'))
      ? 'Only PyTorch .bin weights were found; save the model with safe_serialization=True (save_pretrained does by default)'
      : 'Expected the folder written by save_pretrained()';
  throw new InputError('checkpoint-no-weights', `no ${SINGLE_FILE} or ${INDEX_FILE} in the model folder`, { file: abs, hint });
}

function openSharded(dir: string, indexFile: string): Checkpoint {
  let text: string;
  try {
    text = fs.readFileSync(indexFile, 'utf8');
  } catch (e) {
    throw new InputError('checkpoint-index-json', `cannot read the shard index: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, { file: indexFile });
  }
  const parsed = parseJsonText(text, indexFile, 'the shard index', 0, 'checkpoint-index-json');
  const weightMap = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>)['weight_map'] : undefined;
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
    throw new InputError('checkpoint-index-weight-map', '"weight_map" must be an object mapping tensor names to shard files', { file: indexFile });
  }
  const byFile = new Map<string, string[]>();
  for (const [name, shard] of Object.entries(weightMap as Record<string, unknown>)) {
    if (typeof shard !== 'string' || shard.length === 0) {
      throw new InputError('checkpoint-index-weight-map', `weight_map value must be a file name, got ${JSON.stringify(shard)}`, { file: indexFile, tensor: name });
    }
    const list = byFile.get(shard) ?? [];
    list.push(name);
    byFile.set(shard, list);
  }
  const headers = new Map<string, SafetensorsHeader>();
  for (const [shard, names] of byFile) {
    const shardPath = path.resolve(dir, shard);
    if (path.relative(dir, shardPath).startsWith('..')) {
      throw new InputError('checkpoint-shard-outside', `shard "${shard}" is outside the model folder`, { file: indexFile, tensor: names[0]! });
    }
    if (!fs.existsSync(shardPath)) {
      throw new InputError('checkpoint-shard-missing', `shard "${shard}" listed in weight_map does not exist (${names.length} tensors)`, {
        file: indexFile, tensor: names[0]!, hint: 'Download the missing shard, or fix model.safetensors.index.json',
      });
    }
    headers.set(shard, readSafetensorsHeader(shardPath));
  }
  const tensors = new Map<string, TensorEntry>();
  for (const [shard, names] of byFile) {
    const header = headers.get(shard)!;
    for (const name of names) {
      const entry = header.tensors.get(name);
      if (entry === undefined) {
        throw new InputError('checkpoint-tensor-missing', `weight_map puts this tensor in "${shard}", but that shard does not hold it`, {
          file: indexFile, tensor: name, hint: `The shard holds ${header.tensors.size} tensors.${didYouMean(name, [...header.tensors.keys()])}`,
        });
      }
      tensors.set(name, entry);
    }
  }
  // Tensors a shard holds but the index does not list: keep them (transformers loads whole shards).
  for (const header of headers.values()) {
    for (const [name, entry] of header.tensors) if (!tensors.has(name)) tensors.set(name, entry);
  }
  return { dir, files: [...headers.values()].map((h) => h.file), tensors };
}

/** The entry for `name`, or an InputError with a did-you-mean over the checkpoint's tensor names. */
export function getTensorEntry(ckpt: Checkpoint, name: string): TensorEntry {
  const entry = ckpt.tensors.get(name);
  if (entry === undefined) {
    throw new InputError('checkpoint-no-tensor', `no such tensor in the checkpoint.${didYouMean(name, [...ckpt.tensors.keys()])}`, { file: ckpt.dir, tensor: name });
  }
  return entry;
}
