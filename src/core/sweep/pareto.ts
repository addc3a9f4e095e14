// The Pareto front of a sweep: the trials no other trial beats on both trainable parameters (fewer is better) and
// loss (best eval loss, else the final training loss; lower is better).

export interface ParetoInput {
  index: number;
  trainable?: number;
  best_eval_loss?: number;
  final_loss?: number;
}

/** The indices of the non-dominated trials, by trainable parameters ascending. */
export function paretoFront(trials: readonly ParetoInput[]): number[] {
  const points = trials
    .map((t) => ({ index: t.index, x: t.trainable, y: t.best_eval_loss ?? t.final_loss }))
    .filter((p): p is { index: number; x: number; y: number } => p.x !== undefined && p.y !== undefined);
  const dominated = (p: { x: number; y: number }): boolean => points.some((q) => q.x <= p.x && q.y <= p.y && (q.x < p.x || q.y < p.y));
  return points.filter((p) => !dominated(p)).sort((a, b) => a.x - b.x || a.y - b.y).map((p) => p.index);
}
