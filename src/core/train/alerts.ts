// Training alerts from the metric stream (pure; the trainer feeds it, so CLI, metrics.jsonl and dashboard see the same):
// divergence, NaN/Inf, throughput halving, memory near the limit — each naming the recipe key most likely at fault.
import type { AlertKind, RunEvent, StepEvent, SystemEvent } from '../../shared/protocol';

/** The thresholds (docs/training.md, "Alerts"). */
export interface AlertRules {
  /** EMA weight of the previous value for the divergence rule (0.9 ≈ the last 10 logged steps). */
  emaBeta: number;
  /** Divergence: the EMA is this fraction above its minimum so far… */
  divergenceRise: number;
  /** …and at least this many nats above it (a memorising run near loss 0 is not diverging by 0.01)… */
  divergenceMinNats: number;
  /** …and this many standard deviations of the EMA above it (noisy per-step losses make the minimum an outlier)… */
  divergenceSigmas: number;
  /** …for this many logged steps in a row. */
  divergenceSteps: number;
  /** Recent losses the noise estimate looks at (median absolute step-to-step change, robust to trends and jumps). */
  noiseWindow: number;
  /** Logged steps before the divergence rule looks at all. */
  warmupSteps: number;
  /** Throughput: tokens/s under this fraction of the running median of the earlier steps… */
  throughputFactor: number;
  /** …for this many logged steps in a row (one slow step after an eval or checkpoint is normal). */
  throughputSteps: number;
  /** Samples the median needs first (the first logged step, which pays the graph setup, is never one). */
  throughputMinSamples: number;
  /** Memory: RSS above this fraction of what the worker could reach (RSS + the host's available memory). */
  memoryFraction: number;
}

export const DEFAULT_ALERT_RULES: AlertRules = {
  emaBeta: 0.9,
  divergenceRise: 0.2,
  divergenceMinNats: 0.1,
  divergenceSigmas: 6,
  divergenceSteps: 5,
  noiseWindow: 50,
  warmupSteps: 10,
  throughputFactor: 0.5,
  throughputSteps: 3,
  throughputMinSamples: 5,
  memoryFraction: 0.9,
};

/** An alert before the recipe file and line are attached. */
export interface Alert {
  kind: AlertKind;
  step: number;
  message: string;
  /** Dotted recipe key most likely at fault. */
  key: string;
}

export interface AlertContext {
  /** training.max_grad_norm: 0 = clipping off, so a NaN points there rather than at the learning rate. */
  maxGradNorm?: number;
}

/** What the monitor needs of a step: a StepEvent, or the trainer's non-finite step that never becomes one. */
export type StepObservation = Pick<StepEvent, 'step' | 'loss'> & Partial<Pick<StepEvent, 'lr' | 'tokens_per_s' | 'skipped'>> & { grad_norm: number | null };

const LR = 'training.learning_rate';
const CLIP = 'training.max_grad_norm';
const BATCH = 'training.per_device_train_batch_size';

