// Loss-curve smoothing as TensorBoard does it: a debiased exponential moving average, so the first points
// are not pulled towards zero. Pure; used by the dashboard's loss and compare charts.

/**
 * TensorBoard's scalar smoothing (tensorboard/plugins/scalar/vz_line_chart2): last = last·w + (1−w)·v,
 * shown as last / (1 − w^n) with n the count of finite values so far. Non-finite values pass through
 * unchanged and do not disturb the average. weight 0 = raw values; clamped to [0, 0.999].
 */
export function emaSmooth(values: readonly number[], weight: number): number[] {
  const w = Math.min(0.999, Math.max(0, Number.isFinite(weight) ? weight : 0));
  let last = 0;
  let n = 0;
  return values.map((v) => {
    if (!Number.isFinite(v)) return v;
    last = last * w + (1 - w) * v;
    n += 1;
    const debias = w === 0 ? 1 : 1 - Math.pow(w, n);
    return last / debias;
  });
}
