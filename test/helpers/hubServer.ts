// A stand-in Hugging Face hub on 127.0.0.1 (node:http) for tests: the model info, tree listing and resolve endpoints
// that @huggingface/hub and src/core/hf call, with ETag / X-Repo-Commit / Range, gated repos, 404s and dropped connections.
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StandInFile {
  path: string;
  data: Buffer;
  /** Served as an LFS file (sha256 ETag via X-Linked-Etag); default: names ending in .safetensors/.bin. */
  lfs?: boolean;
}

export interface StandInRepo {
  /** "org/name" */
  id: string;
  files: StandInFile[];
  /** Extra branches/tags -> commit; "main" always points at the repo's commit. */
  refs?: Record<string, string>;
  /** Gated: only `Authorization: Bearer <token>` gets in (401 without a token, 403 with another one). */
  gatedToken?: string;
}

export interface LoggedRequest {
  method: string;
  path: string;
  authorization: string | null;
  range: string | null;
}

interface ServedFile {
  path: string;
  data: Buffer;
  oid: string;
  sha256: string;
  lfs: boolean;
}

interface ServedRepo {
  spec: StandInRepo;
  commit: string;
  files: Map<string, ServedFile>;
}

export interface HubServer {
  url: string;
  requests: LoggedRequest[];
  /** Requests whose path contains "/resolve/". */
  downloads(): LoggedRequest[];
  /** While true, /api/ requests get no answer (a stalled hub). */
  stallApi(on: boolean): void;
  /** The next `times` downloads of `file` send `bytes` bytes of the body and then cut the connection. */
  dropAfter(file: string, bytes: number, times?: number): void;
  commitOf(repo: string): string;
  close(): Promise<void>;
}

function gitBlobOid(data: Buffer): string {
  return createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex');
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, errorCode?: string): void {
  const text = JSON.stringify(body);
  const headers: http.OutgoingHttpHeaders = { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) };
  if (errorCode !== undefined) {
    headers['X-Error-Code'] = errorCode;
    headers['X-Error-Message'] = (body as { error?: string }).error ?? '';
  }
  res.writeHead(status, headers);
  res.end(text);
}

