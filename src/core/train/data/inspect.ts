// The dataset inspector's view of a prepared data set: one example's tokens exactly as the trainer feeds them
// (labels, special tokens, truncation, packed rows) and set-wide statistics (lengths, drops, label share, padding, steps).
import type { PreparedDataset } from './dataset';
import { IGNORE_INDEX, type DataTokenizer } from './formats';
import { countLabelTokens, type Sequence } from './collate';
import { SequenceStream, epochOrder, totalStepsFor } from './stream';
import type { DatasetStats, ExampleView, HistogramBucket, InspectToken } from '../../../shared/inspector';

export interface TrainPlan {
  microBatchSize: number;
  accumulation: number;
  maxSteps: number;
  epochs: number;
  shuffle: boolean;
  seed: number;
}

export type { DatasetStats, ExampleView, HistogramBucket, InspectToken, PackedSegment } from '../../../shared/inspector';

const LIST = 20;

function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * (sorted.length - 1) + 0.5))]!;
}

/** Eight equal buckets up to max_length, and one for longer examples when there are any. */
export function lengthHistogram(lengths: readonly number[], maxLength: number): HistogramBucket[] {
  const width = Math.max(1, Math.ceil(maxLength / 8));
  const buckets: HistogramBucket[] = [];
  for (let from = 0; from < maxLength; from += width) buckets.push({ from, to: Math.min(maxLength, from + width), count: 0 });
  const longest = Math.max(0, ...lengths);
  const over: HistogramBucket = { from: maxLength, to: longest, count: 0 };
  for (const n of lengths) {
    if (n > maxLength) over.count++;
    else buckets[Math.max(0, Math.ceil(n / width) - 1)]!.count++;
  }
  if (over.count > 0) buckets.push(over);
  return buckets;
}

/**
 * Set-wide statistics. The training set is batched in the trainer's stream order and gets the step arithmetic; the
 * eval set is batched in file order (as the trainer's eval loop), with the same micro-batch size.
 */
export function datasetStats(d: PreparedDataset, maxLength: number, packing: boolean, plan: TrainPlan, role: 'train' | 'eval'): DatasetStats {
  const lengths = d.tokenized.map((e) => e.inputIds.length);
  const sorted = [...lengths].sort((a, b) => a - b);
  const tokensCut = packing ? 0 : lengths.reduce((s, n) => s + Math.max(0, n - maxLength), 0);
  const input = d.sequences.reduce((s, q) => s + q.inputIds.length, 0);
  const n = d.sequences.length;
  let slots = 0;
  let how: string;
  if (packing) {
    slots = n * maxLength;
    how = `${n} packed rows of ${maxLength} tokens`;
  } else {
    // Micro-batches as the trainer's stream forms them (collate pads each to its longest row).
    const bs = plan.microBatchSize;
    const order = n === 0 ? [] : role === 'train' ? new SequenceStream(n, plan.shuffle, plan.seed).take(n) : epochOrder(n, false, 0, 0);
    for (let i = 0; i < order.length; i += bs) {
      const rows = order.slice(i, i + bs);
      slots += rows.length * Math.max(...rows.map((k) => d.sequences[k]!.inputIds.length));
    }
    how = `${role === 'train' ? 'epoch 0' : 'file order'} in micro-batches of ${bs}, each padded to its longest row`;
  }
  const stats: DatasetStats = {
    file: d.file,
    format: d.format,
    examples: d.examples,
    sequences: n,
    maxLength,
    packing,
    lengths: { min: sorted[0] ?? 0, max: sorted[sorted.length - 1] ?? 0, mean: lengths.length === 0 ? 0 : lengths.reduce((a, b) => a + b, 0) / lengths.length, median: percentile(sorted, 0.5), p95: percentile(sorted, 0.95) },
    histogram: lengthHistogram(lengths, maxLength),
    truncated: { count: d.truncated, tokensCut, reason: packing ? 'packing never truncates: an example runs on into the next row' : `longer than max_length ${maxLength}: the first ${maxLength} tokens are kept` },
    dropped: { count: d.dropped.length, lines: d.dropped.slice(0, LIST), reason: 'truncation cut away every label token (the answer)' },
    unlabeled: { count: d.unlabeled.length, lines: d.unlabeled.slice(0, LIST), reason: 'no label token as written (empty answer, all labels -100, or a single token); the trainer refuses these' },
    tokens: { input, label: d.labelTokens, labelShare: input === 0 ? 0 : d.labelTokens / input },
    efficiency: { value: slots === 0 ? 0 : input / slots, slots, how },
  };
  if (role === 'train') {
    const globalBatch = plan.microBatchSize * plan.accumulation;
    const totalSteps = n === 0 ? 0 : totalStepsFor(n, globalBatch, plan.maxSteps, plan.epochs);
    stats.steps = { globalBatch, stepsPerEpoch: Math.ceil(n / globalBatch), totalSteps, epochs: n === 0 ? 0 : (totalSteps * globalBatch) / n, sequencesPerEpoch: n };
  }
  return stats;
}

