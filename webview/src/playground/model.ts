// The Playground webview's data: each column's streamed tokens, result or error, chat history, and where the
// columns' answers diverge (the first token position at which they are not all the same).
import type { ChatTurn, PgColumnResult, PgSampling } from '../../../src/shared/playground';

export interface ColumnOutput {
  tokens: number[];
  pieces: string[];
  result?: PgColumnResult;
  error?: string;
  /** Chat mode: the turns before the current answer (the user's turns and this column's earlier answers). */
  history: ChatTurn[];
}

export function emptyOutput(): ColumnOutput {
  return { tokens: [], pieces: [], history: [] };
}

/**
 * The first token index at which the columns' answers differ (a different token, or one answer ending where another
 * goes on); undefined when fewer than two columns have answers or all are the same so far. Errored columns do not count.
 */
export function firstDivergence(cols: readonly ColumnOutput[]): number | undefined {
  const live = cols.filter((c) => c.error === undefined && (c.tokens.length > 0 || c.result !== undefined));
  if (live.length < 2) return undefined;
  const n = Math.max(...live.map((c) => c.tokens.length));
  for (let i = 0; i < n; i++) {
    const present = live.filter((c) => i < c.tokens.length);
    // a column still streaming has not diverged by being shorter yet
    if (present.length < live.length && live.some((c) => i >= c.tokens.length && c.result !== undefined)) return i;
    if (present.length === 0) return undefined;
    const t = present[0]!.tokens[i];
    if (present.some((c) => c.tokens[i] !== t)) return i;
  }
  return undefined;
}

/** The seed of column `i`: the shared seed with "same seed", else the seed + i (so columns sample differently). */
export function columnSeed(s: PgSampling, i: number, sameSeed: boolean): number {
  return sameSeed ? s.seed : s.seed + i;
}

/** Reads a sampling field from an input's text; NaN and out-of-range values fall back to the previous value. */
export function parseField(key: keyof PgSampling, text: string, prev: number): number {
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v)) return prev;
  if (key === 'topK' || key === 'maxNewTokens' || key === 'seed') return Number.isInteger(v) && v >= 0 ? v : prev;
  if (key === 'topP') return v > 0 && v <= 1 ? v : prev;
  if (key === 'repetitionPenalty') return v > 0 ? v : prev;
  return v >= 0 ? v : prev;
}

export function shortName(dir: string | null): string {
  if (dir === null) return 'Base model';
  const parts = dir.split(/[\\/]/).filter((p) => p !== '');
  const last = parts.at(-1) ?? dir;
  // <run>/adapter or <run>/checkpoints/step-N: name the run too
  if (last === 'adapter' && parts.length >= 2) return `${parts.at(-2)!} (final)`;
  if (/^(checkpoint|step)-\d+$/.test(last) && parts.length >= 3) return `${parts.at(-3)!} @ ${last}`;
  return last;
}
