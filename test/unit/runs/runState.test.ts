// The run state machine: event sequences → status, steps, ETA and the status-bar line; crash → failed.
// Event records are exactly CONTRACTS.md §4's.
import * as assert from 'node:assert/strict';
import { startEvent, stepEvent } from './events';
import { applyEvent, applyWorkerExit, describeEvent, emptyRunView, etaSeconds, fractionDone, formatDuration, statusLine } from '../../../src/core/runs/runState';

describe('runState', () => {
  it('folds a start → steps → eval → checkpoint → done sequence', () => {
    const v = emptyRunView('');
    assert.equal(v.status, 'starting');
    assert.equal(statusLine(v), 'starting…');
    applyEvent(v, startEvent('/runs/r1'));
    assert.equal(v.status, 'running');
    assert.equal(v.dir, '/runs/r1');
    assert.equal(v.name, 'r1');
    for (let s = 1; s <= 4; s++) applyEvent(v, stepEvent(s, 3 - s * 0.25));
    applyEvent(v, { event: 'eval', step: 4, eval_loss: 2.1 });
    applyEvent(v, { event: 'checkpoint', step: 4, path: '/runs/r1/checkpoints/step-4' });
    assert.equal(v.steps.length, 4);
    assert.equal(fractionDone(v), 0.4);
    // 2 s per step measured from step 1 to 4, 6 steps left
    assert.equal(etaSeconds(v), 12);
    assert.equal(statusLine(v), 'step 4/10 · loss 2.0000 · ETA 12s');
    applyEvent(v, { event: 'done', run_dir: '/runs/r1', adapter_dir: '/runs/r1/adapter', final_loss: 1.5 });
    assert.equal(v.status, 'completed');
    assert.equal(statusLine(v), 'done · step 4/10 · final loss 1.5000');
    assert.equal(applyWorkerExit(v, 0, null), undefined, 'a clean exit after done is no crash');
    assert.equal(v.status, 'completed');
  });

  it('prefers the worker ETA when the step event carries one', () => {
    const v = emptyRunView('');
    applyEvent(v, startEvent('/r'));
    applyEvent(v, { ...stepEvent(1, 2), eta_s: 125 });
    assert.equal(etaSeconds(v), 125);
    assert.equal(formatDuration(125), '2m 05s');
    assert.equal(formatDuration(3 * 3600 + 120), '3h 02m');
  });

  it('a stopped done is "stopped", an error event is "failed"', () => {
    const a = applyEvent(applyEvent(emptyRunView(''), startEvent('/a')), { event: 'done', run_dir: '/a', adapter_dir: '/a/adapter', final_loss: 2, stopped: true });
    assert.equal(a.status, 'stopped');
    const b = applyEvent(applyEvent(emptyRunView(''), startEvent('/b')), { event: 'error', message: 'NaN loss at step 3', step: 3 });
    assert.equal(b.status, 'failed');
    assert.equal(applyWorkerExit(b, 1, null), undefined, 'an exit after an error event is the reported error, not a crash');
  });

  it('a worker exit without done/error is a crash naming the step and the kept checkpoint', () => {
    const v = emptyRunView('');
    applyEvent(v, startEvent('/r'));
    for (let s = 1; s <= 3; s++) applyEvent(v, stepEvent(s, 2));
    applyEvent(v, { event: 'checkpoint', step: 2, path: '/r/checkpoints/step-2' });
    const msg = applyWorkerExit(v, null, 'SIGKILL');
    assert.equal(msg, 'The training worker was killed by SIGKILL at step 3 without finishing; checkpoint step-2 is kept.');
    assert.equal(v.status, 'failed');
    assert.equal(v.error?.step, 3);
  });

  it('a resumed start drops the records the resumed run repeats', () => {
    const v = emptyRunView('');
    applyEvent(v, startEvent('/r'));
    for (let s = 1; s <= 6; s++) applyEvent(v, stepEvent(s, 10 - s));
    applyEvent(v, { event: 'checkpoint', step: 4, path: 'c4' });
    applyEvent(v, { event: 'eval', step: 5, eval_loss: 4 });
    applyEvent(v, startEvent('/r', 10, 4));
    assert.deepEqual(v.steps.map((s) => s.step), [1, 2, 3, 4]);
    assert.equal(v.evals.length, 0);
    applyEvent(v, stepEvent(5, 5.5, 100));
    applyEvent(v, stepEvent(6, 4.5, 104));
    assert.deepEqual(v.steps.map((s) => s.loss), [9, 8, 7, 6, 5.5, 4.5]);
    // ETA measured only over the resumed part: 4 s/step, 4 steps left
    assert.equal(etaSeconds(v), 16);
  });

  it('describeEvent writes one log line per event with its numbers', () => {
    assert.equal(describeEvent({ ...stepEvent(7, 2.345678), lr: 2e-4, grad_norm: 0.51234, tokens_per_s: 912.4 }),
      'step 7 epoch 0.70 loss 2.3457 lr 2.00e-4 grad_norm 0.512 tokens/s 912');
    assert.equal(describeEvent(startEvent('/runs/r1', 10, 4)),
      'start r1: 1,024 trainable of 101,024 parameters on cpu, 10 steps, run folder /runs/r1, resumed from step 4');
    assert.equal(describeEvent({ event: 'error', message: 'NaN loss', step: 3, checkpoint: '/c/step-2' }), 'error at step 3: NaN loss (checkpoint kept: /c/step-2)');
    assert.equal(describeEvent({ event: 'done', run_dir: '/r', adapter_dir: '/r/adapter', final_loss: 1.5, stopped: true }), 'stopped: final loss 1.5000, adapter /r/adapter');
  });
});
