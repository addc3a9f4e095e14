// Host-side AdamW scalars (fed as float32 instead of float64 graph math) and GradScaler's dynamic loss scale.
import * as assert from 'node:assert/strict';
import { GraphSession } from '../../../src/core/graph';
import { GRAD_SCALER, adamwScalars, isSkippedNorm, updateLossScale } from '../../../src/core/models/optimizerFeeds';
import { ADAMW_INPUT, adamwInputs } from '../../../src/core/train/adamw';
import { Graph } from '../../../src/core/graph';

describe('optimizer feeds', () => {
  it('AdamW scalars computed on the host in float64 round to the float32 values of the float64 graph math', async () => {
    const opt = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxGradNorm: 1 };
    const g = new Graph('scalars');
    const s = adamwInputs(g, 'float32', opt);
    g.output(s.stepSize, 'step_size');
    g.output(s.bc2Sqrt, 'bc2');
    g.output(s.decay, 'decay');
    const session = await GraphSession.create(g);
    try {
      for (const [lr, t] of [[2e-4, 1], [1e-3, 7], [5e-2, 1000], [3e-5, 123457]] as const) {
        const out = await session.run({ [ADAMW_INPUT.lr]: { data: Float64Array.of(lr), dims: [] }, [ADAMW_INPUT.step]: { data: Float64Array.of(t), dims: [] } });
        const host = adamwScalars(opt, lr, t);
        assert.equal(Math.fround(host.stepSize), out['step_size']!.data[0], `step_size lr ${lr} t ${t}`);
        assert.equal(Math.fround(host.bc2Sqrt), out['bc2']!.data[0], `bc2 t ${t}`);
        assert.equal(Math.fround(host.decay), out['decay']!.data[0], `decay lr ${lr}`);
      }
    } finally {
      await session.release();
    }
  });

  it('GradScaler: halve and restart on overflow, double after 2000 good steps', () => {
    let s = { scale: GRAD_SCALER.initScale, growthTracker: 0 };
    assert.equal(s.scale, 65536);
    s = updateLossScale(s, true);
    assert.deepEqual(s, { scale: 32768, growthTracker: 0 });
    for (let i = 0; i < 1999; i++) s = updateLossScale(s, false);
    assert.deepEqual(s, { scale: 32768, growthTracker: 1999 });
    s = updateLossScale(s, false);
    assert.deepEqual(s, { scale: 65536, growthTracker: 0 });
    assert.equal(isSkippedNorm(Number.NaN), true);
    assert.equal(isSkippedNorm(Number.POSITIVE_INFINITY), true);
    assert.equal(isSkippedNorm(1e30), false);
  });
});
