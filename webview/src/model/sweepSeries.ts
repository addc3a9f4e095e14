// Chart data of a sweep (pure): the trials' train-loss curves overlaid (one colour per trial, legend r/alpha/lr) and
// two scatters of loss against trainable parameters and against tokens/s, each with its Pareto front as a dashed line.
import type { SweepTrialView, SweepView } from '../../../src/shared/sweep';
import { downsample, MAX_POINTS, type ChartSpec, type Series } from './series';
import { formatCount } from './format';

const LOSS_LABEL = 'loss (best eval, else final)';

/** "t2 · r 8 · α 16 · lr 2e-4" (with the target modules when the sweep varies them). */
export function trialLabel(t: SweepTrialView, withTargets = false): string {
  const parts = [`t${t.index}`];
  if (t.r !== undefined) parts.push(`r ${t.r}`);
  if (t.loraAlpha !== undefined) parts.push(`α ${t.loraAlpha}`);
  if (t.learningRate !== undefined) parts.push(`lr ${t.learningRate.toExponential(0)}`);
  if (withTargets && t.targetModules !== undefined) parts.push(t.targetModules);
  return parts.join(' · ');
}

/** The loss a trial is judged by (as the sweep's Pareto front): best eval loss, else final training loss. */
export function trialLoss(t: SweepTrialView): number | undefined {
  return t.bestEvalLoss ?? t.finalLoss;
}

function variesTargets(s: SweepView): boolean {
  return new Set(s.trials.map((t) => t.targetModules)).size > 1;
}

export function sweepLossChart(s: SweepView, maxPoints = MAX_POINTS): ChartSpec {
  const targets = variesTargets(s);
  const series: Series[] = s.trials.map((t, i) => ({
    label: trialLabel(t, targets),
    points: downsample(t.losses.map(([x, y]) => ({ x, y })), maxPoints),
    role: 'value',
    colorIndex: i,
  }));
  return { id: 'sweep-loss-chart', title: `Sweep ${s.name}: train loss`, yLabel: 'cross-entropy loss (nats)', xLabel: 'step', series, yFormat: 'value' };
}

export type SweepAxis = 'params' | 'throughput';

/** One point per trial that has both figures (its colour as in the overlay), then the front through its trials. */
export function sweepScatter(s: SweepView, axis: SweepAxis): ChartSpec {
  const targets = variesTargets(s);
  const xOf = (t: SweepTrialView): number | undefined => (axis === 'params' ? t.trainable : t.tokensPerS);
  const series: Series[] = [];
  s.trials.forEach((t, i) => {
    const x = xOf(t);
    const y = trialLoss(t);
    if (x === undefined || y === undefined) return;
    const extra = axis === 'params' ? ` (${formatCount(x)} trainable)` : '';
    series.push({ label: `${trialLabel(t, targets)}${extra}`, points: [{ x, y }], role: 'points', colorIndex: i, legend: false });
  });
  const front = axis === 'params' ? s.paretoParams : s.paretoThroughput;
  const frontPoints = front.map((k) => s.trials.find((t) => t.index === k)).filter((t): t is SweepTrialView => t !== undefined).map((t) => ({ x: xOf(t)!, y: trialLoss(t)! }));
  if (frontPoints.length > 0) series.push({ label: 'Pareto front', points: frontPoints, role: 'front', colorIndex: 5 });
  return axis === 'params'
    ? { id: 'sweep-params-chart', title: 'Trainable parameters vs loss', yLabel: LOSS_LABEL, xLabel: 'trainable parameters', series, yFormat: 'value' }
    : { id: 'sweep-throughput-chart', title: 'Throughput vs loss', yLabel: LOSS_LABEL, xLabel: 'tokens / s (mean of logged steps)', series, yFormat: 'value' };
}
