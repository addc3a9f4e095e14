// Chart data built from a run: train loss (raw + smoothed) and eval loss, learning rate, grad norm,
// tokens/s and memory, and the Compare Runs overlay. Pure; the view turns a ChartSpec into a Chart.js chart.
import type { RunView } from '../../../src/shared/dashboard';
import { emaSmooth } from './smoothing';

export interface Point {
  x: number;
  y: number;
}

export interface Series {
  label: string;
  points: Point[];
  /** raw = faded original values under a smoothed line; eval = dashed markers; points = a scatter (no line); front = a dashed line through ringed points. */
  role: 'raw' | 'smoothed' | 'eval' | 'value' | 'points' | 'front';
  /** Index into the theme palette; raw and smoothed of one run share it. */
  colorIndex: number;
  /** false = no legend entry (a run's raw loss under its smoothed line; its eval points in Compare). */
  legend?: boolean;
}

export interface ChartSpec {
  id: string;
  title: string;
  yLabel: string;
  xLabel: string;
  series: Series[];
  /** 'bytes' ticks are formatted as MiB/GiB. */
  yFormat: 'value' | 'bytes';
}

export type MetricName = 'lr' | 'grad_norm' | 'tokens_per_s' | 'rss_bytes';

const MIB = 1024 * 1024;

/** Per metric: its chart, its y axis title with the unit, and the factor from the logged value to the plotted one. */
const METRICS: Record<MetricName, { id: string; title: string; yLabel: string; yFormat: 'value' | 'bytes'; scale: number }> = {
  lr: { id: 'lr-chart', title: 'Learning rate', yLabel: 'learning rate', yFormat: 'value', scale: 1 },
  grad_norm: { id: 'grad-norm-chart', title: 'Gradient norm', yLabel: 'L2 norm (before clipping)', yFormat: 'value', scale: 1 },
  tokens_per_s: { id: 'tokens-chart', title: 'Throughput', yLabel: 'tokens / s', yFormat: 'value', scale: 1 },
  rss_bytes: { id: 'memory-chart', title: 'Memory (worker RSS)', yLabel: 'RSS (MiB)', yFormat: 'value', scale: 1 / MIB },
};

export const MAX_POINTS = 2000;

export function lossChart(run: RunView, smoothing: number, maxPoints = MAX_POINTS): ChartSpec {
  const raw = run.steps.map((s) => ({ x: s.step, y: s.loss }));
  const smooth = emaSmooth(raw.map((p) => p.y), smoothing);
  const series: Series[] = [];
  const name = run.name;
  if (smoothing > 0) series.push({ label: `${name} · train (raw)`, points: downsample(raw, maxPoints), role: 'raw', colorIndex: 0, legend: false });
  series.push({ label: `${name} · train${smoothing > 0 ? ' (smoothed)' : ''}`, points: downsample(raw.map((p, i) => ({ x: p.x, y: smooth[i] ?? p.y })), maxPoints), role: 'smoothed', colorIndex: 0 });
  if (run.evals.length > 0) series.push({ label: `${name} · eval`, points: run.evals.map((e) => ({ x: e.step, y: e.eval_loss })), role: 'eval', colorIndex: 1 });
  return { id: 'loss-chart', title: 'Loss', yLabel: 'cross-entropy loss (nats)', xLabel: 'step', series, yFormat: 'value' };
}

export function metricChart(run: RunView, metric: MetricName, maxPoints = MAX_POINTS): ChartSpec {
  const { scale, ...m } = METRICS[metric];
  const points: Point[] = [];
  for (const s of run.steps) {
    const y = s[metric];
    if (typeof y === 'number') points.push({ x: s.step, y: y * scale });
  }
  return { ...m, xLabel: 'step', series: [{ label: run.name, points: downsample(points, maxPoints), role: 'value', colorIndex: colorOf(metric) }] };
}

/** One smoothed train-loss line per run (plus its eval points), labelled by run name made unique. */
export function compareChart(runs: readonly RunView[], smoothing: number, maxPoints = MAX_POINTS): ChartSpec {
  const labels = uniqueLabels(runs.map((r) => r.name));
  const series: Series[] = [];
  runs.forEach((run, i) => {
    const ys = emaSmooth(run.steps.map((s) => s.loss), smoothing);
    series.push({ label: labels[i] ?? run.name, points: downsample(run.steps.map((s, j) => ({ x: s.step, y: ys[j] ?? s.loss })), maxPoints), role: 'smoothed', colorIndex: i });
    if (run.evals.length > 0) series.push({ label: `${labels[i] ?? run.name} (eval)`, points: run.evals.map((e) => ({ x: e.step, y: e.eval_loss })), role: 'eval', colorIndex: i, legend: false });
  });
  return { id: 'compare-chart', title: 'Compare runs: train loss (dashed: eval)', yLabel: 'cross-entropy loss (nats)', xLabel: 'step', series, yFormat: 'value' };
}

/** One line per run of a logged metric (learning rate, gradient norm), labelled like compareChart. */
export function compareMetricChart(runs: readonly RunView[], metric: 'lr' | 'grad_norm', maxPoints = MAX_POINTS): ChartSpec {
  const labels = uniqueLabels(runs.map((r) => r.name));
  const { scale, id, ...m } = METRICS[metric];
  const series: Series[] = runs.map((run, i) => {
    const points: Point[] = [];
    for (const s of run.steps) {
      const y = s[metric];
      if (typeof y === 'number') points.push({ x: s.step, y: y * scale });
    }
    return { label: labels[i] ?? run.name, points: downsample(points, maxPoints), role: 'value', colorIndex: i };
  });
  return { ...m, id: `compare-${id}`, title: `Compare runs: ${m.title.toLowerCase()}`, xLabel: 'step', series };
}

/**
 * Keeps at most `max` points for drawing: the first and last, and per bucket the min and max (so loss
 * spikes stay visible), in step order. Returns the input when it is short enough.
 */
export function downsample(points: readonly Point[], max: number): Point[] {
  if (points.length <= max || max < 4) return [...points];
  const buckets = Math.floor((max - 2) / 2);
  const inner = points.slice(1, -1);
  const size = inner.length / buckets;
  const out: Point[] = [points[0] as Point];
  for (let b = 0; b < buckets; b++) {
    const chunk = inner.slice(Math.floor(b * size), Math.floor((b + 1) * size));
    if (chunk.length === 0) continue;
    let lo = chunk[0] as Point;
    let hi = lo;
    for (const p of chunk) {
      if (p.y < lo.y) lo = p;
      if (p.y > hi.y) hi = p;
    }
    if (lo === hi) out.push(lo);
    else out.push(...(lo.x < hi.x ? [lo, hi] : [hi, lo]));
  }
  out.push(points[points.length - 1] as Point);
  return out;
}

/** Names made unique by appending " (2)", " (3)" to repeats. */
export function uniqueLabels(names: readonly string[]): string[] {
  const seen = new Map<string, number>();
  return names.map((n) => {
    const k = (seen.get(n) ?? 0) + 1;
    seen.set(n, k);
    return k === 1 ? n : `${n} (${k})`;
  });
}

function colorOf(metric: MetricName): number {
  return { lr: 2, grad_norm: 3, tokens_per_s: 4, rss_bytes: 5 }[metric];
}
