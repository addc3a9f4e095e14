// Turns a `base_model` value (local folder or hub id "org/name[@rev]") into a local folder with config.json, tokenizer
// files and safetensors weights, downloading only those files into the shared Hugging Face cache (reused by transformers).
import { promises as fs } from 'node:fs';
import { homedir } from 'node:os';
import * as path from 'node:path';
import { listFiles, modelInfo } from '@huggingface/hub';
import { InputError } from '../errors';
import { parseJsonText } from '../util/safeJson';
import {
  type HubProgress, type HubSession, createHubSession, downloadBlob, fileSize, hubCacheDir, hubOffline, hubToken,
  isCommitHash, isHubId, linkIntoSnapshot, mapHubError, parseHubId, readCachedRef, repoCacheFolder,
  writeCachedRef,
} from './hub';

export interface ResolveModelOptions {
  /** Branch, tag or commit (an inline "@rev" in the id must agree). */
  revision?: string;
  onProgress?: (p: HubProgress) => void;
  signal?: AbortSignal;
  /** Folder that relative local paths are resolved against (default: cwd). */
  baseDir?: string;
}

/** Small files fetched when the repo has them (config.json is required). */
export const MODEL_METADATA_FILES = [
  'config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json',
  'chat_template.jinja', 'chat_template.json',
] as const;
export const SAFETENSORS_FILE = 'model.safetensors';
export const SAFETENSORS_INDEX_FILE = 'model.safetensors.index.json';

/** A local folder or a snapshot folder of the hub cache holding config.json, tokenizer files and the weights. */
export async function resolveModel(pathOrId: string, opts: ResolveModelOptions = {}): Promise<string> {
  const local = await resolveLocal(pathOrId, opts.baseDir);
  if (local !== null) return local;
  return resolveHub(pathOrId, opts, false);
}

/** Like resolveModel but fetches only config.json (for config-only inventories before the weights are downloaded). */
export async function resolveModelConfigOnly(pathOrId: string, opts: ResolveModelOptions = {}): Promise<string> {
  const local = await resolveLocal(pathOrId, opts.baseDir);
  if (local !== null) return local;
  return resolveHub(pathOrId, opts, true);
}

async function resolveLocal(pathOrId: string, baseDir: string | undefined): Promise<string | null> {
  const expanded = pathOrId.startsWith('~/') ? path.join(homedir(), pathOrId.slice(2)) : pathOrId;
  const dir = path.resolve(baseDir ?? process.cwd(), expanded);
  const st = await fs.stat(dir).catch(() => null);
  if (st !== null && st.isDirectory()) {
    if ((await fileSize(path.join(dir, 'config.json'))) === null) {
      throw new InputError('model-no-config', `${dir} is not a Hugging Face model folder: it has no config.json`, {
        file: dir, hint: 'Point base_model at the folder that holds config.json and the .safetensors weights',
      });
    }
    return dir;
  }
  if (isHubId(pathOrId, baseDir)) return null;
  if (st !== null) {
    throw new InputError('model-not-a-folder', `${dir} is a file; the model must be a folder (config.json + weights) or a hub id`, { file: dir });
  }
  throw new InputError('model-not-found', `Model "${pathOrId}" is neither a local folder (${dir} does not exist) nor a hub id`, {
    hint: 'Use a folder with config.json and .safetensors weights, or a hub id such as org/name (e.g. openai-community/gpt2)',
  });
}

interface TreeFile {
  path: string;
  size: number;
  etag: string;
}

