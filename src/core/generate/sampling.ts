// Choosing the next token from a row of logits, in transformers' order: repetition penalty, then temperature,
// top-k and top-p, then greedy argmax (temperature 0) or a draw from the seeded Rng; plus the raw log-probability.
import { InputError } from '../errors';
import type { Rng } from '../util/random';

export interface SamplingOptions {
  /** 0 = greedy (argmax); > 0 divides the logits before sampling. Default 0. */
  temperature?: number;
  /** Keep the k most likely tokens (0 = off). */
  topK?: number;
  /** Keep the smallest set of tokens whose probability reaches p (1 = off). */
  topP?: number;
  /** transformers' RepetitionPenaltyLogitsProcessor: scores of seen tokens ÷ r (× r when negative). 1 = off. */
  repetitionPenalty?: number;
}

/** Checks the options (InputError naming the field). */
export function checkSampling(o: SamplingOptions): void {
  const bad = (field: string, value: unknown, expected: string): never => {
    throw new InputError('generate-sampling', `${field} must be ${expected}`, { actual: String(value) });
  };
  if (o.temperature !== undefined && !(o.temperature >= 0 && Number.isFinite(o.temperature))) bad('temperature', o.temperature, 'a number ≥ 0');
  if (o.topK !== undefined && !(Number.isInteger(o.topK) && o.topK >= 0)) bad('top_k', o.topK, 'an integer ≥ 0');
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1)) bad('top_p', o.topP, 'a number in (0, 1]');
  if (o.repetitionPenalty !== undefined && !(o.repetitionPenalty > 0 && Number.isFinite(o.repetitionPenalty))) bad('repetition_penalty', o.repetitionPenalty, 'a number > 0');
}

/** log_softmax(logits)[id], computed in float64. */
export function logProb(logits: ArrayLike<number>, id: number): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  return logits[id]! - max - Math.log(sum);
}

/** Index of the largest value (the first one on ties, as torch.argmax). */
export function argmax(x: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}

/** RepetitionPenaltyLogitsProcessor on a copy: each token in `seen` once, score < 0 ? score·r : score / r. */
export function applyRepetitionPenalty(logits: Float64Array, seen: Iterable<number>, penalty: number): void {
  if (penalty === 1) return;
  for (const id of new Set(seen)) {
    if (id < 0 || id >= logits.length) continue;
    const s = logits[id]!;
    logits[id] = s < 0 ? s * penalty : s / penalty;
  }
}

/**
 * The next token id. `seen`: prompt + generated ids (for the repetition penalty). With temperature > 0 a value
 * from `rng` picks from the filtered distribution (TopK then TopP as TopKLogitsWarper / TopPLogitsWarper: top-p
 * removes the tokens whose ascending cumulative probability is ≤ 1 − p, keeping at least one).
 */
export function chooseToken(raw: ArrayLike<number>, seen: readonly number[], o: SamplingOptions, rng: Rng): number {
  const scores = Float64Array.from(raw as ArrayLike<number>);
  applyRepetitionPenalty(scores, seen, o.repetitionPenalty ?? 1);
  const temperature = o.temperature ?? 0;
  if (temperature === 0) return argmax(scores);
  for (let i = 0; i < scores.length; i++) scores[i] = scores[i]! / temperature;
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]! || a - b);
  let keep = order.length;
  const k = o.topK ?? 0;
  if (k > 0 && k < keep) {
    const kth = scores[order[k - 1]!]!;
    keep = k;
    while (keep < order.length && scores[order[keep]!] === kth) keep++; // torch keeps ties with the k-th score
  }
  const max = scores[order[0]!]!;
  const probs = new Float64Array(keep);
  let total = 0;
  for (let j = 0; j < keep; j++) total += probs[j] = Math.exp(scores[order[j]!]! - max);
  for (let j = 0; j < keep; j++) probs[j] = probs[j]! / total;
  const p = o.topP ?? 1;
  if (p < 1) {
    // Ascending cumulative mass from the least likely: drop while it stays ≤ 1 − p.
    let cum = 0;
    let cut = keep;
    for (let j = keep - 1; j > 0; j--) {
      cum += probs[j]!;
      if (cum <= 1 - p) cut = j;
      else break;
    }
    keep = cut;
  }
  let mass = 0;
  for (let j = 0; j < keep; j++) mass += probs[j]!;
  let u = rng.uniform() * mass;
  for (let j = 0; j < keep; j++) {
    u -= probs[j]!;
    if (u < 0) return order[j]!;
  }
  return order[keep - 1]!;
}
