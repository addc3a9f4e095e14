// The eval-answers table from run events (no DOM): columns per evaluation, changed answers, scores, the best
// checkpoint's column, a resumed run's replayed evaluations, and summaries marking the best checkpoint.
import * as assert from 'node:assert/strict';
import { evalAnswersTable } from '../../../webview/src/model/evalAnswers';
import { applyEvent, bestCheckpointOf, emptyRunView } from '../../../src/core/runs/runState';
import type { EvalGenerationEvent, RunEvent } from '../../../src/shared/protocol';
import { startEvent, stepEvent } from '../runs/events';

const gen = (step: number, outputs: string[], exact?: number): EvalGenerationEvent => ({
  event: 'eval_generation', step, max_new_tokens: 8,
  samples: [
    { prompt: 'Capital of France?', expected: 'Paris', output: outputs[0]!, exact_match: outputs[0]!.trim() === 'Paris', contains: outputs[0]!.includes('Paris'), tokens: 2, finish_reason: 'eos' },
    { prompt: 'Say hi', output: outputs[1]!, tokens: 8, finish_reason: 'length' },
  ],
  ...(exact !== undefined ? { exact_match: exact, contains: exact } : {}),
});

describe('eval answers table', () => {
  it('one column per evaluation, changed answers flagged, scores per column, the best checkpoint marked', () => {
    const v = emptyRunView('/w/runs/a');
    const events: RunEvent[] = [
      startEvent('/w/runs/a', 30), stepEvent(10, 2),
      { event: 'eval', step: 10, eval_loss: 2.5, eval_perplexity: Math.exp(2.5) }, gen(10, ['Lyon', 'hello']),
      { event: 'checkpoint', step: 10, path: '/w/runs/a/checkpoints/step-10', best_model_checkpoint: '/w/runs/a/checkpoints/step-10' },
      { event: 'eval', step: 20, eval_loss: 1.5, eval_perplexity: Math.exp(1.5) }, gen(20, ['Paris', 'hello']),
      { event: 'checkpoint', step: 20, path: '/w/runs/a/checkpoints/step-20', best_model_checkpoint: '/w/runs/a/checkpoints/step-20' },
      { event: 'eval', step: 30, eval_loss: 1.7, eval_perplexity: Math.exp(1.7) }, gen(30, ['It is Paris', 'hi there']),
      { event: 'checkpoint', step: 30, path: '/w/runs/a/checkpoints/step-30', best_model_checkpoint: '/w/runs/a/checkpoints/step-20' },
    ];
    for (const e of events) applyEvent(v, e);
    assert.equal(bestCheckpointOf(v), '/w/runs/a/checkpoints/step-20');
    const t = evalAnswersTable(v)!;
    assert.deepEqual(t.steps, [10, 20, 30]);
    assert.equal(t.bestStep, 20);
    assert.deepEqual(t.scores.map((r) => r.key), ['eval_loss', 'eval_perplexity']);
    assert.deepEqual(t.scores[1]!.values, [Math.exp(2.5), Math.exp(1.5), Math.exp(1.7)]);
    assert.deepEqual(t.rows.map((r) => r.prompt), ['Capital of France?', 'Say hi']);
    assert.equal(t.rows[0]!.expected, 'Paris');
    assert.deepEqual(t.rows[0]!.cells.map((c) => [c?.output, c?.changed, c?.score]), [['Lyon', false, 'miss'], ['Paris', true, 'exact'], ['It is Paris', true, 'contains']]);
    assert.deepEqual(t.rows[1]!.cells.map((c) => [c?.changed, c?.score, c?.finishReason]), [[false, undefined, 'length'], [false, undefined, 'length'], [true, undefined, 'length']]);
  });

  it('no eval prompts: no table; a resume drops the replayed evaluations after its step; exact match rows when scored', () => {
    const v = emptyRunView('/w/runs/b');
    assert.equal(evalAnswersTable(v), undefined);
    for (const e of [gen(2, ['a', 'b'], 0), gen(4, ['c', 'd'], 0.5), startEvent('/w/runs/b', 6, 2), gen(4, ['e', 'f'], 1)] as RunEvent[]) applyEvent(v, e);
    const t = evalAnswersTable(v)!;
    assert.deepEqual(t.steps, [2, 4]);
    assert.deepEqual(t.rows[1]!.cells.map((c) => c?.output), ['b', 'f']);
    assert.deepEqual(t.scores.map((r) => [r.key, r.values]), [['exact_match', [0, 1]], ['contains', [0, 1]]]);
    assert.equal(t.bestStep, undefined);
    // a run with eval records only (no eval prompts, or written before perplexity was logged): the score rows
    const w = emptyRunView('/w/runs/c');
    for (const e of [{ event: 'eval', step: 5, eval_loss: 2 }, { event: 'eval', step: 10, eval_loss: 1, eval_perplexity: Math.E }] as RunEvent[]) applyEvent(w, e);
    const only = evalAnswersTable(w)!;
    assert.deepEqual([only.steps, only.rows, only.scores.map((r) => r.values)], [[5, 10], [], [[2, 1], [Math.exp(2), Math.E]]]);
  });
});
