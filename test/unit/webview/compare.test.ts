// Compare Runs and the side view without a DOM: the differing-settings table from run.json, best eval loss per run,
// the base-model check, lr / grad-norm overlays, the loss trail of a run summary and its sparkline points.
import * as assert from 'node:assert/strict';
import { bestEval, compareFacts, flatten } from '../../../webview/src/model/compare';
import { compareMetricChart } from '../../../webview/src/model/series';
import { sparklinePoints } from '../../../webview/src/model/sparkline';
import { lossTrail } from '../../../src/core/runs/readRuns';
import { applyEvent, emptyRunView } from '../../../src/core/runs/runState';
import type { RunView } from '../../../src/shared/dashboard';
import type { RunInfo } from '../../../src/shared/protocol';
import { startEvent, stepEvent } from '../runs/events';

function run(name: string, opts: { lr: number; r: number; base?: string; evals?: [number, number][]; steps?: number }): RunView {
  const dir = `/runs/${name}`;
  const v = applyEvent(emptyRunView(dir), { ...startEvent(dir), run_name: name } as ReturnType<typeof startEvent>);
  for (let i = 1; i <= (opts.steps ?? 3); i++) applyEvent(v, { ...stepEvent(i, 3 - i / 10), lr: opts.lr * i, grad_norm: 0.1 * i });
  for (const [step, loss] of opts.evals ?? []) applyEvent(v, { event: 'eval', step, eval_loss: loss } as Parameters<typeof applyEvent>[1]);
  const info: RunInfo = {
    name, status: 'completed', config_file: `/p/${name}.yaml`, base_model: opts.base ?? '/models/tiny', device: 'cpu', started_at: '2026-12-07T10:00:00Z',
    recipe: { base_model: opts.base ?? '/models/tiny', run_name: name, output_dir: '/p/runs', training: { learning_rate: opts.lr, max_steps: 3, seed: 42 }, dataset: { train: '/p/data/train.jsonl', max_length: 128 } },
    adapter_config: { r: opts.r, lora_alpha: 32, target_modules: ['q_proj', 'v_proj'], base_model_name_or_path: opts.base ?? '/models/tiny' },
  };
  v.info = info;
  return v;
}

describe('Compare Runs and the side view', () => {
  it('lists only the settings that differ, recipe keys first, ignoring names and paths of the run itself', () => {
    const f = compareFacts([run('a', { lr: 2e-4, r: 16 }), run('b', { lr: 1e-4, r: 8 }), run('c', { lr: 2e-4, r: 16 })]);
    assert.deepEqual(f.params, [
      { key: 'training.learning_rate', values: ['0.0002', '0.0001', '0.0002'] },
      { key: 'lora.r', values: ['16', '8', '16'] },
    ]);
    assert.deepEqual(f.baseModels, ['/models/tiny']);
  });

  it('gives each run its best eval loss and step, and the winner; a run without evals has none', () => {
    const runs = [run('a', { lr: 1, r: 1, evals: [[10, 2.5], [20, 2.1], [30, 2.3]] }), run('b', { lr: 1, r: 1 }), run('c', { lr: 1, r: 1, evals: [[10, 2.0]] })];
    assert.deepEqual(bestEval(runs[0]!), { loss: 2.1, step: 20 });
    const f = compareFacts(runs);
    assert.deepEqual(f.best, [{ loss: 2.1, step: 20 }, undefined, { loss: 2.0, step: 10 }]);
    assert.equal(f.winner, 2);
    assert.equal(compareFacts([runs[1]!]).winner, undefined);
  });

  it('notices different base models', () => {
    const f = compareFacts([run('a', { lr: 1, r: 1, base: '/models/tiny' }), run('b', { lr: 1, r: 1, base: 'Qwen/Qwen2.5-0.5B' })]);
    assert.deepEqual(f.baseModels, ['/models/tiny', 'Qwen/Qwen2.5-0.5B']);
    assert.ok(f.params.some((p) => p.key === 'base_model'));
    assert.ok(!f.params.some((p) => p.key === 'lora.base_model_name_or_path'), 'said once, not twice');
  });

  it('flattens nested settings, keeping lists as one value', () => {
    assert.deepEqual([...flatten({ a: { b: 1, c: [1, 2] }, d: null, e: {} })], [['a.b', 1], ['a.c', [1, 2]], ['d', null], ['e', {}]]);
  });

  it('overlays learning rate and gradient norm, one line per run', () => {
    const runs = [run('a', { lr: 1e-4, r: 1 }), run('a', { lr: 3e-4, r: 1 })];
    const lr = compareMetricChart(runs, 'lr');
    assert.deepEqual(lr.series.map((s) => s.label), ['a', 'a (2)']);
    assert.deepEqual(lr.series[1]!.points.map((p) => p.y), [3e-4, 6e-4, 9e-4].map((x) => x));
    const g = compareMetricChart(runs, 'grad_norm');
    assert.equal(g.id, 'compare-grad-norm-chart');
    assert.deepEqual(g.series[0]!.points.map((p) => Number(p.y.toFixed(3))), [0.1, 0.2, 0.3]);
  });

  it('keeps a loss trail of at most 40 evenly spaced points, first and last included', () => {
    const losses = Array.from({ length: 1000 }, (_, i) => i);
    const t = lossTrail(losses);
    assert.equal(t.length, 40);
    assert.equal(t[0], 0);
    assert.equal(t[39], 999);
    assert.deepEqual(lossTrail([3, 2, 1]), [3, 2, 1]);
  });

  it('draws a sparkline high loss at the top, low at the bottom, across the box', () => {
    assert.equal(sparklinePoints([2, 1, 0], 64, 18), '1.5,1.5 32.0,9.0 62.5,16.5');
    assert.equal(sparklinePoints([1, 1], 64, 18), '1.5,9.0 62.5,9.0');
    assert.equal(sparklinePoints([NaN], 64, 18), '');
  });
});
