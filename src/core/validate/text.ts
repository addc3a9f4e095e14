// Offsets ↔ 0-based line/character positions for the parsers' ranges, plus small helpers to build Problems.
// One LineIndex per validated text; lookups are binary searches so per-key ranges stay cheap.
import type { Position, Problem, QuickFix, Range, Severity } from './types';

export class LineIndex {
  private readonly starts: number[] = [0];

  constructor(readonly text: string) {
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) this.starts.push(i + 1);
  }

  position(offset: number): Position {
    const o = Math.max(0, Math.min(offset, this.text.length));
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= o) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo, character: o - this.starts[lo]! };
  }

  range(start: number, end: number): Range {
    return { start: this.position(start), end: this.position(Math.max(start, end)) };
  }

  /** The whole line `line` (0-based), without its line break. */
  lineRange(line: number): Range {
    const s = this.starts[line] ?? this.text.length;
    let e = this.starts[line + 1] !== undefined ? this.starts[line + 1]! - 1 : this.text.length;
    if (e > s && this.text.charCodeAt(e - 1) === 13) e--;
    return this.range(s, e);
  }
}

export function problem(range: Range, severity: Severity, code: string, message: string, fix?: QuickFix, data?: Record<string, unknown>): Problem {
  const p: Problem = { range, severity, code, message };
  if (fix !== undefined) p.fix = fix;
  if (data !== undefined) p.data = data;
  return p;
}

export const ZERO_RANGE: Range = { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };

/** Applies non-overlapping edits to a text (used by tests and the CLI's --fix-free previews). */
export function applyEdits(text: string, edits: readonly { range: Range; newText: string }[]): string {
  const lineStart = (p: Position): number => {
    let off = 0;
    for (let l = 0; l < p.line; l++) {
      const nl = text.indexOf('\n', off);
      if (nl < 0) return text.length;
      off = nl + 1;
    }
    return off + p.character;
  };
  const spans = edits.map((e) => ({ s: lineStart(e.range.start), e: lineStart(e.range.end), t: e.newText })).sort((a, b) => b.s - a.s);
  let out = text;
  for (const sp of spans) out = out.slice(0, sp.s) + sp.t + out.slice(sp.e);
  return out;
}

/** Plain-language description of a JSON/YAML value's type for messages. */
export function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 37) + '...' : v)}`;
  return `${typeof v} ${String(v)}`;
}
