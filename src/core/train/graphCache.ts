// Cache of compiled training graphs: one folder per (model config, weight files, LoRA targets, options, compiler
// version), holding the .onnx files beside hard links to the safetensors they reference as external data (docs/ONNXRUNTIME.md).
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../errors';
import type { ModelInventory } from '../hf/types';
import { QUANT_FILE_PREFIX } from '../quant/quantCache';
import { openCheckpoint } from '../safetensors/checkpoint';
import { readJsonObject } from '../util/safeJson';

/** Bump when the emitted graphs change meaning: old cache folders are then ignored. */
export const COMPILER_VERSION = 'peft-studio-graph-6';

/** Written in each cache folder: the model folder its weight links came from (for pruning). */
const SOURCE_FILE = 'source.json';

/** Identity of a weight file: a changed file (size, mtime, inode) gives a new cache key. */
export interface FileIdentity {
  name: string;
  size: number;
  mtimeMs: number;
  ino: number;
}

export function fileIdentity(file: string): FileIdentity {
  const st = fs.statSync(file);
  return { name: path.basename(file), size: st.size, mtimeMs: Math.floor(st.mtimeMs), ino: st.ino };
}

/** Safetensors files of a checkpoint folder (model.safetensors, or the shards of model.safetensors.index.json). */
export function weightFiles(dir: string): string[] {
  return openCheckpoint(dir).files;
}

/** A stable hash of everything the compiled graphs depend on. */
export function cacheKey(inventory: ModelInventory, parts: unknown): string {
  const h = createHash('sha256');
  h.update(COMPILER_VERSION);
  h.update(JSON.stringify(inventory.spec));
  h.update(JSON.stringify(weightFiles(inventory.dir).map(fileIdentity)));
  h.update(JSON.stringify(parts));
  return h.digest('hex').slice(0, 24);
}

export interface GraphFolder {
  /** Folder where the .onnx files go; the weight files are reachable from it under their own names. */
  dir: string;
  /** true when `dir` is the model folder itself (hard links were impossible). */
  inModelFolder: boolean;
  key: string;
}

function sameFile(a: string, b: string): boolean {
  try {
    const sa = fs.statSync(a);
    const sb = fs.statSync(b);
    return sa.ino === sb.ino && sa.dev === sb.dev;
  } catch {
    return false;
  }
}

/**
 * Prepares `cacheDir/<key>/` with hard links to the model's weight files, so that ORT accepts them as external
 * data of an .onnx file written there. When hard links fail (another file system, no permission), the graphs go
 * beside the weights in the model folder as `.peft-studio-<key>-*.onnx`; when that folder is not writable either,
 * a clear InputError.
 */
export function prepareGraphFolder(cacheDir: string, inventory: ModelInventory, key: string, extraFiles: readonly string[] = []): GraphFolder {
  const files = [...weightFiles(inventory.dir), ...extraFiles];
  pruneStale(cacheDir, key);
  const dir = path.join(cacheDir, key);
  let linkError: unknown;
  try {
    fs.mkdirSync(dir, { recursive: true });
    for (const f of files) {
      const target = path.join(dir, path.basename(f));
      if (sameFile(target, f)) continue;
      fs.rmSync(target, { force: true });
      fs.linkSync(fs.realpathSync(f), target); // realpath: a hub-cache snapshot entry is a symlink into blobs/
    }
    fs.writeFileSync(path.join(dir, SOURCE_FILE), JSON.stringify({ dir: path.resolve(inventory.dir) }));
    return { dir, inModelFolder: false, key };
  } catch (e) {
    linkError = e;
  }
  if (extraFiles.length > 0) {
    throw new InputError('engine-no-graph-folder', `cannot hard-link the weights and the quantized base into the graph cache (${String(linkError)})`, {
      file: inventory.dir,
      hint: `Put the cache folder (${cacheDir}) on the same file system as the model: onnxruntime only reads external weights from the folder of the graph file`,
    });
  }
  try {
    fs.accessSync(inventory.dir, fs.constants.W_OK);
  } catch {
    throw new InputError('engine-no-graph-folder', `cannot hard-link the weights into the graph cache (${String(linkError)}) and the model folder is not writable`, {
      file: inventory.dir,
      hint: `Put the cache folder (${cacheDir}) on the same file system as the model, or make the model folder writable: onnxruntime only reads external weights from the folder of the graph file`,
    });
  }
  return { dir: inventory.dir, inModelFolder: true, key };
}

/**
 * Removes cache folders whose weight links no longer match the files of the model folder they came from (recorded in
 * source.json): the model's files were replaced or deleted, so the folder can never be used again and its hard links
 * only keep old weights on disk.
 */
export function pruneStale(cacheDir: string, keep: string): void {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(cacheDir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    if (!e.isDirectory() || e.name === keep || !/^[0-9a-f]{24}$/.test(e.name)) continue;
    const dir = path.join(cacheDir, e.name);
    try {
      const source = (readJsonObject(path.join(dir, SOURCE_FILE)) as { dir: string }).dir;
      // The quantized base (src/core/quant) is linked from the cache itself, not from the model folder.
      const links = fs.readdirSync(dir).filter((f) => f.endsWith('.safetensors') && !f.startsWith(QUANT_FILE_PREFIX));
      const stale = links.some((f) => {
        const original = path.join(source, f);
        return !fs.existsSync(original) || !sameFile(original, path.join(dir, f));
      });
      if (stale) fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // no source.json, or another process is using or removing it: leave it
    }
  }
}

/** Path of one compiled graph (`step`, `grad`, `apply`, `eval`) in a graph folder. */
export function graphPath(folder: GraphFolder, kind: string): string {
  return folder.inModelFolder
    ? path.join(folder.dir, `.peft-studio-${folder.key}-${kind}.onnx`)
    : path.join(folder.dir, `${kind}.onnx`);
}
