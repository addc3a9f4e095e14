import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepareDataset, loadDataset, type PreparedDataset } from '../../../src/core/train/data/dataset';
import { datasetStats, exampleView, lengthHistogram, type ExampleView, type TrainPlan } from '../../../src/core/train/data/inspect';
import { parseJsonl } from '../../../src/core/train/data/jsonl';
import { SequenceStream, nextStepBatches } from '../../../src/core/train/data/stream';
import { defaultDeps } from '../../../src/core/train/deps';
import { inspectData, trainPlan } from '../../../src/core/train/inspectData';
import { loadRecipeData, readRecipeFile } from '../../../src/core/train/setup';
import { writeSampleData } from '../../../src/core/fixtures/sampleData';
import { InputError } from '../../../src/core/errors';
import type { Batch } from '../../../src/core/train/engineApi';
import type { DataFormat } from '../../../src/core/train/data/formats';
import { CharTokenizer } from './data/charTokenizer';
import { makeProject, recipe } from './project';
import { runCli as run } from '../cli/runCli';

const tok = new CharTokenizer();
const jsonl = (...rows: unknown[]): string => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';

/** The rows of one micro-batch of the trainer's stream as plain arrays, without padding. */
function batchRow(b: Batch, row: number): { ids: number[]; labels: number[] } {
  const ids: number[] = [];
  const labels: number[] = [];
  for (let t = 0; t < b.seqLen; t++) {
    const k = row * b.seqLen + t;
    if (b.attentionMask[k] === 0n) break;
    ids.push(Number(b.inputIds[k]));
    labels.push(Number(b.labels[k]));
  }
  return { ids, labels };
}

/**
 * Checks a view against the trainer's own batches: the step and micro-batch the view names hold the example's fed
 * tokens and labels at the view's packed spans (or as the whole row).
 */
function assertMatchesTrainer(d: PreparedDataset, v: ExampleView, plan: TrainPlan, padId: number): void {
  assert.ok(v.firstStep !== undefined);
  const stream = new SequenceStream(d.sequences.length, plan.shuffle, plan.seed);
  let step: { batches: Batch[]; indices: number[] } | undefined;
  for (let k = 1; k <= v.firstStep.step; k++) step = nextStepBatches(stream, d.sequences, { microBatchSize: plan.microBatchSize, accumulation: plan.accumulation, padTokenId: padId });
  const fed = v.tokens.filter((t) => t.fed);
  const b = step!.batches[v.firstStep.microBatch]!;
  // Find the row of this micro-batch holding the example's first segment.
  const firstSpan = v.packed?.[0];
  const candidates = Array.from({ length: b.batchSize }, (_, r) => batchRow(b, r));
  const start = firstSpan?.start ?? 0;
  const end = firstSpan?.end ?? fed.length;
  const want = fed.slice(0, end - start);
  const hit = candidates.find((c) => want.every((t, i) => c.ids[start + i] === t.id && c.labels[start + i] === t.label) && (firstSpan !== undefined || c.ids.length === fed.length));
  assert.ok(hit !== undefined, `example ${v.index}: no row of step ${v.firstStep.step} micro-batch ${v.firstStep.microBatch} holds its tokens`);
}

const PLAN: TrainPlan = { microBatchSize: 2, accumulation: 2, maxSteps: -1, epochs: 1, shuffle: true, seed: 5 };

