// The best checkpoint and early stopping as the HF Trainer decides them, on scripted metric sequences: the expected
// values follow transformers' _determine_best_metric, _save_checkpoint and EarlyStoppingCallback step by step.
import { strict as assert } from 'node:assert';
import { bestModelProblems, initialBestState, onCheckpoint, onEvaluate, resolveBestModel, type BestModelArgs, type BestModelState } from '../../../src/core/train/bestModel';

const args = (over: Partial<BestModelArgs> = {}): BestModelArgs => ({
  load_best_model_at_end: true, metric_for_best_model: null, greater_is_better: null, early_stopping_patience: null,
  early_stopping_threshold: 0, eval_steps: 10, save_steps: 10, ...over,
});

/** Runs evaluations at steps 10, 20, … with the given values, checkpoints at the steps in `saves`; returns every state. */
function script(a: BestModelArgs, values: number[], saves: (step: number) => boolean = () => true): { states: BestModelState[]; stoppedAt: number | null; newBest: boolean[] } {
  const rule = resolveBestModel(a);
  let st = initialBestState();
  const states: BestModelState[] = [];
  const newBest: boolean[] = [];
  const written = new Set<string>();
  let stoppedAt: number | null = null;
  for (const [i, v] of values.entries()) {
    const step = 10 * (i + 1);
    const out = onEvaluate(rule, st, step, { [rule.metric ?? 'eval_loss']: v });
    st = out.state;
    newBest.push(out.newBest);
    if (saves(step)) {
      written.add(`ck-${step}`);
      st = onCheckpoint(st, step, (s) => `ck-${s}`, (d) => written.has(d));
    }
    states.push(st);
    if (out.stop) {
      stoppedAt = step;
      break;
    }
  }
  return { states, stoppedAt, newBest };
}