const fmt = (x: number): string => (Math.abs(x) >= 100 ? x.toFixed(0) : x.toPrecision(3));
const lrText = (x: number): string => String(Number(x.toPrecision(3)));
const mib = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`;

/**
 * Folds the metric stream into alerts. Each kind fires when its condition starts to hold and again only after the
 * condition has cleared (so a diverging run gets one alert, not one per step).
 */
export class AlertMonitor {
  private ema: number | undefined;
  private minEma = Infinity;
  private finiteSteps = 0;
  private risingFor = 0;
  private readonly recent: number[] = [];
  private readonly rates: number[] = [];
  private rateSamples = 0;
  private slowFor = 0;
  private readonly active = new Set<AlertKind>();

  constructor(private readonly ctx: AlertContext = {}, private readonly rules: AlertRules = DEFAULT_ALERT_RULES) {}

  observe(e: RunEvent): Alert[] {
    if (e.event === 'step') return this.observeStep(e);
    if (e.event === 'system') return this.observeSystem(e);
    return [];
  }

  observeStep(s: StepObservation): Alert[] {
    const out: Alert[] = [];
    const gradBad = s.skipped !== true && (s.grad_norm === null || !Number.isFinite(s.grad_norm));
    const lossBad = !Number.isFinite(s.loss);
    this.edge(out, 'non-finite', lossBad || gradBad, () => {
      const what = lossBad ? `the loss is ${String(s.loss)}` : `the gradient norm is ${String(s.grad_norm ?? 'NaN')}`;
      const clipOff = this.ctx.maxGradNorm === 0;
      return {
        kind: 'non-finite', step: s.step, key: clipOff ? CLIP : LR,
        message: `${what} at step ${s.step}${s.lr !== undefined ? ` (lr ${lrText(s.lr)})` : ''}: ` +
          (clipOff ? 'gradient clipping is off; set training.max_grad_norm (e.g. 1.0) and check the learning rate' : 'the learning rate is most likely too high'),
      };
    });
    if (lossBad) return out;
    this.divergence(out, s);
    if (s.tokens_per_s !== undefined && s.tokens_per_s > 0) this.throughput(out, s.step, s.tokens_per_s);
    return out;
  }

  observeSystem(e: SystemEvent): Alert[] {
    const out: Alert[] = [];
    const reachable = e.rss_bytes + e.mem_available_bytes;
    const near = reachable > 0 && e.rss_bytes > this.rules.memoryFraction * reachable;
    this.edge(out, 'memory', near, () => ({
      kind: 'memory', step: e.step, key: BATCH,
      message: `memory is nearly exhausted at step ${e.step}: the worker holds ${mib(e.rss_bytes)} and only ${mib(e.mem_available_bytes)} more is available ` +
        `(over ${Math.round(100 * this.rules.memoryFraction)} %); lower training.per_device_train_batch_size (raise gradient_accumulation_steps to keep the effective batch) or dataset.max_length`,
    }));
    return out;
  }

  private divergence(out: Alert[], s: StepObservation): void {
    const r = this.rules;
    this.ema = this.ema === undefined ? s.loss : r.emaBeta * this.ema + (1 - r.emaBeta) * s.loss;
    this.finiteSteps++;
    this.minEma = Math.min(this.minEma, this.ema);
    this.recent.push(s.loss);
    if (this.recent.length > r.noiseWindow) this.recent.shift();
    const rise = this.ema - this.minEma;
    const emaStd = lossNoise(this.recent) * Math.sqrt((1 - r.emaBeta) / (1 + r.emaBeta));
    const rising = this.finiteSteps > r.warmupSteps && rise > Math.max(r.divergenceMinNats, r.divergenceRise * Math.abs(this.minEma), r.divergenceSigmas * emaStd);
    this.risingFor = rising ? this.risingFor + 1 : 0;
    const ema = this.ema;
    this.edge(out, 'divergence', this.risingFor >= r.divergenceSteps, () => ({
      kind: 'divergence', step: s.step, key: LR,
      message: `the loss is rising: its moving average is ${fmt(ema)} at step ${s.step}, ${Math.round((100 * rise) / Math.abs(this.minEma))} % above its minimum ${fmt(this.minEma)} ` +
        `for ${this.risingFor} logged steps; the learning rate${s.lr !== undefined ? ` (${lrText(s.lr)})` : ''} is most likely too high (or enable clipping with training.max_grad_norm)`,
    }));
  }

  private throughput(out: Alert[], step: number, rate: number): void {
    const r = this.rules;
    this.rateSamples++;
    if (this.rateSamples === 1) return; // the first logged step pays for building the sessions
    const median = this.rates.length >= r.throughputMinSamples ? medianOf(this.rates) : undefined;
    const slow = median !== undefined && rate < r.throughputFactor * median;
    this.slowFor = slow ? this.slowFor + 1 : 0;
    this.edge(out, 'throughput', this.slowFor >= r.throughputSteps, () => ({
      kind: 'throughput', step, key: BATCH,
      message: `throughput fell to ${fmt(rate)} tokens/s at step ${step}, under half its running median ${fmt(median ?? 0)} tokens/s for ${this.slowFor} logged steps; ` +
        'memory pressure (swapping) or another process competing for the cores is the usual cause — a smaller training.per_device_train_batch_size lowers the memory',
    }));
    insertSorted(this.rates, rate);
  }

  /** Fires `make()` when `holds` turns true for `kind`; re-arms once it is false again. */
  private edge(out: Alert[], kind: AlertKind, holds: boolean, make: () => Alert): void {
    if (!holds) {
      this.active.delete(kind);
      return;
    }
    if (this.active.has(kind)) return;
    this.active.add(kind);
    out.push(make());
  }
}

/**
 * The per-step loss noise σ: median |Δloss| / (0.6745·√2) (for white noise, Δ has σ√2 and its median absolute value is
 * 0.6745 of that); a slow trend or one jump barely moves it, unlike a variance around the EMA.
 */
export function lossNoise(losses: readonly number[]): number {
  if (losses.length < 3) return 0;
  const diffs = losses.slice(1).map((x, i) => Math.abs(x - losses[i]!)).sort((a, b) => a - b);
  return medianOf(diffs) / (0.6745 * Math.SQRT2);
}

function insertSorted(a: number[], x: number): void {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  a.splice(lo, 0, x);
}

/** The median of an ascending array. */
function medianOf(sorted: readonly number[]): number {
  const n = sorted.length;
  return n % 2 === 1 ? sorted[(n - 1) >> 1]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
}