async function resolveHub(id: string, opts: ResolveModelOptions, configOnly: boolean): Promise<string> {
  const { repo, revision } = parseHubId(id, opts.revision);
  const storage = repoCacheFolder(repo, hubCacheDir());
  const cached = async (): Promise<string | null> => {
    const commit = await readCachedRef(storage, revision);
    if (commit === null) return null;
    const dir = path.join(storage, 'snapshots', commit);
    return (await snapshotComplete(dir, configOnly)) ? dir : null;
  };
  if (hubOffline()) {
    const dir = await cached();
    if (dir !== null) return dir;
    throw new InputError('hub-offline-missing',
      `HF_HUB_OFFLINE is set and "${repo}" (revision "${revision}") is not ${configOnly ? 'in' : 'complete in'} the cache ${hubCacheDir()}`, {
        hint: 'Download it once with network access (unset HF_HUB_OFFLINE), or point base_model at a local folder',
      });
  }
  if (isCommitHash(revision)) {
    const dir = await cached();
    if (dir !== null) return dir; // a commit never changes: no request at all
  }
  const session = createHubSession(repo, revision, await hubToken(), opts.signal);
  let commit: string;
  try {
    commit = await resolveCommit(session);
  } catch (e) {
    const mapped = mapHubError(session, e, 'the repo info');
    if (mapped instanceof InputError && mapped.code === 'hub-unreachable') {
      const dir = await cached(); // like transformers: fall back to the cached snapshot when the hub is unreachable
      if (dir !== null) return dir;
    }
    throw mapped;
  }
  await writeCachedRef(storage, revision, commit);
  const snapshot = path.join(storage, 'snapshots', commit);
  if (await snapshotComplete(snapshot, configOnly)) return snapshot;
  try {
    await downloadSnapshot(session, storage, commit, configOnly, opts.onProgress);
  } catch (e) {
    throw mapHubError(session, e, 'the model files');
  }
  return snapshot;
}

async function resolveCommit(s: HubSession): Promise<string> {
  if (isCommitHash(s.revision)) return s.revision;
  const info = await modelInfo({ name: s.repo, revision: s.revision, additionalFields: ['sha'], hubUrl: s.endpoint, fetch: s.fetch });
  const sha: unknown = (info as { sha?: unknown }).sha;
  if (typeof sha !== 'string' || !isCommitHash(sha)) {
    throw new InputError('hub-bad-response', `The hub at ${s.endpoint} returned no commit for "${s.repo}" at "${s.revision}"`);
  }
  return sha;
}

async function listTopLevel(s: HubSession, commit: string): Promise<Map<string, TreeFile>> {
  const files = new Map<string, TreeFile>();
  for await (const e of listFiles({ repo: s.repo, revision: commit, recursive: false, hubUrl: s.endpoint, fetch: s.fetch })) {
    if (e.type !== 'file') continue;
    // Blob names as huggingface_hub: the LFS sha256 for LFS files (X-Linked-Etag), the git blob id otherwise (ETag).
    const etag = e.lfs?.oid ?? e.oid;
    if (etag === undefined) continue;
    files.set(e.path, { path: e.path, size: e.lfs?.size ?? e.size, etag });
  }
  return files;
}

/** Which files of the listing to fetch; errors when there are no safetensors weights. */
export function selectModelFiles(repo: string, names: string[], configOnly: boolean): { metadata: string[]; weights: string[]; index: string | null } {
  const have = new Set(names);
  if (!have.has('config.json')) {
    throw new InputError('hub-no-config', `Hugging Face repo "${repo}" has no config.json: it is not a transformers model`, {
      hint: 'Use the id of a causal language model repo (with config.json and .safetensors weights)',
    });
  }
  if (configOnly) return { metadata: ['config.json'], weights: [], index: null };
  const metadata = MODEL_METADATA_FILES.filter((f) => have.has(f));
  if (have.has(SAFETENSORS_FILE)) return { metadata, weights: [SAFETENSORS_FILE], index: null };
  if (have.has(SAFETENSORS_INDEX_FILE)) return { metadata, weights: [], index: SAFETENSORS_INDEX_FILE };
  const bins = names.filter((n) => n.endsWith('.bin') || n.endsWith('.pt') || n.endsWith('.pth'));
  if (bins.length > 0) {
    throw new InputError('hub-no-safetensors',
      `Hugging Face repo "${repo}" has only PyTorch weights (${bins.slice(0, 3).join(', ')}${bins.length > 3 ? ', ...' : ''}) and no model.safetensors`, {
        hint: 'PEFT Studio reads safetensors only: pick a revision or a repo with .safetensors weights, or convert it (e.g. the hub\'s "convert to safetensors" PR)',
      });
  }
  throw new InputError('hub-no-safetensors', `Hugging Face repo "${repo}" has no model.safetensors or model.safetensors.index.json`, {
    hint: 'PEFT Studio needs safetensors weights in the repo\'s top folder',
  });
}

