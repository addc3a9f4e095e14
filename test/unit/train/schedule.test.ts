import { strict as assert } from 'node:assert';
import { LrSchedule, warmupStepsFor } from '../../../src/core/train/schedule';

const close = (a: number, b: number): void => assert.ok(Math.abs(a - b) < 1e-12, `${a} != ${b}`);
const lrs = (s: LrSchedule, n: number): number[] => Array.from({ length: n }, (_, i) => s.lrAt(i + 1));

describe('LR schedules (transformers get_scheduler)', () => {
  it('warmup steps: explicit wins, else ceil(ratio * total)', () => {
    assert.equal(warmupStepsFor(100, 5, 0.5), 5);
    assert.equal(warmupStepsFor(100, 0, 0.03), 3);
    assert.equal(warmupStepsFor(10, 0, 0.11), 2); // ceil(1.1)
    assert.equal(warmupStepsFor(10, 0, 0), 0);
  });

  it('linear with 2 warmup steps over 6: step k uses lambda(k-1), so step 1 has lr 0', () => {
    const s = new LrSchedule({ type: 'linear', learningRate: 1e-3, totalSteps: 6, warmupSteps: 2, warmupRatio: 0 });
    // lambda(0)=0/2, lambda(1)=1/2, then (6-s)/(6-2) for s=2..5
    [0, 0.5e-3, 1e-3, 0.75e-3, 0.5e-3, 0.25e-3].forEach((v, i) => close(lrs(s, 6)[i]!, v));
  });

  it('linear without warmup starts at the peak and reaches lr/total on the last step', () => {
    const s = new LrSchedule({ type: 'linear', learningRate: 2e-4, totalSteps: 4, warmupSteps: 0, warmupRatio: 0 });
    [2e-4, 1.5e-4, 1e-4, 0.5e-4].forEach((v, i) => close(lrs(s, 4)[i]!, v));
  });

  it('cosine: 0.5 * (1 + cos(pi * progress)) after warmup', () => {
    const s = new LrSchedule({ type: 'cosine', learningRate: 1, totalSteps: 5, warmupSteps: 1, warmupRatio: 0 });
    const expected = [0, 1, 0.5 * (1 + Math.cos(Math.PI * 0.25)), 0.5, 0.5 * (1 + Math.cos(Math.PI * 0.75))];
    expected.forEach((v, i) => close(lrs(s, 5)[i]!, v));
  });

  it('constant ignores warmup; constant_with_warmup ramps then holds', () => {
    const c = new LrSchedule({ type: 'constant', learningRate: 3, totalSteps: 4, warmupSteps: 2, warmupRatio: 0 });
    assert.deepEqual(lrs(c, 4), [3, 3, 3, 3]);
    const w = new LrSchedule({ type: 'constant_with_warmup', learningRate: 3, totalSteps: 5, warmupSteps: 0, warmupRatio: 0.5 });
    assert.equal(w.warmup, 3);
    [0, 1, 2, 3, 3].forEach((v, i) => close(lrs(w, 5)[i]!, v));
  });
});
