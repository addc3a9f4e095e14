// Hugging Face hub access: hub-id parsing, the environment (HF_ENDPOINT, HF_TOKEN, HF_HUB_CACHE/HF_HOME, HF_HUB_OFFLINE),
// the standard cache layout (models--org--name/{blobs,refs,snapshots}) and a resumable file download into it.
//
// Metadata (revision -> commit, file listing) goes through @huggingface/hub (`modelInfo`, `listFiles`). The file transfer
// itself is written here with Node's fetch because @huggingface/hub's `downloadFileToCacheDir` cannot resume a partial
// `.incomplete` blob with a Range request, reports no progress, takes no AbortSignal and names the snapshot after the
// file's last commit instead of the repo commit; the layout and resume protocol follow huggingface_hub's file_download.py.
import { createWriteStream, promises as fs, statSync } from 'node:fs';
import { homedir } from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { HubApiError, getHFHubCachePath } from '@huggingface/hub';
import { InputError, errorMessage } from '../errors';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';
export const DEFAULT_REVISION = 'main';
const COMMIT_HASH = /^[0-9a-f]{40}$/;
const HUB_ID = /^([A-Za-z0-9][\w.-]*)\/([\w.-]+)(?:@(.+))?$/;

export interface HubProgress {
  file: string;
  bytes: number;
  total: number | null;
}

export interface HubId {
  /** "org/name" */
  repo: string;
  /** Branch, tag or commit; DEFAULT_REVISION when none was given. */
  revision: string;
}

/** `org/name` with an optional `@revision`, that is not an existing local folder (relative to baseDir or the cwd). */
export function isHubId(s: string, baseDir?: string): boolean {
  if (!looksLikeHubId(s)) return false;
  return !isDirectorySync(path.resolve(baseDir ?? process.cwd(), s));
}

function looksLikeHubId(s: string): boolean {
  const m = HUB_ID.exec(s);
  if (m === null) return false;
  const name = `${m[1]}/${m[2]}`;
  return !name.includes('..') && !name.includes('--') && !name.endsWith('.') && name.length <= 96 * 2 + 1;
}

