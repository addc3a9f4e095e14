// Dataset JSONL lint: bad lines, format mismatches, empty answers, too-long examples (token counts), duplicates,
// and the incremental linter's slices.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { DatasetLinter, lintDataset, validate } from '../../../src/core/validate';
import { at, byCode, one } from './helpers';

const lines = (...xs: unknown[]): string => xs.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join('\n') + '\n';

describe('dataset lint', () => {
  it('reports a non-JSON line and a non-object line on their lines', () => {
    const ps = lintDataset(lines({ text: 'a' }, '{"text": "b"', '[1, 2]', { text: 'c' }));
    const nj = one(ps, 'not-json');
    assert.deepEqual([nj.severity, ...at(nj)], ['error', 1, 0, 1, 12]);
    assert.equal(one(ps, 'not-object').range.start.line, 2);
  });

  it('detects the format from the first example and reports lines that do not fit', () => {
    const ps = lintDataset(lines({ instruction: 'q', output: 'a' }, { prompt: 'p', completion: 'c' }, { instruction: 'q2', input: 'x', output: 'a2' }));
    const p = one(ps, 'format-mismatch');
    assert.equal(p.range.start.line, 1);
    assert.match(p.message, /not a "alpaca" example: missing "instruction", "output" \(it looks like "prompt_completion"\)/);
  });

  it('uses the declared format', () => {
    const ps = lintDataset(lines({ text: 'a' }), { format: 'messages' });
    assert.match(one(ps, 'format-mismatch').message, /missing "messages"/);
  });

  it('warns on empty answers (alpaca output, assistant message, all -100 labels)', () => {
    const text = lines({ instruction: 'q', output: ' ' }, { instruction: 'q', output: 'ok' });
    const p = one(lintDataset(text), 'empty-answer');
    assert.deepEqual([p.severity, ...at(p)], ['warning', 0, 19, 0, 27]);
    assert.equal(one(lintDataset(lines({ messages: [{ role: 'user', content: 'hi' }] })), 'empty-answer').severity, 'warning');
    assert.equal(byCode(lintDataset(lines({ messages: [{ role: 'user', content: 'hi' }] }), { trainOnPrompt: true }), 'empty-answer').length, 0);
    assert.equal(one(lintDataset(lines({ input_ids: [1, 2], labels: [-100, -100] })), 'empty-answer').severity, 'warning');
  });

  it('counts examples longer than max_length and the tokens cut, with the tokenizer', () => {
    const words = { count: (s: string) => s.split(/\s+/).filter((w) => w !== '').length };
    const text = lines({ text: 'a b c d e f' }, { text: 'a b' }, { text: 'a b c d e' });
    const ps = lintDataset(text, { maxLength: 4, tokenizer: words });
    assert.deepEqual(byCode(ps, 'too-long').map((p) => p.range.start.line), [0, 2]);
    const s = one(ps, 'too-long-summary');
    assert.deepEqual(s.data, { examples: 2, tokensCut: 3 });
    assert.match(s.message, /2 of 3 examples are longer than max_length 4: 3 tokens will be cut/);
    // tokenized: exact lengths
    assert.deepEqual(one(lintDataset(lines({ input_ids: [1, 2, 3, 4, 5, 6] }), { maxLength: 4 }), 'too-long-summary').data, { examples: 1, tokensCut: 2 });
  });

  it('reports duplicates pointing at the first occurrence', () => {
    const p = one(lintDataset(lines({ text: 'x' }, { text: 'y' }, { text: 'x' })), 'duplicate');
    assert.deepEqual([p.range.start.line, p.message], [2, 'Duplicate of line 1']);
  });

  it('caps diagnostics per code and summarises the rest', () => {
    const ps = lintDataset(Array.from({ length: 250 }, () => 'nope').join('\n'), { maxPerCode: 100 });
    assert.equal(byCode(ps, 'not-json').length, 100);
    assert.match(one(ps, 'not-json-more').message, /150 more/);
  });

  it('lints in slices: each step covers at most the line budget, and the result equals the one-shot lint', () => {
    const text = Array.from({ length: 5000 }, (_, i) => JSON.stringify({ prompt: `p${i % 4000}`, completion: 'c' })).join('\n');
    const l = new DatasetLinter(text);
    let steps = 0;
    while (!l.step({ lines: 1000 })) {
      steps++;
      assert.equal(l.linesDone, steps * 1000);
    }
    assert.equal(steps, 4);
    assert.deepEqual(l.problems(), lintDataset(text));
    assert.equal(byCode(l.problems(), 'duplicate').length, 100);
    assert.match(one(l.problems(), 'duplicate-more').message, /900 more .* \(1000 in all\)/);
  });

  it('validate() dispatches .jsonl files and uses the recipe\'s format and max_length', () => {
    const recipe = { path: '/x/peft-train.yaml', baseModel: null, baseModelDir: null, adapterConfig: null, datasets: [], format: 'text', maxLength: 2, trainOnPrompt: false, packing: false, hasEval: false, batchSize: 4, gradAccum: 1, device: 'cpu', fp16: false };
    const ps = validate(lines({ text: 'aaaaaaaaaaaaaaaa' }), { path: path.join('/x', 'data', 'train.jsonl'), recipe });
    assert.equal(one(ps, 'too-long').range.start.line, 0);
  });
});
