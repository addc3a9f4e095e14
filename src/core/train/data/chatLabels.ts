// Assistant-only labels of a `messages` example: an assistant turn's tokens lie between the token counts of the
// conversation before it (rendered with the generation prompt) and through it. Rendering and encoding every prefix
// costs O(turns²) (a 2,000-turn example took a minute), so the counts are built in linear time from short windows of
// the conversation and the tokens between special tokens, checked against the full render and exact counts of the
// first and last assistant turns; any mismatch falls back to the exact per-turn renders, so labels never change.
import type { ChatMessage, DataTokenizer } from './formats';

const IGNORE = -100;
/** Messages before the one whose rendered chunk is taken (the chunk of a message is its window's render difference). */
const WINDOW = 2;

export interface ChatTokens {
  ids: number[];
  labels: number[];
}

/** The example's token ids with labels on assistant turns only (the prefix-render rule, exactly). */
export function chatLabels(msgs: ChatMessage[], tok: DataTokenizer): ChatTokens {
  const full = tok.applyChatTemplate(msgs, false);
  const ids = tok.encode(full, false);
  const turns = msgs.flatMap((m, i) => (m.role === 'assistant' ? [i] : []));
  const labels = ids.map(() => IGNORE);
  const bounds = turns.length > 4 ? fastBounds(msgs, tok, full, ids, turns) : null;
  for (const [k, i] of turns.entries()) {
    const [start, end] = bounds?.[k] ?? exactBounds(msgs, tok, i, ids.length);
    for (let t = start; t < Math.min(end, ids.length); t++) labels[t] = ids[t]!;
  }
  return { ids, labels };
}

/** [start, end) token counts of assistant turn i by rendering and encoding its prefixes (O(i)). */
function exactBounds(msgs: ChatMessage[], tok: DataTokenizer, i: number, total: number): [number, number] {
  const start = tok.encode(tok.applyChatTemplate(msgs.slice(0, i), true), false).length;
  const end = i + 1 === msgs.length ? total : tok.encode(tok.applyChatTemplate(msgs.slice(0, i + 1), false), false).length;
  return [start, end];
}

/** The linear-time bounds of every assistant turn, or null when the template or tokenizer is not prefix-consistent. */
function fastBounds(msgs: ChatMessage[], tok: DataTokenizer, full: string, ids: number[], turns: number[]): [number, number][] | null {
  if (turns[0] === 0 || tok.specialTokenIds === undefined || tok.idToToken === undefined) return null;
  // pos[k]: where the render of the first k messages ends in `full`, from each message's chunk in a short window
  const pos = [0];
  for (let k = 1; k <= msgs.length; k++) {
    const s = Math.max(0, k - 1 - WINDOW);
    const before = k - 1 > s ? tok.applyChatTemplate(msgs.slice(s, k - 1), false) : '';
    const through = tok.applyChatTemplate(msgs.slice(s, k), false);
    if (!through.startsWith(before)) return null;
    const chunk = through.slice(before.length);
    if (!full.startsWith(chunk, pos[k - 1]!)) return null;
    pos.push(pos[k - 1]! + chunk.length);
  }
  const specials = [...new Set(tok.specialTokenIds.map((id) => tok.idToToken!(id)).filter((t): t is string => t !== undefined && t !== ''))];
  const counter = new PrefixCounter(full, specials, tok);
  const bounds: [number, number][] = [];
  for (const i of turns) {
    // the generation prompt after the first i messages, from the same window
    const s = Math.max(0, i - 1 - WINDOW);
    const plain = tok.applyChatTemplate(msgs.slice(s, i), false);
    const prompted = tok.applyChatTemplate(msgs.slice(s, i), true);
    if (!prompted.startsWith(plain)) return null;
    const start = counter.count(pos[i]!, prompted.slice(plain.length));
    bounds.push([start, i + 1 === msgs.length ? ids.length : counter.count(pos[i + 1]!, '')]);
  }
  // the exact rule at the first and last assistant turns must agree (a template or tokenizer that is not
  // prefix-consistent, e.g. one that renders the last turn differently or prepends to the first segment only)
  for (const k of [0, turns.length - 1]) {
    const exact = exactBounds(msgs, tok, turns[k]!, ids.length);
    if (exact[0] !== bounds[k]![0] || exact[1] !== bounds[k]![1]) return null;
  }
  return bounds;
}

/**
 * Token counts of `full.slice(0, p) + extra` in time linear over all calls: the text is encoded segment by segment,
 * cut after each special token (which the tokenizer matches before anything else, so nothing merges across it).
 */
class PrefixCounter {
  /** Ends of special-token occurrences in `full`, ascending, and the token count of `full` up to each. */
  private readonly cuts: number[] = [0];
  private readonly counts: number[] = [0];

  constructor(private readonly full: string, specials: string[], private readonly tok: DataTokenizer) {
    // next occurrence of each special token at or after `at` (each string is scanned once overall)
    const next = specials.map((sp) => full.indexOf(sp));
    for (let at = 0; at < full.length;) {
      let best = -1;
      let bestLen = 0;
      for (const [n, sp] of specials.entries()) {
        if (next[n]! >= 0 && next[n]! < at) next[n] = full.indexOf(sp, at);
        const j = next[n]!;
        if (j >= 0 && (best < 0 || j < best || (j === best && sp.length > bestLen))) {
          best = j;
          bestLen = sp.length;
        }
      }
      if (best < 0) break;
      const end = best + bestLen;
      this.counts.push(this.counts[this.counts.length - 1]! + tok.encode(full.slice(this.cuts[this.cuts.length - 1], end), false).length);
      this.cuts.push(end);
      at = end;
    }
  }

  count(p: number, extra: string): number {
    // the last cut at or before p (binary search)
    let lo = 0;
    let hi = this.cuts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.cuts[mid]! <= p) lo = mid;
      else hi = mid - 1;
    }
    const tail = this.full.slice(this.cuts[lo], p) + extra;
    return this.counts[lo]! + (tail === '' ? 0 : this.tok.encode(tail, false).length);
  }
}
