// What the validator may look up outside the text, with safe defaults: paths on disk, devices
// onnxruntime-node can use here, hub ids, and data-set line counts (cached by size and mtime).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { PathKind, ValidationContext } from './types';

export function defaultPathKind(p: string): PathKind {
  try {
    const st = fs.statSync(p);
    return st.isDirectory() ? 'dir' : st.isFile() ? 'file' : null;
  } catch {
    return null;
  }
}

export function pathKindOf(ctx: ValidationContext, p: string): PathKind {
  try {
    return (ctx.pathKind ?? defaultPathKind)(p);
  } catch {
    return null;
  }
}

/** A hub repo id `org/name` (or a bare canonical name like `gpt2`) that is not a local path. */
export function looksLikeHubId(s: string): boolean {
  if (s.startsWith('.') || s.startsWith('/') || s.startsWith('~') || s.includes('\\') || /^[A-Za-z]:/.test(s)) return false;
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,95}(\/[A-Za-z0-9][A-Za-z0-9._-]{0,95})?$/.test(s) && !s.includes('..') && !s.endsWith('.');
}

let devicesCache: string[] | undefined;

/**
 * Devices usable here: cpu always; webgpu when onnxruntime-node bundles it; cuda when its provider library is
 * installed next to the binding (listSupportedBackends reports cuda as bundled:false until it is).
 */
export function defaultAvailableDevices(): string[] {
  if (devicesCache !== undefined) return devicesCache;
  const out = ['cpu'];
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const ort = require('onnxruntime-node') as { listSupportedBackends?: () => { name: string; bundled: boolean }[] };
    const backends = ort.listSupportedBackends?.() ?? [];
    const bin = path.join(path.dirname(require.resolve('onnxruntime-node/package.json')), 'bin', 'napi-v6', process.platform, process.arch);
    for (const b of backends) {
      if (b.name === 'webgpu' && b.bundled) out.push('webgpu');
      if (b.name === 'cuda') {
        const lib = process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
        if (b.bundled || fs.existsSync(path.join(bin, lib))) out.push('cuda');
      }
    }
  } catch {
    // onnxruntime-node missing: only the CPU is certain (training would fail anyway and say so).
  }
  devicesCache = out;
  return out;
}

const lineCounts = new Map<string, { size: number; mtimeMs: number; lines: number }>();

/** Non-blank lines of a file (examples of a JSONL data set), cached by size+mtime; null when unreadable or > 256 MB. */
export function countExamples(file: string): number | null {
  try {
    const st = fs.statSync(file);
    if (!st.isFile() || st.size > 256 * 1024 * 1024) return null;
    const hit = lineCounts.get(file);
    if (hit && hit.size === st.size && hit.mtimeMs === st.mtimeMs) return hit.lines;
    const text = fs.readFileSync(file, 'utf8');
    let lines = 0;
    for (const l of text.split('\n')) if (l.trim() !== '') lines++;
    lineCounts.set(file, { size: st.size, mtimeMs: st.mtimeMs, lines });
    return lines;
  } catch {
    return null;
  }
}

/** The first non-blank line of a file parsed as a JSON object (reads at most 1 MiB), or null. */
export function firstExample(file: string): Record<string, unknown> | null {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const buf = Buffer.alloc(1 << 20);
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    const line = buf.subarray(0, n).toString('utf8').split('\n').find((l) => l.trim() !== '');
    if (line === undefined) return null;
    const v: unknown = JSON.parse(line);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