function isDirectorySync(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Splits "org/name@rev"; a separate `revision` must agree with an inline one. */
export function parseHubId(s: string, revision?: string): HubId {
  const m = HUB_ID.exec(s);
  if (m === null || !looksLikeHubId(s)) {
    throw new InputError('hub-bad-id', `"${s}" is not a Hugging Face hub id`, { hint: 'Hub ids look like org/name or org/name@revision' });
  }
  const inline = m[3];
  if (inline !== undefined && revision !== undefined && inline !== revision) {
    throw new InputError('hub-revision-conflict', `"${s}" names revision "${inline}" but revision "${revision}" was also given`);
  }
  return { repo: `${m[1]}/${m[2]}`, revision: inline ?? revision ?? DEFAULT_REVISION };
}

export function isCommitHash(revision: string): boolean {
  return COMMIT_HASH.test(revision);
}

// ---------------------------------------------------------------- environment

function isTrue(v: string | undefined): boolean {
  return v !== undefined && ['1', 'on', 'yes', 'true'].includes(v.trim().toLowerCase());
}

export function hubEndpoint(): string {
  const e = process.env['HF_ENDPOINT'];
  return (e !== undefined && e.trim() !== '' ? e.trim() : DEFAULT_ENDPOINT).replace(/\/+$/, '');
}

/** HF_HUB_CACHE, else HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub (as huggingface_hub). */
export function hubCacheDir(): string {
  return getHFHubCachePath();
}

export function hubOffline(): boolean {
  return isTrue(process.env['HF_HUB_OFFLINE']) || isTrue(process.env['TRANSFORMERS_OFFLINE']);
}

/** HF_TOKEN, else the token file huggingface-cli login writes (HF_TOKEN_PATH or $HF_HOME/token). */
export async function hubToken(): Promise<string | null> {
  const env = process.env['HF_TOKEN'] ?? process.env['HUGGING_FACE_HUB_TOKEN'];
  if (env !== undefined && env.trim() !== '') return env.trim();
  const home = process.env['HF_HOME'] ?? path.join(process.env['XDG_CACHE_HOME'] ?? path.join(homedir(), '.cache'), 'huggingface');
  const file = process.env['HF_TOKEN_PATH'] ?? path.join(home, 'token');
  try {
    const t = (await fs.readFile(file, 'utf8')).trim();
    return t === '' ? null : t;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------- cache layout

/** `<cache>/models--org--name` */
export function repoCacheFolder(repo: string, cacheDir: string = hubCacheDir()): string {
  return path.join(cacheDir, ['models', ...repo.split('/')].join('--'));
}

/** The commit a ref (branch/tag) pointed to at the last download, or the revision itself when it is a commit. */
export async function readCachedRef(storage: string, revision: string): Promise<string | null> {
  if (isCommitHash(revision)) return revision;
  try {
    const c = (await fs.readFile(path.join(storage, 'refs', revision), 'utf8')).trim();
    return isCommitHash(c) ? c : null;
  } catch {
    return null;
  }
}

export async function writeCachedRef(storage: string, revision: string, commit: string): Promise<void> {
  if (revision === commit) return;
  const ref = path.join(storage, 'refs', revision);
  await fs.mkdir(path.dirname(ref), { recursive: true });
  await fs.writeFile(ref, commit);
}

export async function fileSize(p: string): Promise<number | null> {
  try {
    const s = await fs.stat(p);
    return s.isFile() ? s.size : null;
  } catch {
    return null;
  }
}

/** snapshots/<commit>/<file> -> ../../blobs/<etag>, relative like huggingface_hub (copy where symlinks are refused). */
export async function linkIntoSnapshot(blobPath: string, pointerPath: string): Promise<void> {
  await fs.mkdir(path.dirname(pointerPath), { recursive: true });
  await fs.rm(pointerPath, { force: true });
  try {
    await fs.symlink(path.relative(path.dirname(pointerPath), blobPath), pointerPath);
  } catch {
    await fs.copyFile(blobPath, pointerPath);
  }
}

// ---------------------------------------------------------------- HTTP

/** Seconds allowed for a metadata request: HF_HUB_ETAG_TIMEOUT as huggingface_hub (default 10), here 30. */
function metadataTimeoutMs(): number {
  const v = Number(process.env['HF_HUB_ETAG_TIMEOUT']);
  return (Number.isFinite(v) && v > 0 ? v : 30) * 1000;
}

export interface HubSession {
  repo: string;
  revision: string;
  endpoint: string;
  token: string | null;
  signal: AbortSignal | undefined;
  /** X-Error-Code of the last failed response (RepoNotFound, RevisionNotFound, GatedRepo, EntryNotFound). */
  lastErrorCode: string | null;
  /** fetch with the Authorization header and the caller's AbortSignal, for @huggingface/hub's `fetch` option. */
  fetch: typeof fetch;
}

export function createHubSession(repo: string, revision: string, token: string | null, signal?: AbortSignal): HubSession {
  const session: HubSession = {
    repo, revision, endpoint: hubEndpoint(), token, signal, lastErrorCode: null,
    fetch: async (input, init) => {
      const headers = new Headers(init?.headers);
      if (token !== null) headers.set('Authorization', `Bearer ${token}`);
      headers.set('User-Agent', 'peft-studio/0.1.0');
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      // Metadata calls (/api/...) get a deadline so a stalled hub falls back to the cache instead of hanging.
      const deadline = url.includes('/api/') ? AbortSignal.timeout(metadataTimeoutMs()) : undefined;
      const signals = [init?.signal ?? signal, deadline].filter((x): x is AbortSignal => x !== undefined && x !== null);
      const res = await fetch(input, { ...init, headers, signal: signals.length === 0 ? null : AbortSignal.any(signals) });
      if (!res.ok) session.lastErrorCode = res.headers.get('X-Error-Code');
      return res;
    },
  };
  return session;
}

/** True for fetch failures that mean "the hub cannot be reached" (refused, DNS, reset, timeout). */
export function isNetworkError(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  if (e.name === 'TimeoutError') return true;
  const cause = (e as { cause?: unknown }).cause;
  const code = typeof cause === 'object' && cause !== null ? (cause as { code?: unknown }).code : undefined;
  if (typeof code === 'string' && /^(ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|UND_ERR_)/.test(code)) return true;
  return e instanceof TypeError && e.message === 'fetch failed';
}

/** Turns an HTTP failure into an InputError that names the hub id and says what to do. */
export function hubHttpError(s: HubSession, status: number, what: string): InputError {
  const id = `${s.repo}@${s.revision}`;
  const code = s.lastErrorCode;
  if (status === 401 || status === 403) {
    const gated = status === 403 || code === 'GatedRepo';
    if (code === 'RepoNotFound' && s.token === null) {
      return new InputError('hub-not-found', `Hugging Face repo "${s.repo}" was not found (or it is private)`, {
        hint: 'Check the id; for a private repo set HF_TOKEN to a token that can read it',
      });
    }
    return new InputError(gated ? 'hub-gated' : 'hub-unauthorized',
      `Access to Hugging Face repo "${s.repo}" was refused (HTTP ${status}${gated ? ', gated model' : ''}) while fetching ${what}`, {
        hint: s.token === null
          ? 'Set HF_TOKEN to an access token of an account that has accepted the model\'s licence on its hub page'
          : `HF_TOKEN was sent but has no access: accept the licence at ${s.endpoint}/${s.repo} with that account, or use a token with read access`,
      });
  }
  if (status === 404) {
    if (code === 'RevisionNotFound') {
      return new InputError('hub-revision-not-found', `Revision "${s.revision}" of Hugging Face repo "${s.repo}" was not found`, {
        hint: 'Use a branch, tag or commit hash that exists in the repo',
      });
    }
    if (code === 'EntryNotFound') {
      return new InputError('hub-file-not-found', `${what} is not in Hugging Face repo ${id}`);
    }
    return new InputError('hub-not-found', `Hugging Face repo "${s.repo}" (revision "${s.revision}") was not found`, {
      hint: 'Check the id (org/name) and the revision',
    });
  }
  return new InputError('hub-http', `The Hugging Face hub answered HTTP ${status} for ${what} of ${id}`);
}

/** Maps an error thrown by @huggingface/hub or fetch; abort errors and InputErrors pass through unchanged. */
export function mapHubError(s: HubSession, e: unknown, what: string): unknown {
  if (e instanceof InputError) return e;
  if (s.signal?.aborted === true) return e;
  if (e instanceof HubApiError) return hubHttpError(s, e.statusCode, what);
  if (isNetworkError(e)) {
    return new InputError('hub-unreachable', `Cannot reach the Hugging Face hub at ${s.endpoint} to fetch ${what} of "${s.repo}"`, {
      hint: 'Check the network (or HF_ENDPOINT); a model downloaded before can be used offline with HF_HUB_OFFLINE=1',
    });
  }
  return e;
}

export interface BlobDownload {
  /** Repo-relative file name (for progress and errors). */
  file: string;
  url: string;
  blobPath: string;
  /** Size from the tree listing; null when unknown (then Content-Length decides). */
  size: number | null;
  onProgress?: ((p: HubProgress) => void) | undefined;
}

const MAX_ATTEMPTS = 4;

/**
 * Downloads a URL into `blobPath` through `blobPath.incomplete`, continuing a partial file with `Range: bytes=N-`
 * (also after a connection dropped mid-file, up to MAX_ATTEMPTS tries), then renames it into place.
 */
export async function downloadBlob(s: HubSession, d: BlobDownload): Promise<void> {
  const incomplete = `${d.blobPath}.incomplete`;
  await fs.mkdir(path.dirname(d.blobPath), { recursive: true });
  let lastError: unknown = null;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    try {
      await downloadAttempt(s, d, incomplete);
      await fs.rename(incomplete, d.blobPath);
      return;
    } catch (e) {
      if (s.signal?.aborted === true || e instanceof InputError) throw e;
      lastError = e;
    }
  }
  const have = (await fileSize(incomplete)) ?? 0;
  throw new InputError('hub-download-failed',
    `Downloading ${d.file} of "${s.repo}" failed after ${MAX_ATTEMPTS} attempts (${have} of ${d.size ?? '?'} bytes kept)`, {
      file: d.file,
      hint: `${errorMessage(lastError)}; run again to continue from the partial file`,
    });
}

async function downloadAttempt(s: HubSession, d: BlobDownload, incomplete: string): Promise<void> {
  let have = (await fileSize(incomplete)) ?? 0;
  if (d.size !== null && have > d.size) have = 0;
  if (d.size !== null && have === d.size) return;
  const headers: Record<string, string> = { 'Accept-Encoding': 'identity' };
  if (have > 0) headers['Range'] = `bytes=${have}-`;
  let res: Response;
  try {
    res = await s.fetch(d.url, { headers });
  } catch (e) {
    throw mapHubError(s, e, d.file);
  }
  if (res.status === 416) {
    // The partial file is not a prefix the server can continue: start over.
    await res.body?.cancel();
    await fs.rm(incomplete, { force: true });
    throw new Error(`range not satisfiable at ${have} bytes`);
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw hubHttpError(s, res.status, d.file);
  }
  if (res.status === 200) have = 0; // the server ignored the Range header: rewrite from the start
  const length = Number(res.headers.get('Content-Length') ?? NaN);
  const total = d.size ?? (Number.isFinite(length) ? have + length : null);
  const out = createWriteStream(incomplete, { flags: have > 0 ? 'a' : 'w' });
  const done = new Promise<void>((resolve, reject) => {
    out.on('finish', resolve);
    out.on('error', reject);
  });
  try {
    if (res.body === null) throw new Error('empty response body');
    d.onProgress?.({ file: d.file, bytes: have, total });
    for await (const chunk of Readable.fromWeb(res.body as NodeReadableStream<Uint8Array>)) {
      const buf = chunk as Buffer;
      if (!out.write(buf)) await new Promise<void>((r) => out.once('drain', r));
      have += buf.length;
      d.onProgress?.({ file: d.file, bytes: have, total });
    }
  } finally {
    out.end();
    await done;
  }
  if (total !== null && have !== total) throw new Error(`connection closed after ${have} of ${total} bytes`);
}