export async function startHubServer(repos: StandInRepo[]): Promise<HubServer> {
  const served = new Map<string, ServedRepo>();
  for (const spec of repos) {
    const files = new Map<string, ServedFile>();
    for (const f of spec.files) {
      files.set(f.path, {
        path: f.path, data: f.data, oid: gitBlobOid(f.data), sha256: createHash('sha256').update(f.data).digest('hex'),
        lfs: f.lfs ?? /\.(safetensors|bin)$/.test(f.path),
      });
    }
    served.set(spec.id, { spec, commit: createHash('sha1').update(`commit ${spec.id}`).digest('hex'), files });
  }
  const requests: LoggedRequest[] = [];
  const drops = new Map<string, { bytes: number; times: number }>();
  let stalled = false;

  const resolveRev = (repo: ServedRepo, rev: string): string | null => {
    if (rev === 'main' || rev === 'HEAD' || rev === repo.commit) return repo.commit;
    const refs = repo.spec.refs ?? {};
    return refs[rev] ?? (Object.values(refs).includes(rev) ? rev : null);
  };

  /** Access check as the real hub: unknown repos are 401 without a token (RepoNotFound), 404 with one. */
  const access = (req: http.IncomingMessage, res: http.ServerResponse, id: string): ServedRepo | null => {
    const auth = req.headers.authorization ?? null;
    const repo = served.get(id);
    if (repo === undefined) {
      sendJson(res, auth === null ? 401 : 404, { error: 'Repository not found' }, 'RepoNotFound');
      return null;
    }
    const gated = repo.spec.gatedToken;
    if (gated !== undefined && auth !== `Bearer ${gated}`) {
      if (auth === null) sendJson(res, 401, { error: `Access to model ${id} is restricted. You must have access to it and be authenticated to access it. Please log in.` }, 'GatedRepo');
      else sendJson(res, 403, { error: `Access to model ${id} is restricted and you are not in the authorized list.` }, 'GatedRepo');
      return null;
    }
    return repo;
  };

  const serveFile = (req: http.IncomingMessage, res: http.ServerResponse, commit: string, f: ServedFile): void => {
    const size = f.data.length;
    const headers: http.OutgoingHttpHeaders = {
      'ETag': `"${f.lfs ? f.sha256 : f.oid}"`, 'X-Repo-Commit': commit, 'Accept-Ranges': 'bytes', 'Content-Type': 'application/octet-stream',
    };
    if (f.lfs) {
      headers['X-Linked-Etag'] = `"${f.sha256}"`;
      headers['X-Linked-Size'] = String(size);
    }
    let start = 0;
    let end = size - 1;
    let status = 200;
    const range = req.headers.range;
    if (range !== undefined) {
      const m = /^bytes=(\d+)-(\d*)$/.exec(range);
      if (m === null || Number(m[1]) >= size) {
        res.writeHead(416, { 'Content-Range': `bytes */${size}` });
        res.end();
        return;
      }
      start = Number(m[1]);
      if (m[2] !== undefined && m[2] !== '') end = Math.min(Number(m[2]), size - 1);
      status = 206;
      headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    }
    headers['Content-Length'] = end - start + 1;
    res.writeHead(status, headers);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const body = f.data.subarray(start, end + 1);
    const drop = drops.get(f.path);
    if (drop !== undefined && drop.times > 0) {
      drop.times -= 1;
      res.write(body.subarray(0, Math.min(drop.bytes, body.length)), () => res.socket?.end());
      return;
    }
    res.end(body);
  };

  const handle = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const p = decodeURIComponent(url.pathname);
    requests.push({ method: req.method ?? 'GET', path: url.pathname, authorization: req.headers.authorization ?? null, range: req.headers.range ?? null });
    if (stalled && p.startsWith('/api/')) return; // never answered
    let m = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/(.+)$/.exec(p);
    if (m !== null) {
      const repo = access(req, res, m[1] ?? '');
      if (repo === null) return;
      const commit = resolveRev(repo, m[2] ?? '');
      if (commit === null) return sendJson(res, 404, { error: `Invalid rev id: ${m[2]}` }, 'RevisionNotFound');
      return sendJson(res, 200, {
        _id: `id-${repo.spec.id}`, id: repo.spec.id, sha: commit, private: false, gated: repo.spec.gatedToken !== undefined ? 'manual' : false,
        downloads: 0, likes: 0, lastModified: '2026-01-01T00:00:00.000Z', pipeline_tag: 'text-generation',
        siblings: [...repo.files.keys()].map((rfilename) => ({ rfilename })),
      });
    }
    m = /^\/api\/models\/([^/]+\/[^/]+)\/tree\/([^/]+)(?:\/(.*))?$/.exec(p);
    if (m !== null) {
      const repo = access(req, res, m[1] ?? '');
      if (repo === null) return;
      if (resolveRev(repo, m[2] ?? '') === null) return sendJson(res, 404, { error: `Invalid rev id: ${m[2]}` }, 'RevisionNotFound');
      return sendJson(res, 200, [...repo.files.values()].map((f) => ({
        type: 'file', oid: f.oid, size: f.data.length, path: f.path,
        ...(f.lfs ? { lfs: { oid: f.sha256, size: f.data.length, pointerSize: 134 } } : {}),
      })));
    }
    m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(p);
    if (m !== null) {
      const repo = access(req, res, m[1] ?? '');
      if (repo === null) return;
      const commit = resolveRev(repo, m[2] ?? '');
      if (commit === null) return sendJson(res, 404, { error: `Invalid rev id: ${m[2]}` }, 'RevisionNotFound');
      const f = repo.files.get(m[3] ?? '');
      if (f === undefined) return sendJson(res, 404, { error: 'Entry not found' }, 'EntryNotFound');
      return serveFile(req, res, commit, f);
    }
    sendJson(res, 404, { error: 'Not found' });
  };

  const server = http.createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    downloads: () => requests.filter((r) => r.path.includes('/resolve/')),
    stallApi: (on) => { stalled = on; },
    dropAfter: (file, bytes, times = 1) => { drops.set(file, { bytes, times }); },
    commitOf: (repo) => served.get(repo)?.commit ?? '',
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
