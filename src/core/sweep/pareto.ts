// Pareto fronts of a sweep: the trials no other trial beats on both of two objectives — trainable parameters (fewer
// is better) or tokens/s (more is better), against loss (best eval loss, else the final training loss; lower is better).

export interface ParetoInput {
  index: number;
  trainable?: number;
  best_eval_loss?: number;
  final_loss?: number;
  tokens_per_s?: number;
}

export interface ParetoPoint {
  index: number;
  x?: number | undefined;
  y?: number | undefined;
}

/**
 * The indices of the non-dominated points, by x ascending: lower y is better, and lower x (`x: 'min'`) or higher x
 * (`x: 'max'`). A point dominates another when it is at least as good on both and better on one; equal points are
 * both kept. Points missing x or y (a failed trial) or with a non-finite one are left out.
 */
export function paretoFrontOf(points: readonly ParetoPoint[], x: 'min' | 'max'): number[] {
  const sign = x === 'min' ? 1 : -1;
  const ps = points
    .filter((p): p is { index: number; x: number; y: number } => p.x !== undefined && p.y !== undefined && Number.isFinite(p.x) && Number.isFinite(p.y))
    .map((p) => ({ index: p.index, x: p.x, y: p.y, cx: sign * p.x }));
  const dominated = (p: (typeof ps)[number]): boolean => ps.some((q) => q.cx <= p.cx && q.y <= p.y && (q.cx < p.cx || q.y < p.y));
  return ps.filter((p) => !dominated(p)).sort((a, b) => a.x - b.x || a.y - b.y).map((p) => p.index);
}

/** The loss a trial is judged by: its best eval loss, else its final training loss. */
export function trialLoss(t: ParetoInput): number | undefined {
  return t.best_eval_loss ?? t.final_loss;
}

/** Trainable parameters (fewer is better) against loss. */
export function paretoFront(trials: readonly ParetoInput[]): number[] {
  return paretoFrontOf(trials.map((t) => ({ index: t.index, x: t.trainable, y: trialLoss(t) })), 'min');
}

/** Tokens/s (more is better) against loss. */
export function paretoFrontThroughput(trials: readonly ParetoInput[]): number[] {
  return paretoFrontOf(trials.map((t) => ({ index: t.index, x: t.tokens_per_s, y: trialLoss(t) })), 'max');
}
