// The 4-bit base on disk: the frozen decoder Linear weights quantized once (blockQuant.ts) into one safetensors file in
// the graph cache, keyed by the weight files and the quantization; graphs read it as external data (MatMulNBits' B).
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../errors';
import type { ModelInventory, ModuleInfo } from '../hf/types';
import { openCheckpoint } from '../safetensors/checkpoint';
import { f16ToF32 } from '../safetensors/dtypes';
import { readSafetensorsHeader } from '../safetensors/read';
import type { TensorEntry } from '../safetensors/types';
import { buildHeader } from '../safetensors/write';
import { writeFileAtomicStreamed } from '../util/atomicFile';
import { type QuantizationConfig, QUANT_BITS, kBlocksOf, quantizeBlocks } from './blockQuant';

/** Bump when the file's content rule changes (the quantization rule, tensor names): old files are then ignored. */
export const QUANT_FORMAT = 'peft-studio-q-1';
/** Prefix of quantized-base files: the graph cache's stale-folder pruning knows them as ours. */
export const QUANT_FILE_PREFIX = 'peft-studio-q';

export interface QuantizedWeight {
  /** Checkpoint name of the original weight, e.g. model.layers.0.mlp.down_proj.weight. */
  weightKey: string;
  /** Out features (rows of the HF weight). */
  n: number;
  /** In features. */
  k: number;
  blockSize: number;
  bits: number;
  /** Packed codes U8 [n, kBlocks, blockSize/2] and F32 scales [n · kBlocks] in `file`. */
  codes: TensorEntry;
  scales: TensorEntry;
}

export interface QuantizedBase {
  config: QuantizationConfig;
  /** Absolute path of the quantized file (hard-linked into each graph folder under its own name). */
  file: string;
  /** By checkpoint weight key. */
  weights: Map<string, QuantizedWeight>;
  /**
   * The weights left in full precision whose checkpoint holds them as BF16/F16, stored here as F32 (by checkpoint
   * key): ORT then maps them as they are, instead of mapping the 16-bit bytes and folding a Cast into an fp32 copy
   * beside them (measured on a bf16 Llama-3.2-3B shape: the 16-bit pages of the embedding stayed resident, +0.8 GB).
   */
  full: Map<string, TensorEntry>;
}

/** The modules whose weights are stored in 4 bits: the Linear layers of the decoder (not embeddings, norms, lm_head). */
export function quantizedModules(inventory: ModelInventory): ModuleInfo[] {
  return inventory.modules.filter((m) => m.kind === 'linear' && m.layer !== null && !m.isOutputHead);
}

/** Refuses a model the 4-bit path cannot serve (no decoder Linear layers: GPT-2's Conv1D). */
export function checkQuantizable(inventory: ModelInventory): void {
  if (quantizedModules(inventory).length === 0) {
    throw new InputError('quant-unsupported-model', `a 4-bit base needs Linear layers in the decoder; ${inventory.spec.modelType} has none (GPT-2 uses Conv1D)`, {
      file: inventory.dir,
      hint: 'Remove `quantization:` from the recipe (train this model in full precision)',
    });
  }
}

function fileKey(inventory: ModelInventory, config: QuantizationConfig): string {
  const h = createHash('sha256');
  h.update(QUANT_FORMAT);
  h.update(JSON.stringify(config));
  for (const f of openCheckpoint(inventory.dir).files) {
    const st = fs.statSync(f);
    h.update(JSON.stringify([path.basename(f), st.size, Math.floor(st.mtimeMs), st.ino]));
  }
  h.update(JSON.stringify(quantizedModules(inventory).map((m) => m.weightKey)));
  return h.digest('hex').slice(0, 24);
}

/** Values widened from 16 to 32 bits per read (tests make it small to cross chunk borders). */
export const quantTuning = { widenChunk: 1 << 22 };

const codesName = (key: string): string => `${key}.q4`;
const fullName = (key: string): string => `${key}.f32`;
const scalesName = (key: string): string => `${key}.scales`;

/**
 * The quantized base of `inventory` under `cacheDir/quantized/`, written on first use (one weight in memory at a time:
 * peak ≈ that weight in fp32 twice) and reused while the weight files are unchanged.
 */
export function ensureQuantizedBase(inventory: ModelInventory, config: QuantizationConfig, cacheDir: string): QuantizedBase {
  if (config.bits !== QUANT_BITS) throw new InputError('quant-bits', `only 4-bit bases are supported, got bits: ${String(config.bits)}`);
  checkQuantizable(inventory);
  const dir = path.join(cacheDir, 'quantized');
  const file = path.join(dir, `${QUANT_FILE_PREFIX}${config.bits}-b${config.block_size}-${fileKey(inventory, config)}.safetensors`);
  const modules = quantizedModules(inventory);
  const tensors = openCheckpoint(inventory.dir).tensors;
  const quantizedKeys = new Set(modules.map((m) => m.weightKey));
  const widen = [...tensors.values()].filter((e) => !quantizedKeys.has(e.name) && (e.dtype === 'BF16' || e.dtype === 'F16'));
  if (!fs.existsSync(file)) {
    fs.mkdirSync(dir, { recursive: true });
    writeQuantized(file, modules, tensors, config.block_size, widen);
  }
  const header = readSafetensorsHeader(file);
  const weights = new Map<string, QuantizedWeight>();
  for (const m of modules) {
    const codes = header.tensors.get(codesName(m.weightKey));
    const scales = header.tensors.get(scalesName(m.weightKey));
    if (codes === undefined || scales === undefined) {
      throw new InputError('quant-cache', `the quantized base ${file} has no ${m.weightKey}`, { file, hint: 'Delete the file; it is rebuilt on the next run' });
    }
    weights.set(m.weightKey, { weightKey: m.weightKey, n: m.outFeatures, k: m.inFeatures, blockSize: config.block_size, bits: config.bits, codes, scales });
  }
  const full = new Map<string, TensorEntry>();
  for (const e of widen) {
    const f = header.tensors.get(fullName(e.name));
    if (f === undefined) throw new InputError('quant-cache', `the quantized base ${file} has no ${e.name}`, { file, hint: 'Delete the file; it is rebuilt on the next run' });
    full.set(e.name, f);
  }
  return { config, file, weights, full };
}

