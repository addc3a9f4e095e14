// The Playground webview's data shaping: where the columns' answers diverge, per-column seeds, field parsing, names.
import * as assert from 'node:assert/strict';
import { columnSeed, emptyOutput, firstDivergence, parseField, shortName, type ColumnOutput } from '../../../webview/src/playground/model';
import { DEFAULT_SAMPLING } from '../../../src/shared/playground';

const col = (tokens: number[], done = false, error?: string): ColumnOutput => ({
  ...emptyOutput(), tokens, pieces: tokens.map(String),
  ...(done ? { result: { tokenIds: tokens, text: '', finishReason: 'eos', promptTokens: 1, ttftMs: 1, tokensPerS: 1 } } : {}),
  ...(error !== undefined ? { error } : {}),
});

describe('playground webview model', () => {
  it('firstDivergence: the first differing token, an answer that ended early, errors and streaming columns', () => {
    assert.equal(firstDivergence([col([1, 2, 3]), col([1, 2, 4])]), 2);
    assert.equal(firstDivergence([col([1, 2, 3]), col([1, 2, 3]), col([0])]), 0);
    assert.equal(firstDivergence([col([1, 2, 3], true), col([1, 2, 3], true)]), undefined);
    assert.equal(firstDivergence([col([1, 2], true), col([1, 2, 3], true)]), 2, 'one answer ended where the other goes on');
    assert.equal(firstDivergence([col([1, 2]), col([1, 2, 3])]), undefined, 'a column still streaming has not diverged yet');
    assert.equal(firstDivergence([col([1, 2, 3]), col([], false, 'bad adapter'), col([1, 2, 3])]), undefined);
    assert.equal(firstDivergence([col([1])]), undefined);
  });

  it('columnSeed, parseField and shortName', () => {
    const s = { ...DEFAULT_SAMPLING, seed: 5 };
    assert.deepEqual([0, 1, 2].map((i) => columnSeed(s, i, true)), [5, 5, 5]);
    assert.deepEqual([0, 1, 2].map((i) => columnSeed(s, i, false)), [5, 6, 7]);
    assert.equal(parseField('topP', '0.9', 1), 0.9);
    assert.equal(parseField('topP', '1.5', 1), 1);
    assert.equal(parseField('topK', '2.5', 40), 40);
    assert.equal(parseField('temperature', '', 0.7), 0.7);
    assert.equal(parseField('maxNewTokens', '128', 64), 128);
    assert.equal(shortName(null), 'Base model');
    assert.equal(shortName('/w/runs/r1/adapter'), 'r1 (final)');
    assert.equal(shortName('/w/runs/r1/checkpoints/checkpoint-20'), 'r1 @ checkpoint-20');
    assert.equal(shortName('/data/my-lora'), 'my-lora');
  });
});
