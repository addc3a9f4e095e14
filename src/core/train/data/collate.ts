// From tokenized examples to training sequences and micro-batches: truncation to max_length (counted), dropping
// of examples with nothing to learn (counted), optional packing with per-example position ids, right padding.
import type { Batch } from '../engineApi';
import { IGNORE_INDEX, type TokenizedExample } from './formats';

/** One row of a micro-batch before padding. */
export interface Sequence {
  inputIds: number[];
  labels: number[];
  /** Set when packed: restarts at 0 at every example (the engine builds the block-diagonal mask from it). */
  positionIds?: number[];
  /** JSONL lines of the examples in this row. */
  lines: number[];
}

export interface PreparedSequences {
  sequences: Sequence[];
  /** Examples longer than max_length that lost tokens (not packed). */
  truncated: number;
  /**
   * Examples dropped because truncation to max_length cut off every label token (the answer). They are
   * dropped, not fatal, so one overlong example does not stop a run; the count and lines are logged.
   */
  dropped: number[];
  /**
   * Examples that have no label token as written (every label -100, an empty answer, a single token):
   * a data error, reported by the caller with the file and line (nothing would be learnt from them, and
   * silently skipping them would shift which examples each step uses).
   */
  unlabeled: number[];
}

/** Label tokens that produce a loss: labels at positions >= 1 (the logits at t - 1 predict the label at t). */
export function countLabelTokens(labels: readonly number[]): number {
  let n = 0;
  for (let t = 1; t < labels.length; t++) if (labels[t] !== IGNORE_INDEX) n++;
  return n;
}

export function prepareSequences(examples: readonly TokenizedExample[], maxLength: number, packing: boolean): PreparedSequences {
  let truncated = 0;
  const dropped: number[] = [];
  const unlabeled: number[] = [];
  const kept: TokenizedExample[] = [];
  for (const ex of examples) {
    if (countLabelTokens(ex.labels) === 0) {
      unlabeled.push(ex.line);
      continue;
    }
    let e = ex;
    if (!packing && e.inputIds.length > maxLength) {
      truncated++;
      e = { line: e.line, inputIds: e.inputIds.slice(0, maxLength), labels: e.labels.slice(0, maxLength) };
    }
    if (countLabelTokens(e.labels) === 0) dropped.push(e.line);
    else kept.push(e);
  }
  const sequences = packing ? pack(kept, maxLength) : kept.map((e) => ({ inputIds: e.inputIds, labels: e.labels, lines: [e.line] }));
  return { sequences, truncated, dropped, unlabeled };
}

/**
 * Packing ("wrapped", as TRL's pack_dataset): concatenate the examples in order and cut the stream into rows of
 * max_length. Position ids restart at every example and at every row start; the first label of each segment is
 * -100 because it would be predicted across the segment boundary (as DataCollatorWithFlattening does).
 */
export function pack(examples: readonly TokenizedExample[], maxLength: number): Sequence[] {
  const rows: Sequence[] = [];
  let cur: Sequence = { inputIds: [], labels: [], positionIds: [], lines: [] };
  for (const e of examples) {
    let pos = 0;
    for (let t = 0; t < e.inputIds.length; t++) {
      if (cur.inputIds.length === maxLength) {
        rows.push(cur);
        cur = { inputIds: [], labels: [], positionIds: [], lines: [] };
        pos = 0;
      }
      if (pos === 0 && !cur.lines.includes(e.line)) cur.lines.push(e.line);
      cur.inputIds.push(e.inputIds[t]!);
      cur.labels.push(pos === 0 ? IGNORE_INDEX : e.labels[t]!);
      cur.positionIds!.push(pos);
      pos++;
    }
  }
  if (cur.inputIds.length > 0) rows.push(cur);
  return rows;
}

/** Right-pads rows to the longest one: pad id in inputs, -100 in labels, 0 in the attention mask. */
export function collate(rows: readonly Sequence[], padTokenId: number): Batch {
  const batchSize = rows.length;
  const seqLen = Math.max(1, ...rows.map((r) => r.inputIds.length));
  const inputIds = new BigInt64Array(batchSize * seqLen).fill(BigInt(padTokenId));
  const labels = new BigInt64Array(batchSize * seqLen).fill(BigInt(IGNORE_INDEX));
  const attentionMask = new BigInt64Array(batchSize * seqLen);
  const packed = rows.some((r) => r.positionIds !== undefined);
  const positionIds = packed ? new BigInt64Array(batchSize * seqLen) : undefined;
  rows.forEach((r, b) => {
    const o = b * seqLen;
    for (let t = 0; t < r.inputIds.length; t++) {
      inputIds[o + t] = BigInt(r.inputIds[t]!);
      labels[o + t] = BigInt(r.labels[t]!);
      attentionMask[o + t] = 1n;
    }
    if (positionIds !== undefined) {
      for (let t = 0; t < seqLen; t++) {
        // Padding continues the last segment's positions (masked out anyway).
        positionIds[o + t] = t < r.inputIds.length ? BigInt(r.positionIds?.[t] ?? t) : BigInt(t - r.inputIds.length + (r.positionIds?.[r.inputIds.length - 1] ?? r.inputIds.length - 1) + 1);
      }
    }
  });
  const batch: Batch = { batchSize, seqLen, inputIds, labels, attentionMask };
  if (positionIds !== undefined) batch.positionIds = positionIds;
  return batch;
}