async function downloadSnapshot(s: HubSession, storage: string, commit: string, configOnly: boolean,
  onProgress: ((p: HubProgress) => void) | undefined): Promise<void> {
  const tree = await listTopLevel(s, commit);
  const plan = selectModelFiles(s.repo, [...tree.keys()], configOnly);
  const fetchOne = async (name: string): Promise<void> => {
    const entry = tree.get(name);
    if (entry === undefined) {
      throw new InputError('hub-missing-shard', `${name} is listed in ${SAFETENSORS_INDEX_FILE} but is not in "${s.repo}"`, { file: name });
    }
    await fetchIntoCache(s, storage, commit, entry, onProgress);
  };
  // Order matters: the weights come last, so a snapshot with complete weights has every other file too.
  for (const f of plan.metadata) await fetchOne(f);
  if (plan.index !== null) {
    await fetchOne(plan.index);
    const shards = await readIndexShards(path.join(storage, 'snapshots', commit, plan.index));
    for (const f of shards) await fetchOne(f);
  }
  for (const f of plan.weights) await fetchOne(f);
}

/** Blob downloads in flight in this process, so two callers (validator and trainer) never write one .incomplete file. */
const inflight = new Map<string, Promise<void>>();

async function fetchIntoCache(s: HubSession, storage: string, commit: string, f: TreeFile,
  onProgress: ((p: HubProgress) => void) | undefined): Promise<void> {
  const pointer = path.join(storage, 'snapshots', commit, f.path);
  if ((await fileSize(pointer)) === f.size) return;
  const blob = path.join(storage, 'blobs', f.etag);
  // Look up and register the job with no await in between, so concurrent callers share one download.
  let job = inflight.get(blob);
  if (job === undefined) {
    const url = `${s.endpoint}/${s.repo}/resolve/${commit}/${f.path.split('/').map(encodeURIComponent).join('/')}`;
    job = (async (): Promise<void> => {
      try {
        if ((await fileSize(blob)) !== f.size) await downloadBlob(s, { file: f.path, url, blobPath: blob, size: f.size, onProgress });
      } finally {
        inflight.delete(blob);
      }
    })();
    inflight.set(blob, job);
  }
  await job;
  await linkIntoSnapshot(blob, pointer);
}

/** Shard file names of a model.safetensors.index.json, in first-use order. */
export async function readIndexShards(indexPath: string): Promise<string[]> {
  let text: string;
  try {
    text = await fs.readFile(indexPath, 'utf8');
  } catch (e) {
    throw new InputError('bad-safetensors-index', `Cannot read ${path.basename(indexPath)}: ${(e as NodeJS.ErrnoException).code ?? 'read error'}`, { file: indexPath });
  }
  const parsed = parseJsonText(text, indexPath, path.basename(indexPath), 0, 'bad-safetensors-index');
  const map = typeof parsed === 'object' && parsed !== null ? (parsed as { weight_map?: unknown }).weight_map : undefined;
  if (typeof map !== 'object' || map === null) {
    throw new InputError('bad-safetensors-index', `${path.basename(indexPath)} has no "weight_map" object`, { file: indexPath });
  }
  const shards = new Set<string>();
  for (const v of Object.values(map)) {
    if (typeof v !== 'string' || v.includes('..') || path.isAbsolute(v)) {
      throw new InputError('bad-safetensors-index', `${path.basename(indexPath)} maps a tensor to an invalid file ${JSON.stringify(v)}`, { file: indexPath });
    }
    shards.add(v);
  }
  return [...shards];
}

/** config.json present, and (unless configOnly) model.safetensors or the index with every shard it names. */
export async function snapshotComplete(dir: string, configOnly: boolean): Promise<boolean> {
  if ((await fileSize(path.join(dir, 'config.json'))) === null) return false;
  if (configOnly) return true;
  if ((await fileSize(path.join(dir, SAFETENSORS_FILE))) !== null) return true;
  const index = path.join(dir, SAFETENSORS_INDEX_FILE);
  if ((await fileSize(index)) === null) return false;
  try {
    for (const shard of await readIndexShards(index)) {
      if ((await fileSize(path.join(dir, shard))) === null) return false;
    }
    return true;
  } catch {
    return false;
  }
}