/**
 * Writes codes and scales of every module, reading one weight at a time into buffers reused for all of them (the
 * quantization runs in the training process before its sessions open: garbage per weight would raise its peak RSS).
 */
function writeQuantized(file: string, modules: ModuleInfo[], tensors: Map<string, TensorEntry>, blockSize: number, widen: TensorEntry[]): void {
  const layout = modules.map((m) => ({ m, kb: kBlocksOf(m.inFeatures, blockSize) }));
  const numel = (e: TensorEntry): number => e.shape.reduce((a, b) => a * b, 1);
  const header = buildHeader([
    ...layout.flatMap(({ m, kb }) => [
      { name: codesName(m.weightKey), dtype: 'U8' as const, shape: [m.outFeatures, kb, blockSize / 2], data: { byteLength: m.outFeatures * kb * (blockSize / 2) } },
      { name: scalesName(m.weightKey), dtype: 'F32' as const, shape: [m.outFeatures * kb], data: { byteLength: m.outFeatures * kb * 4 } },
    ]),
    ...widen.map((e) => ({ name: fullName(e.name), dtype: 'F32' as const, shape: e.shape, data: { byteLength: numel(e) * 4 } })),
  ], { format: QUANT_FORMAT, block_size: String(blockSize), bits: String(QUANT_BITS) });
  const most = Math.max(...layout.map(({ m }) => m.outFeatures * m.inFeatures));
  const mostBlocks = Math.max(...layout.map(({ m, kb }) => m.outFeatures * kb));
  const raw = Buffer.allocUnsafeSlow(Math.max(most, quantTuning.widenChunk) * 4);
  const values = new Float32Array(Math.max(most, quantTuning.widenChunk));
  const out = { packed: new Uint8Array(mostBlocks * (blockSize / 2)), scales: new Float32Array(mostBlocks) };
  writeFileAtomicStreamed(file, (write) => {
    write(header);
    for (const { m } of layout) {
      const entry = tensors.get(m.weightKey);
      if (entry === undefined) throw new InputError('model-missing-weight', 'the checkpoint has no such tensor', { tensor: m.weightKey });
      if (entry.shape.length !== 2 || entry.shape[0] !== m.outFeatures || entry.shape[1] !== m.inFeatures) {
        throw new InputError('model-weight-shape', 'the weight does not have the shape config.json implies', {
          tensor: m.weightKey, file: entry.file, expected: `[${m.outFeatures}, ${m.inFeatures}]`, actual: `[${entry.shape.join(', ')}]`,
        });
      }
      const w = readInto(entry, raw, values);
      const q = quantizeBlocks(w, m.outFeatures, m.inFeatures, blockSize, out);
      write(q.packed);
      write(new Uint8Array(q.scales.buffer, q.scales.byteOffset, q.scales.byteLength));
    }
    // 16-bit weights widened a chunk at a time (a 128k-vocabulary embedding would otherwise need two fp32 buffers).
    const chunk = quantTuning.widenChunk;
    for (const e of widen) {
      for (let at = 0, n = numel(e); at < n; at += chunk) {
        const m = Math.min(chunk, n - at);
        const part = { ...e, shape: [m], offset: e.offset + at * 2, length: m * 2 };
        const w = readInto(part, raw, values);
        write(new Uint8Array(w.buffer, w.byteOffset, w.byteLength));
      }
    }
  });
}

/** One F32/F16/BF16 weight as fp32 in `values` (its bytes read into `raw`); returns the filled view. */
function readInto(entry: TensorEntry, raw: Buffer, values: Float32Array): Float32Array {
  const n = entry.shape.reduce((a, b) => a * b, 1);
  const bytes = entry.dtype === 'F32' ? 4 : entry.dtype === 'F16' || entry.dtype === 'BF16' ? 2 : 0;
  if (bytes === 0 || entry.length !== n * bytes) {
    throw new InputError('model-weight-dtype', `cannot quantize a ${entry.dtype} weight`, { tensor: entry.name, file: entry.file, expected: 'F32, F16 or BF16' });
  }
  const fd = fs.openSync(entry.file, 'r');
  try {
    for (let done = 0; done < entry.length;) {
      const got = fs.readSync(fd, raw, done, entry.length - done, entry.offset + done);
      if (got <= 0) throw new InputError('safetensors-truncated', 'the file ends inside a tensor', { tensor: entry.name, file: entry.file });
      done += got;
    }
  } finally {
    fs.closeSync(fd);
  }
  const out = values.subarray(0, n);
  if (entry.dtype === 'F32') out.set(new Float32Array(raw.buffer, raw.byteOffset, n));
  else if (entry.dtype === 'BF16') {
    const u = new Uint16Array(raw.buffer, raw.byteOffset, n);
    const o32 = new Uint32Array(out.buffer, out.byteOffset, n);
    for (let i = 0; i < n; i++) o32[i] = u[i]! << 16;
  } else {
    const u = new Uint16Array(raw.buffer, raw.byteOffset, n);
    for (let i = 0; i < n; i++) out[i] = f16ToF32(u[i]!);
  }
  return out;
}