describe('dataset inspector', () => {
  const rows: Record<DataFormat, unknown[]> = {
    text: [{ text: 'hello world' }, { text: 'a much longer line of text that will be cut' }, { text: 'xy' }],
    alpaca: [{ instruction: 'Add', input: '1 2', output: '3' }, { instruction: 'Say hi', output: 'hi there, '.repeat(12) }, { instruction: 'x', output: 'y' }],
    prompt_completion: [{ prompt: 'Q: 2+2?', completion: ' 4' }, { prompt: 'P', completion: ' a long completion that truncation cuts short' }, { prompt: 'a', completion: 'b' }],
    messages: [
      { messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }, { role: 'user', content: 'bye' }, { role: 'assistant', content: 'ciao' }] },
      { messages: [{ role: 'system', content: 'S' }, { role: 'user', content: 'U' }, { role: 'assistant', content: 'A' }] },
      { messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'an answer' }] },
    ],
    tokenized: [{ input_ids: [5, 6, 7, 8] }, { input_ids: Array.from({ length: 30 }, (_, i) => 10 + i), labels: Array.from({ length: 30 }, (_, i) => (i < 20 ? -100 : 10 + i)) }, { input_ids: [9, 9], labels: [-100, 9] }],
  };
  for (const packing of [false, true]) {
    for (const [format, data] of Object.entries(rows)) {
      it(`${format}${packing ? ', packed' : ''}: every example's fed tokens and labels are the trainer's batch rows`, () => {
        const maxLength = { text: 24, prompt_completion: 24, alpaca: 260, messages: 120, tokenized: 24 }[format]!;
        const d = prepareDataset(parseJsonl(jsonl(...data, ...data), 'd.jsonl'), { file: 'd.jsonl', format: 'auto', maxLength, packing, trainOnPrompt: false, tokenizer: tok });
        for (let i = 0; i < d.tokenized.length; i++) {
          const v = exampleView(d, i, tok, maxLength, packing, PLAN);
          assert.equal(v.status, 'kept');
          assert.deepEqual(v.tokens.map((t) => t.id), d.tokenized[i]!.inputIds);
          // Unpacked examples keep their labels as tokenized (truncated); packed ones lose the first of each segment.
          if (!packing) assert.deepEqual(v.tokens.filter((t) => t.fed).map((t) => t.label), d.tokenized[i]!.labels.slice(0, maxLength));
          assertMatchesTrainer(d, v, PLAN, 0);
        }
      });
    }
  }

  it('marks the truncation point and the tokens not fed; drops and unlabeled examples are shown, not fatal', () => {
    const text = jsonl({ prompt: 'pppppppppp', completion: 'c' }, { prompt: 'p', completion: 'cccccccccccc' }, { prompt: 'p', completion: '' }, { prompt: 'x', completion: 'y' });
    const d = prepareDataset(parseJsonl(text, 'd.jsonl'), { file: 'd.jsonl', format: 'auto', maxLength: 8, packing: false, trainOnPrompt: false, tokenizer: tok });
    const long = exampleView(d, 1, tok, 8, false, PLAN);
    assert.equal(long.status, 'kept');
    assert.equal(long.length, 15); // BOS + p + 12 c + EOS
    assert.equal(long.truncatedAt, 8);
    assert.equal(long.fedLength, 8);
    assert.deepEqual(long.tokens.map((t) => t.fed), [...Array(8).fill(true), ...Array(7).fill(false)]);
    assert.equal(long.labelTokens, 6);
    assert.equal(long.text, 'pcccccc');
    const dropped = exampleView(d, 0, tok, 8, false, PLAN);
    assert.equal(dropped.status, 'dropped');
    assert.equal(dropped.truncatedAt, 8);
    assert.ok(dropped.tokens.every((t) => !t.fed));
    // The empty answer still gets EOS: 'p' + EOS is one label token, so it is kept; a tokenized row of -100 is not.
    assert.equal(exampleView(d, 2, tok, 8, false, PLAN).status, 'kept');
    const u = prepareDataset(parseJsonl(jsonl({ input_ids: [5, 6, 7], labels: [-100, -100, -100] }, { input_ids: [5, 6] }), 'u.jsonl'), { file: 'u.jsonl', format: 'auto', maxLength: 8, packing: false, trainOnPrompt: false, tokenizer: tok });
    assert.equal(exampleView(u, 0, tok, 8, false, PLAN).status, 'unlabeled');
    const s = datasetStats(d, 8, false, PLAN, 'train');
    assert.deepEqual([s.truncated.count, s.truncated.tokensCut, s.dropped.count, s.dropped.lines], [2, 5 + 7, 1, [1]]);
    assert.deepEqual(datasetStats(u, 8, false, PLAN, 'train').unlabeled.lines, [1]);
  });

  it('statistics: histogram, label share, padding and packing efficiency, step arithmetic', () => {
    assert.deepEqual(lengthHistogram([1, 2, 8, 9, 20], 8).map((b) => [b.from, b.to, b.count]), [[0, 1, 1], [1, 2, 1], [2, 3, 0], [3, 4, 0], [4, 5, 0], [5, 6, 0], [6, 7, 0], [7, 8, 1], [8, 20, 2]]);
    // Tokenized rows: lengths 2, 4, 6, 8 with every token labelled.
    const text = jsonl({ input_ids: [5, 6] }, { input_ids: [5, 6, 7, 8] }, { input_ids: [5, 6, 7, 8, 9, 10] }, { input_ids: [5, 6, 7, 8, 9, 10, 11, 12] });
    const d = prepareDataset(parseJsonl(text, 'd.jsonl'), { file: 'd.jsonl', format: 'auto', maxLength: 8, packing: false, trainOnPrompt: false, tokenizer: tok });
    const plan: TrainPlan = { microBatchSize: 2, accumulation: 1, maxSteps: -1, epochs: 3, shuffle: false, seed: 0 };
    const s = datasetStats(d, 8, false, plan, 'train');
    assert.equal(s.tokens.input, 20);
    assert.equal(s.tokens.label, 16); // position 0 of each row predicts nothing
    assert.equal(s.efficiency.slots, 2 * 4 + 2 * 8); // micro-batches (2,4) and (6,8) padded to 4 and 8
    assert.deepEqual(s.steps, { globalBatch: 2, stepsPerEpoch: 2, totalSteps: 6, epochs: 3, sequencesPerEpoch: 4 });
    const packed = prepareDataset(parseJsonl(text, 'd.jsonl'), { file: 'd.jsonl', format: 'auto', maxLength: 8, packing: true, trainOnPrompt: false, tokenizer: tok });
    const ps = datasetStats(packed, 8, true, { ...plan, maxSteps: 5 }, 'train');
    assert.equal(ps.sequences, 3);
    assert.equal(ps.efficiency.value, 20 / 24);
    assert.deepEqual(ps.steps, { globalBatch: 2, stepsPerEpoch: 2, totalSteps: 5, epochs: 10 / 3, sequencesPerEpoch: 3 });
    const v = exampleView(packed, 2, tok, 8, true, plan);
    assert.deepEqual(v.packed, [{ row: 0, start: 6, end: 8 }, { row: 1, start: 0, end: 4 }]);
    assert.deepEqual(v.tokens.map((t) => t.label), [-100, 6, -100, 8, 9, 10]); // each segment's first label is masked
  });

  describe('on a real model and tokenizer (the tiny Llama fixture)', () => {
    let proj = '';
    before(async () => {
      proj = mkdtempSync(join(tmpdir(), 'peft-inspect-'));
      await makeProject(proj);
      writeSampleData(join(proj, 'data'), { trainCount: 12, evalCount: 3 });
    });
    after(() => rmSync(proj, { recursive: true, force: true }));

    for (const format of ['text', 'alpaca', 'messages', 'prompt_completion']) {
      it(`${format}: inspectData equals the trainer's loadDataset batches`, async () => {
        const file = join(proj, `${format}.yaml`);
        writeFileSync(file, recipe().replace(/prompt_completion/g, format).replace('max_length: 96', `max_length: ${format === 'alpaca' ? 128 : 24}`));
        const r = await inspectData({ configFile: file, line: 2 });
        assert.equal(r.example.line, 2);
        assert.equal(r.stats.examples, 12);
        const rec = readRecipeFile(file);
        const modelDir = join(proj, 'model');
        const data = await loadRecipeData(rec, modelDir, defaultDeps.loadModel(modelDir), defaultDeps, [], loadDataset);
        // The trainer's path (loadDataset refuses what the inspector only reports) gives the same batches.
        assertMatchesTrainer({ ...data.train, tokenized: [], unlabeled: [] }, r.example, trainPlan(rec), data.tokenizer.padTokenId ?? data.tokenizer.eosTokenId ?? 0);
        const special = r.example.tokens.filter((t) => t.special).map((t) => t.text);
        assert.ok(special.length >= 1, 'BOS/EOS or chat markers are marked special');
        assert.equal(r.stats.steps?.stepsPerEpoch, Math.ceil(r.stats.sequences / 4));
      });
    }

    it('errors name the file: an index out of range, a line without an example', async () => {
      const file = join(proj, 'prompt_completion.yaml');
      writeFileSync(file, recipe());
      await assert.rejects(inspectData({ configFile: file, index: 12 }), (e: unknown) => e instanceof InputError && /train\.jsonl: example index 12 is out of range: the train set has 12 examples/.test(e.message));
      await assert.rejects(inspectData({ configFile: file, line: 40 }), (e: unknown) => e instanceof InputError && /line 40 holds no example/.test(e.message));
      const ev = await inspectData({ configFile: file, split: 'eval', index: 2 });
      assert.equal(ev.stats.examples, 3);
      assert.equal(ev.example.firstStep, undefined);
    });

    it('CLI: --json prints the inspection, the text view marks masked and trained tokens; bad options exit 2, bad input 1', async () => {
      const file = join(proj, 'prompt_completion.yaml');
      writeFileSync(file, recipe());
      const j = await run(['inspect-data', file, '--index', '3', '--json']);
      assert.equal(j.code, 0);
      const r = JSON.parse(j.out) as { split: string; example: ExampleView; stats: { examples: number }; lint: { counts: Record<string, number> } };
      assert.deepEqual([r.split, r.example.index, r.stats.examples], ['train', 3, 12]);
      assert.deepEqual(r.lint.counts, {}); // the sample data is clean
      const t = await run(['inspect-data', file, '--line', '1']);
      assert.equal(t.code, 0);
      assert.match(t.out, /example 0 \(line 1\): kept/);
      assert.match(t.out, /masked +"<\|begin_of_text\|>" +\[special\]/);
      assert.match(t.out, /trained +"<\|end_of_text\|>" +\[special\]/);
      assert.match(t.out, /steps: 12 sequences ÷ 4 per optimizer step = 3 steps an epoch/);
      assert.equal((await run(['inspect-data', file, '--index', 'x'])).code, 2);
      assert.equal((await run(['inspect-data', file, '--index', '1', '--line', '1'])).code, 2);
      assert.equal((await run(['inspect-data', file, '--index', '99'])).code, 1);
      // A planted key shows in the inspector's diagnostics summary.
      const data = join(proj, 'data', 'prompt_completion', 'train.jsonl');
      const planted = join(proj, 'planted.jsonl');
      writeFileSync(planted, readFileSync(data, 'utf8') + JSON.stringify({ prompt: 'Deploy?', completion: ['Use AKIA', 'QWERTYUIOPASDF23 now.'].join('') }) + '\n');
      writeFileSync(join(proj, 'planted.yaml'), recipe().replace('data/prompt_completion/train.jsonl', 'planted.jsonl'));
      const p = await run(['inspect-data', join(proj, 'planted.yaml'), '--line', '13']);
      assert.match(p.out, /diagnostics: secret 1/);
      assert.match(p.out, /line 13: error: Possible secret: an AWS access key id/);
      assert.match(p.out, /diagnostics on this line:\n  error: Possible secret/);
    });
  });
});

