// The dashboard's data shaping without a DOM: TensorBoard smoothing values, chart series from a run,
// downsampling that keeps spikes, the Compare overlay labels, and parameter table totals and groups.
import * as assert from 'node:assert/strict';
import { emaSmooth } from '../../../webview/src/model/smoothing';
import { compareChart, downsample, lossChart, metricChart, uniqueLabels } from '../../../webview/src/model/series';
import { buildParamTable, layerIndex } from '../../../webview/src/model/paramTable';
import { formatBytes, formatCount, formatPercent, formatValue } from '../../../webview/src/model/format';
import { applyEvent, emptyRunView } from '../../../src/core/runs/runState';
import { startEvent, stepEvent } from '../runs/events';
import type { RunView } from '../../../src/shared/dashboard';

function close(a: readonly number[], b: readonly number[], tol = 1e-12): void {
  assert.equal(a.length, b.length);
  a.forEach((x, i) => assert.ok(Math.abs(x - (b[i] ?? NaN)) <= tol, `index ${i}: ${x} vs ${b[i]}`));
}

function run(losses: number[], name = 'r'): RunView {
  const v = applyEvent(emptyRunView('/runs/' + name), { ...startEvent('/runs/' + name), run_name: name } as ReturnType<typeof startEvent>);
  losses.forEach((l, i) => applyEvent(v, { ...stepEvent(i + 1, l), rss_bytes: 1048576 * (100 + i) }));
  return v;
}

