// Small HTTP helpers of the server: bodies read under a size cap, JSON and OpenAI-style error answers, bearer-key
// checks in constant time, and the allowed-roots rule for adapter folders loaded at runtime.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import type * as http from 'node:http';
import * as path from 'node:path';
import { InputError } from '../errors';
import { MAX_JSON_DEPTH, deepNestingAt } from '../util/safeJson';

export class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly type = 'invalid_request_error') {
    super(message);
  }
}

/** The body as JSON; over `cap` bytes is a 413, invalid JSON a 400. */
export function readJson(req: http.IncomingMessage, cap: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > cap) {
      reject(new HttpError(413, `the body is larger than ${cap} bytes`));
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > cap && !failed) {
        failed = true;
        reject(new HttpError(413, `the body is larger than ${cap} bytes`));
      }
      if (!failed) chunks.push(c);
    });
    req.on('end', () => {
      if (failed) return;
      const text = Buffer.concat(chunks).toString('utf8');
      if (deepNestingAt(text) !== null) {
        reject(new HttpError(400, `the body nests arrays/objects more than ${MAX_JSON_DEPTH} levels deep`));
        return;
      }
      try {
        resolve(text.trim() === '' ? {} : JSON.parse(text));
      } catch {
        reject(new HttpError(400, 'the body is not valid JSON'));
      }
    });
    req.on('error', (e) => { if (!failed) reject(e); });
  });
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** OpenAI's error object. */
export function sendError(res: http.ServerResponse, status: number, message: string, type = 'invalid_request_error'): void {
  if (res.headersSent) {
    if (!res.writableEnded) res.end();
    return;
  }
  sendJson(res, status, { error: { message, type, param: null, code: status } });
}

/** True when the request carries `Authorization: Bearer KEY` (constant-time compare). */
export function authorized(req: http.IncomingMessage, key: string): boolean {
  const h = req.headers['authorization'];
  if (typeof h !== 'string' || !h.startsWith('Bearer ')) return false;
  const a = crypto.createHash('sha256').update(h.slice(7)).digest();
  const b = crypto.createHash('sha256').update(key).digest();
  return crypto.timingSafeEqual(a, b);
}

/** The real path of a folder loaded at runtime; refused unless it lies inside one of the allowed roots. */
export function allowedFolder(dir: string, roots: readonly string[]): string {
  if (!path.isAbsolute(dir)) throw new InputError('serve-path', `"lora_path" must be an absolute folder`, { actual: dir });
  let real: string;
  try {
    real = fs.realpathSync(dir);
  } catch {
    throw new InputError('serve-path', 'the adapter folder does not exist', { file: dir });
  }
  const ok = roots.some((r) => {
    let root: string;
    try {
      root = fs.realpathSync(r);
    } catch {
      return false;
    }
    const rel = path.relative(root, real);
    return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
  });
  if (!ok) {
    throw new InputError('serve-path-not-allowed', 'the adapter folder is outside the allowed roots', {
      file: dir, hint: `Allowed: ${roots.join(', ')} (start the server with --allow-root DIR to add one)`,
    });
  }
  return real;
}
