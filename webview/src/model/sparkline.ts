// The side view's loss sparklines: a run's loss trail as SVG polyline points in a small box. Pure (no DOM).

/** The polyline points of a sparkline of `ys` in a w×h box (y grows downwards; a flat series is drawn mid-height). */
export function sparklinePoints(ys: readonly number[], w: number, h: number): string {
  const v = ys.filter((y) => Number.isFinite(y));
  if (v.length === 0) return '';
  const lo = Math.min(...v);
  const hi = Math.max(...v);
  const pad = 1.5;
  const x = (i: number): number => (v.length === 1 ? w / 2 : pad + (i * (w - 2 * pad)) / (v.length - 1));
  const y = (val: number): number => (hi === lo ? h / 2 : pad + ((hi - val) * (h - 2 * pad)) / (hi - lo));
  return v.map((val, i) => `${x(i).toFixed(1)},${y(val).toFixed(1)}`).join(' ');
}