describe('best checkpoint and early stopping (HF Trainer rules)', () => {
  it('defaults as TrainingArguments: loss under load_best_model_at_end, lower is better; exact_match higher is better', () => {
    assert.deepEqual(resolveBestModel(args()), { metric: 'eval_loss', greaterIsBetter: false, loadBestAtEnd: true, patience: null, threshold: 0 });
    assert.equal(resolveBestModel(args({ load_best_model_at_end: false })).metric, null);
    assert.equal(resolveBestModel(args({ metric_for_best_model: 'eval_exact_match' })).greaterIsBetter, true);
    assert.equal(resolveBestModel(args({ metric_for_best_model: 'contains' })).metric, 'eval_contains');
    assert.equal(resolveBestModel(args({ metric_for_best_model: 'perplexity' })).greaterIsBetter, false);
    assert.equal(resolveBestModel(args({ metric_for_best_model: 'loss', greater_is_better: true })).greaterIsBetter, true);
  });

  it('loss: the strict minimum wins, a tie keeps the earlier step, best_model_checkpoint follows the saves', () => {
    const { states, newBest } = script(args(), [2.0, 1.5, 1.5, 1.7, 1.2, 1.3]);
    assert.deepEqual(newBest, [true, true, false, false, true, false]);
    assert.deepEqual(states.map((s) => s.best_metric), [2.0, 1.5, 1.5, 1.5, 1.2, 1.2]);
    assert.deepEqual(states.map((s) => s.best_global_step), [10, 20, 20, 20, 50, 50]);
    assert.deepEqual(states.map((s) => s.best_model_checkpoint), ['ck-10', 'ck-20', 'ck-20', 'ck-20', 'ck-50', 'ck-50']);
  });

  it('a best evaluation without its own checkpoint is not best_model_checkpoint (save every 20, eval every 10)', () => {
    // eval 10: 1.0 (best, no checkpoint); 20: 2.0 (checkpoint 20, but best step 10 has none → stays null);
    // 30: 0.5 (best); 40: 0.7 (checkpoint 40, best step 30 has none → null); 50: 0.4 (best, unsaved); 60: 0.3 (best, saved)
    const { states } = script(args({ save_steps: 20 }), [1.0, 2.0, 0.5, 0.7, 0.4, 0.3], (s) => s % 20 === 0);
    assert.deepEqual(states.map((s) => s.best_global_step), [10, 10, 30, 30, 50, 60]);
    assert.deepEqual(states.map((s) => s.best_model_checkpoint), [null, null, null, null, null, 'ck-60']);
  });

  it('greater is better for exact_match; NaN is never a new best', () => {
    const { states, newBest } = script(args({ metric_for_best_model: 'exact_match' }), [0.25, Number.NaN, 0.5, 0.5, 0.75]);
    assert.deepEqual(newBest, [true, false, true, false, true]);
    assert.deepEqual(states.map((s) => s.best_global_step), [10, 10, 30, 30, 50]);
  });

  it('early stopping: the counter compares with the best before this evaluation, and resets on an improvement > threshold', () => {
    // patience 2, threshold 0.1: 2.0 (first: 0), 1.95 (better but by 0.05: 1), 1.8 (by 0.15 vs best 1.95: 0),
    // 1.75 (by 0.05: 1), 1.9 (worse: 2 → stop at step 50)
    const { states, stoppedAt } = script(args({ early_stopping_patience: 2, early_stopping_threshold: 0.1 }), [2.0, 1.95, 1.8, 1.75, 1.9, 1.0]);
    assert.equal(stoppedAt, 50);
    assert.deepEqual(states.map((s) => s.early_stopping_patience_counter), [0, 1, 0, 1, 2]);
    // the small improvements still become the best metric (_determine_best_metric has no threshold)
    assert.deepEqual(states.map((s) => s.best_metric), [2.0, 1.95, 1.8, 1.75, 1.75]);
    assert.equal(states.at(-1)!.best_model_checkpoint, 'ck-40');
  });

  it('early stopping with patience 1 stops at the first evaluation that does not improve', () => {
    const { stoppedAt } = script(args({ early_stopping_patience: 1 }), [3, 2, 1, 1, 0.5]);
    assert.equal(stoppedAt, 40);
  });

  it('recipe rules: save_steps a round multiple of eval_steps, periodic eval, early stopping needs load_best, the metric needs its data', () => {
    const have = { evalData: true, evalPrompts: false, expected: null };
    assert.deepEqual(bestModelProblems(args({ save_steps: 25 }), have).map((p) => p.path), ['training.save_steps']);
    assert.match(bestModelProblems(args({ save_steps: 25 }), have)[0]!.message, /round multiple of the evaluation steps.*save_steps is 25 and training.eval_steps is 10/);
    assert.deepEqual(bestModelProblems(args({ save_steps: 0 }), have).map((p) => p.path), ['training.save_steps']);
    assert.deepEqual(bestModelProblems(args({ save_steps: 30 }), have), []);
    assert.deepEqual(bestModelProblems(args({ eval_steps: 0 }), have).map((p) => p.path), ['training.load_best_model_at_end']);
    assert.deepEqual(bestModelProblems(args({ load_best_model_at_end: false, early_stopping_patience: 3 }), have).map((p) => p.path), ['training.early_stopping_patience']);
    assert.deepEqual(bestModelProblems(args(), { ...have, evalData: false }).map((p) => p.path), ['training.load_best_model_at_end']);
    assert.deepEqual(bestModelProblems(args({ metric_for_best_model: 'exact_match' }), have).map((p) => p.path), ['training.metric_for_best_model']);
    assert.deepEqual(bestModelProblems(args({ metric_for_best_model: 'exact_match' }), { evalData: false, evalPrompts: true, expected: true }), []);
    assert.deepEqual(bestModelProblems(args({ metric_for_best_model: 'contains' }), { evalData: false, evalPrompts: true, expected: false }).length, 1);
    assert.deepEqual(bestModelProblems(args({ load_best_model_at_end: false }), { evalData: false, evalPrompts: false, expected: null }), []);
  });
});
