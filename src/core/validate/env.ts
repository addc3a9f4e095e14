// What the validator may look up outside the text, with safe defaults: paths on disk, devices
// onnxruntime-node can use here, hub ids, and data-set line counts (cached by size and mtime).
import { installedDevices } from '../runtime/device';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { suggest } from '../util/didYouMean';
import type { PathKind, ValidationContext } from './types';
import { deepNestingAt } from '../util/safeJson';

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

/**
 * The entry beside a missing path whose name is closest to it (data/trian.jsonl → data/train.jsonl), of the kind
 * wanted; null when the folder cannot be listed or nothing there is close.
 */
export function nearMatch(ctx: ValidationContext, absPath: string, kind: 'file' | 'dir'): string | null {
  const dir = path.dirname(absPath);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return null;
  }
  const candidates = names.filter((n) => pathKindOf(ctx, path.join(dir, n)) === kind);
  const best = suggest(path.basename(absPath), candidates, 1)[0];
  return best !== undefined ? best : null;
}

/** A hub repo id `org/name` (or a bare canonical name like `gpt2`) that is not a local path. */
export function looksLikeHubId(s: string): boolean {
  if (s.startsWith('.') || s.startsWith('/') || s.startsWith('~') || s.includes('\\') || /^[A-Za-z]:/.test(s)) return false;
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,95}(\/[A-Za-z0-9][A-Za-z0-9._-]{0,95})?$/.test(s) && !s.includes('..') && !s.endsWith('.');
}

/** Devices usable here, as the recipe check and the CodeLens need them: runtime/device.ts's file-only look. */
export function defaultAvailableDevices(): string[] {
  return installedDevices();
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
    if (line === undefined || deepNestingAt(line) !== null) return null;
    const v: unknown = JSON.parse(line);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
