import { strict as assert } from 'node:assert';
import { collate, countLabelTokens, pack, prepareSequences } from '../../../../src/core/train/data/collate';
import { SequenceStream, epochOrder, nextStepBatches, totalStepsFor } from '../../../../src/core/train/data/stream';
import { buildDataset, datasetNotes } from '../../../../src/core/train/data/dataset';
import { parseJsonl } from '../../../../src/core/train/data/jsonl';
import type { TokenizedExample } from '../../../../src/core/train/data/formats';
import { CharTokenizer } from './charTokenizer';

const ex = (line: number, ids: number[], labels?: number[]): TokenizedExample => ({ line, inputIds: ids, labels: labels ?? [...ids] });
const n = (a: BigInt64Array): number[] => Array.from(a, Number);

describe('sequences and batches', () => {
  it('truncates to max_length and counts it; drops examples whose labels truncation cut off; reports unlabeled ones', () => {
    const p = prepareSequences([ex(1, [1, 2, 3, 4, 5, 6]), ex(2, [1, 2, 3]), ex(3, [1, 2, 3, 4, 5], [-100, -100, -100, -100, 5]), ex(4, [7, 8], [7, -100])], 4, false);
    assert.equal(p.truncated, 2);
    assert.deepEqual(p.dropped, [3]); // 3: the answer was cut off by truncation
    assert.deepEqual(p.unlabeled, [4]); // 4: only position 0 is labelled (never predicted), as written
    assert.deepEqual(p.sequences.map((s) => s.inputIds), [[1, 2, 3, 4], [1, 2, 3]]);
    assert.equal(countLabelTokens([9, -100, 4, 5]), 2);
  });

  it('packs into rows of max_length with position ids restarting per example and at each row', () => {
    const rows = pack([ex(1, [10, 11, 12]), ex(2, [20, 21, 22, 23, 24]), ex(3, [30, 31])], 4);
    assert.deepEqual(rows.map((r) => r.inputIds), [[10, 11, 12, 20], [21, 22, 23, 24], [30, 31]]);
    assert.deepEqual(rows.map((r) => r.positionIds), [[0, 1, 2, 0], [0, 1, 2, 3], [0, 1]]);
    // the first token of each segment has no label (it would be predicted across the boundary)
    assert.deepEqual(rows.map((r) => r.labels), [[-100, 11, 12, -100], [-100, 22, 23, 24], [-100, 31]]);
    assert.deepEqual(rows.map((r) => r.lines), [[1, 2], [2], [3]]);
    const p = prepareSequences([ex(1, [1, 2, 3, 4, 5, 6, 7, 8, 9])], 4, true);
    assert.equal(p.truncated, 0);
    assert.equal(p.sequences.length, 3);
  });

  it('right-pads with the pad id, -100 labels and a zero attention mask', () => {
    const b = collate([{ inputIds: [5, 6, 7], labels: [-100, 6, 7], lines: [1] }, { inputIds: [8], labels: [8], lines: [2] }], 0);
    assert.equal(b.batchSize, 2);
    assert.equal(b.seqLen, 3);
    assert.deepEqual(n(b.inputIds), [5, 6, 7, 8, 0, 0]);
    assert.deepEqual(n(b.labels), [-100, 6, 7, 8, -100, -100]);
    assert.deepEqual(n(b.attentionMask), [1, 1, 1, 1, 0, 0]);
    assert.equal(b.positionIds, undefined);
    const packed = collate(pack([ex(1, [1, 2]), ex(2, [3, 4, 5])], 8), 0);
    assert.deepEqual(n(packed.positionIds!), [0, 1, 0, 1, 2]);
  });

  it('without shuffle, step k uses examples (k-1)*B .. k*B-1 of the file, wrapping at the end', () => {
    const seqs = Array.from({ length: 10 }, (_, i) => ({ inputIds: [100 + i, 1], labels: [100 + i, 1], lines: [i + 1] }));
    const stream = new SequenceStream(10, false, 42);
    const plan = { microBatchSize: 2, accumulation: 2, padTokenId: 0 };
    const steps = [1, 2, 3, 4].map(() => nextStepBatches(stream, seqs, plan));
    assert.deepEqual(steps.map((s) => s.indices), [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 0, 1], [2, 3, 4, 5]]);
    // micro-batches split B in order: step 3 = [8, 9] then [0, 1]
    assert.deepEqual(steps[2]!.batches.map((b) => n(b.inputIds).filter((_, i) => i % 2 === 0)), [[108, 109], [100, 101]]);
    assert.equal(stream.epochsDone, 1.6);
    assert.equal(totalStepsFor(10, 4, -1, 1), 3);
    assert.equal(totalStepsFor(10, 4, -1, 2.5), 8);
    assert.equal(totalStepsFor(10, 4, 7, 1), 7);
  });

  it('shuffles with a seeded permutation per epoch, and a stream rebuilt from its state continues identically', () => {
    const a = epochOrder(20, true, 42, 0);
    assert.deepEqual([...a].sort((x, y) => x - y), Array.from({ length: 20 }, (_, i) => i));
    assert.notDeepEqual(a, Array.from({ length: 20 }, (_, i) => i));
    assert.deepEqual(epochOrder(20, true, 42, 0), a);
    assert.notDeepEqual(epochOrder(20, true, 42, 1), a);
    const s1 = new SequenceStream(20, true, 7);
    s1.take(13);
    const resumed = new SequenceStream(20, true, 7, JSON.parse(JSON.stringify(s1.getState())));
    assert.deepEqual(resumed.take(30), s1.take(30));
  });

  it('loads a data set end to end and reports truncation in its notes', () => {
    const text = ['{"prompt":"aaaaaaaa","completion":"b"}', '{"prompt":"a","completion":"bbbbbbbbbbbb"}', '{"prompt":"x","completion":"y"}'].join('\n');
    const d = buildDataset(parseJsonl(text, 'd.jsonl'), { file: 'd.jsonl', format: 'auto', maxLength: 8, packing: false, trainOnPrompt: false, tokenizer: new CharTokenizer() });
    assert.equal(d.format, 'prompt_completion');
    assert.equal(d.truncated, 2);
    assert.deepEqual(d.dropped, [1]); // its 9-token prompt fills max_length: no answer token left
    assert.equal(d.sequences.length, 2);
    assert.equal(d.labelTokens, 6 + 2); // line 2: 6 answer tokens within 8; line 3: "y" + EOS
    const notes = datasetNotes(d, 8, 'train').map((x) => x.message);
    assert.ok(notes.some((m) => m.includes('2 of 3 examples were longer than max_length 8')));
    assert.ok(notes.some((m) => m.includes('1 examples had no label token left') && m.includes('lines 1 of d.jsonl')));
  });
});

describe('examples with no label token', () => {
  it('are a clear error naming the file and line, with the count of others', () => {
    const text = ['{"input_ids":[1,2,3]}', '{"input_ids":[4,5,6],"labels":[-100,-100,-100]}', '{"input_ids":[7]}', '{"input_ids":[8,9]}'].join('\n');
    assert.throws(
      () => buildDataset(parseJsonl(text, 'd.jsonl'), { file: 'd.jsonl', format: 'tokenized', maxLength: 8, packing: false, trainOnPrompt: false, tokenizer: new CharTokenizer() }),
      (e: unknown) => {
        assert.ok(e instanceof Error);
        assert.match(e.message, /^d\.jsonl:2: this example has no label token to learn from \(and 1 more: lines 3\)/);
        assert.match(e.message, /train_on_prompt/);
        return true;
      },
    );
  });
});