/** Indices of the sequences (rows) holding `line`, with the example's spans in them (segments start where positionIds is 0). */
function segmentsOf(sequences: readonly Sequence[], line: number): { seq: number; start: number; end: number }[] {
  const out: { seq: number; start: number; end: number }[] = [];
  sequences.forEach((q, seq) => {
    const k = q.lines.indexOf(line);
    if (k < 0) return;
    if (q.positionIds === undefined) {
      out.push({ seq, start: 0, end: q.inputIds.length });
      return;
    }
    const starts: number[] = [];
    q.positionIds.forEach((p, t) => {
      if (p === 0) starts.push(t);
    });
    out.push({ seq, start: starts[k]!, end: starts[k + 1] ?? q.inputIds.length });
  });
  return out;
}

/** One example as fed: tokens and labels taken from the trainer's sequences (so packing's boundary masks show). */
export function exampleView(d: PreparedDataset, index: number, tok: DataTokenizer, maxLength: number, packing: boolean, plan: TrainPlan | null): ExampleView {
  const ex = d.tokenized[index];
  if (ex === undefined) throw new RangeError(`example ${index} out of range (0 … ${d.tokenized.length - 1})`);
  const special = new Set(tok.specialTokenIds ?? []);
  const segs = segmentsOf(d.sequences, ex.line);
  const fedLabels = segs.flatMap((s) => d.sequences[s.seq]!.labels.slice(s.start, s.end));
  const status: ExampleView['status'] = d.unlabeled.includes(ex.line) ? 'unlabeled' : d.dropped.includes(ex.line) ? 'dropped' : 'kept';
  const cutAt = packing ? ex.inputIds.length : Math.min(ex.inputIds.length, maxLength);
  if (status === 'kept' && fedLabels.length !== cutAt) throw new Error(`inspector: line ${ex.line} has ${fedLabels.length} fed tokens, expected ${cutAt}`);
  const tokens: InspectToken[] = ex.inputIds.map((id, pos) => {
    const fed = status === 'kept' && pos < cutAt;
    // Dropped and unlabeled examples are not fed: their labels as tokenized are shown instead.
    const label = fed ? fedLabels[pos]! : pos < cutAt ? ex.labels[pos]! : IGNORE_INDEX;
    const t: InspectToken = { pos, id, text: tok.decode?.([id]) ?? String(id), label, special: special.has(id), fed };
    const piece = tok.idToToken?.(id);
    if (piece !== undefined) t.piece = piece;
    return t;
  });
  const fedPart = ex.inputIds.slice(0, cutAt);
  const view: ExampleView = {
    index,
    line: ex.line,
    status,
    length: ex.inputIds.length,
    fedLength: status === 'kept' ? cutAt : 0,
    truncatedAt: cutAt < ex.inputIds.length ? cutAt : null,
    labelTokens: status === 'kept' ? segs.reduce((s, g) => s + countLabelTokens(d.sequences[g.seq]!.labels.slice(g.start, g.end)), 0) : 0,
    text: tok.decode?.(fedPart) ?? fedPart.join(' '),
    tokens,
  };
  if (packing && status === 'kept') view.packed = segs.map((s) => ({ row: s.seq, start: s.start, end: s.end }));
  if (plan !== null && status === 'kept' && segs.length > 0) {
    const order = epochOrder(d.sequences.length, plan.shuffle, plan.seed, 0);
    const p = order.indexOf(segs[0]!.seq);
    const globalBatch = plan.microBatchSize * plan.accumulation;
    view.firstStep = { step: Math.floor(p / globalBatch) + 1, microBatch: Math.floor((p % globalBatch) / plan.microBatchSize) };
  }
  return view;
}