describe('webview data shaping', () => {
  it('emaSmooth is TensorBoard\'s debiased EMA', () => {
    // w = 0.5: last1 = 0.5·4 = 2 → 2/(1−0.5) = 4; last2 = 1 + 1 = 2 → 2/0.75 = 2.6667; last3 = 1 + 1.5 = 2.5 → 2.5/0.875
    close(emaSmooth([4, 2, 3], 0.5), [4, 8 / 3, 2.5 / 0.875]);
    close(emaSmooth([4, 2, 3], 0), [4, 2, 3]);
    // a NaN passes through and does not poison later points
    const s = emaSmooth([1, NaN, 1], 0.9);
    assert.ok(Number.isNaN(s[1]));
    close([s[0] ?? 0, s[2] ?? 0], [1, 1]);
    // a constant series stays constant at any weight (the debiasing removes the pull towards 0)
    close(emaSmooth([5, 5, 5, 5], 0.99), [5, 5, 5, 5], 1e-9);
  });

  it('lossChart gives raw + smoothed train loss and eval points by step', () => {
    const v = run([4, 2, 3]);
    applyEvent(v, { event: 'eval', step: 3, eval_loss: 2.75 });
    const c = lossChart(v, 0.5);
    assert.equal(c.id, 'loss-chart');
    assert.deepEqual(c.series.map((s) => [s.label, s.role, s.points.length]), [['r · train (raw)', 'raw', 3], ['r · train (smoothed)', 'smoothed', 3], ['r · eval', 'eval', 1]]);
    close(c.series[1]?.points.map((p) => p.y) ?? [], [4, 8 / 3, 2.5 / 0.875]);
    assert.deepEqual(c.series[1]?.points.map((p) => p.x), [1, 2, 3]);
    assert.deepEqual(c.series[2]?.points, [{ x: 3, y: 2.75 }]);
    assert.deepEqual(lossChart(v, 0).series.map((s) => s.label), ['r · train', 'r · eval']);
    assert.equal(c.yLabel, 'cross-entropy loss (nats)');
    assert.deepEqual(c.series.map((s) => s.legend !== false), [false, true, true], 'the raw line has no legend entry');
  });

  it('metric charts take their field from every step that has it', () => {
    const v = run([3, 2]);
    const mem = metricChart(v, 'rss_bytes');
    assert.equal(mem.id, 'memory-chart');
    assert.equal(mem.yLabel, 'RSS (MiB)');
    assert.deepEqual(mem.series[0]?.points, [{ x: 1, y: 100 }, { x: 2, y: 101 }], 'plotted in MiB');
    assert.equal(mem.series[0]?.label, v.name, 'the legend names the run');
    assert.deepEqual(metricChart(v, 'lr').series[0]?.points.map((p) => p.y), [1e-4, 1e-4]);
    const noRss = run([1]);
    delete noRss.steps[0]?.rss_bytes;
    assert.equal(metricChart(noRss, 'rss_bytes').series[0]?.points.length, 0);
  });

  it('downsample keeps first, last and each bucket\'s extremes, in step order', () => {
    const pts = Array.from({ length: 10000 }, (_, i) => ({ x: i + 1, y: i === 5000 ? 100 : 1 + (i % 7) * 0.01 }));
    const d = downsample(pts, 500);
    assert.ok(d.length <= 500, String(d.length));
    assert.deepEqual(d[0], pts[0]);
    assert.deepEqual(d[d.length - 1], pts[pts.length - 1]);
    assert.ok(d.some((p) => p.y === 100), 'the spike survives');
    for (let i = 1; i < d.length; i++) assert.ok((d[i]?.x ?? 0) > (d[i - 1]?.x ?? 0));
    assert.equal(downsample(pts.slice(0, 10), 500).length, 10);
  });

  it('compareChart overlays one line per run with unique names', () => {
    const c = compareChart([run([3, 2, 1], 'a'), run([4, 3], 'a'), run([5], 'b')], 0);
    assert.deepEqual(c.series.map((s) => s.label), ['a', 'a (2)', 'b']);
    assert.deepEqual(c.series.map((s) => s.colorIndex), [0, 1, 2]);
    assert.deepEqual(c.series[1]?.points.map((p) => p.y), [4, 3]);
    assert.deepEqual(uniqueLabels(['x', 'x', 'x']), ['x', 'x (2)', 'x (3)']);
  });

  it('buildParamTable totals, groups per target module and per layer', () => {
    // Llama-ish: hidden 64, r 8; q_proj A[8,64]+B[64,8] = 1024, v_proj out 32: 8·64 + 32·8 = 768
    const modules = [0, 1].flatMap((l) => [
      { name: `model.layers.${l}.self_attn.q_proj`, r: 8, in: 64, out: 64, params: 1024 },
      { name: `model.layers.${l}.self_attn.v_proj`, r: 8, in: 64, out: 32, params: 768 },
    ]);
    const t = buildParamTable({ trainable: 3584 + 64, total: 1_000_000, modules });
    assert.equal(t.percent, (100 * 3648) / 1_000_000);
    assert.deepEqual(t.byTarget.map((g) => [g.key, g.modules, g.params]), [['q_proj', 2, 2048], ['v_proj', 2, 1536]]);
    assert.deepEqual(t.byLayer.map((g) => [g.key, g.params]), [['layer 0', 1792], ['layer 1', 1792]]);
    assert.equal(t.otherTrainable, 64);
    assert.ok(Math.abs((t.byTarget[0]?.percentOfTrainable ?? 0) - (100 * 2048) / 3648) < 1e-12);
    assert.equal(layerIndex('transformer.h.11.attn.c_attn'), 11);
    assert.equal(layerIndex('lm_head'), undefined);
    const withHead = buildParamTable({ trainable: 10, total: 20, modules: [{ name: 'model.layers.10.mlp.up_proj', r: 1, in: 1, out: 1, params: 2 }, { name: 'lm_head', r: 1, in: 4, out: 4, params: 8 }, { name: 'model.layers.2.mlp.up_proj', r: 1, in: 1, out: 1, params: 2 }] });
    assert.deepEqual(withHead.byLayer.map((g) => g.key), ['layer 2', 'layer 10', 'other']);
  });

  it('formats counts, bytes, percents and values with units', () => {
    assert.equal(formatCount(4_194_304), '4.19M');
    assert.equal(formatCount(8_030_261_248), '8.03B');
    assert.equal(formatBytes(3 * 1024 ** 3 + 512 * 1024 ** 2), '3.5 GiB');
    assert.equal(formatBytes(100), '100 B');
    assert.equal(formatPercent(0.3647), '0.365%');
    assert.equal(formatPercent(12.5), '12.50%');
    assert.equal(formatValue(2e-4), '2e-4');
    assert.equal(formatValue(1.05e-4), '1.05e-4');
    assert.equal(formatValue(1.1e-4), '1.1e-4');
    assert.equal(formatValue(2.5e7), '2.5e7');
    assert.equal(formatValue(2.31456), '2.315');
    assert.equal(formatValue(12345), '12,345');
  });
});
