import { strict as assert } from 'node:assert';
import { parseJsonl } from '../../../../src/core/train/data/jsonl';
import { alpacaPrompt, checkFormat, DATA_FORMAT_KEYS, detectFormat, IGNORE_INDEX, tokenizeRecord, type DataFormat } from '../../../../src/core/train/data/formats';
import { lintDataset } from '../../../../src/core/validate/dataset';
import { buildDataset } from '../../../../src/core/train/data/dataset';
import { InputError } from '../../../../src/core/errors';
import { CharTokenizer } from './charTokenizer';

const tok = new CharTokenizer();
const F = 'train.jsonl';
const jsonl = (...rows: unknown[]): string => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';

/** Decodes the label positions that are trained (not -100). */
function trained(labels: number[]): string {
  return tok.decode(labels.filter((l) => l !== IGNORE_INDEX));
}

describe('data formats', () => {
  it('names file and line of a malformed JSONL line, skipping blank lines', () => {
    const text = '{"text":"a"}\n\n{"text": "b"\n';
    assert.throws(() => parseJsonl(text, F), (e: unknown) => e instanceof InputError && e.context.line === 3 && e.message.startsWith('train.jsonl:3:'));
    assert.throws(() => parseJsonl('[1,2]\n', F), /train.jsonl:1: each line must be a JSON object/);
    assert.deepEqual(parseJsonl('{"text":"a"}\n\n{"text":"b"}\n', F).map((r) => r.line), [1, 3]);
  });

  it('detects every format from the keys and rejects mixed files with both lines named', () => {
    const cases: [unknown, string][] = [
      [{ text: 'x' }, 'text'],
      [{ instruction: 'i', input: '', output: 'o' }, 'alpaca'],
      [{ messages: [{ role: 'user', content: 'hi' }] }, 'messages'],
      [{ prompt: 'p', completion: 'c' }, 'prompt_completion'],
      [{ input_ids: [5, 6] }, 'tokenized'],
    ];
    for (const [row, f] of cases) assert.equal(detectFormat(parseJsonl(jsonl(row, row), F), F), f);
    assert.throws(
      () => detectFormat(parseJsonl(jsonl({ text: 'a' }, { text: 'b' }, { prompt: 'p', completion: 'c' }), F), F),
      /train.jsonl:3: mixed data formats: this line is "prompt_completion" but line 1 is "text"/,
    );
    assert.throws(() => detectFormat(parseJsonl(jsonl({ foo: 1 }), F), F), /train.jsonl:1: cannot tell the data format/);
  });

  it('text: BOS + tokens + EOS, every position trained', () => {
    const [r] = parseJsonl(jsonl({ text: 'abc' }), F);
    const ex = tokenizeRecord(r!, 'text', tok, false, F);
    assert.deepEqual(ex.inputIds, [1, 100, 101, 102, 2]);
    assert.deepEqual(ex.labels, ex.inputIds);
  });

  it('alpaca: the Stanford prompt is masked, the output and EOS are trained', () => {
    const [r] = parseJsonl(jsonl({ instruction: 'Add', input: '1 2', output: '3' }), F);
    const ex = tokenizeRecord(r!, 'alpaca', tok, false, F);
    const promptLen = 1 + alpacaPrompt('Add', '1 2').length;
    assert.equal(ex.inputIds.length, promptLen + 2);
    assert.ok(ex.labels.slice(0, promptLen).every((l) => l === IGNORE_INDEX));
    assert.deepEqual(ex.labels.slice(promptLen), [tok.encode('3', false)[0], 2]);
    assert.ok(tok.decode(ex.inputIds).includes('### Input:\n1 2'));
    // without input the short template is used; train_on_prompt trains everything
    const [r2] = parseJsonl(jsonl({ instruction: 'Hi', output: 'yo' }), F);
    const all = tokenizeRecord(r2!, 'alpaca', tok, true, F);
    assert.ok(!tok.decode(all.inputIds).includes('### Input'));
    assert.deepEqual(all.labels, all.inputIds);
  });

  it('prompt_completion: prompt positions are -100, completion + EOS trained', () => {
    const [r] = parseJsonl(jsonl({ prompt: 'Q:', completion: ' A' }), F);
    const ex = tokenizeRecord(r!, 'prompt_completion', tok, false, F);
    assert.deepEqual(ex.inputIds, [1, 84, 61, 35, 68, 2]);
    assert.deepEqual(ex.labels, [-100, -100, -100, 35, 68, 2]);
  });

  it('messages: only assistant turns (with their end-of-turn) are trained, found through the chat template', () => {
    const [r] = parseJsonl(
      jsonl({
        messages: [
          { role: 'system', content: 'S' },
          { role: 'user', content: 'U1' },
          { role: 'assistant', content: 'A1' },
          { role: 'user', content: 'U2' },
          { role: 'assistant', content: 'A2' },
        ],
      }),
      F,
    );
    const ex = tokenizeRecord(r!, 'messages', tok, false, F);
    assert.equal(tok.decode(ex.inputIds), tok.applyChatTemplate(JSON.parse(jsonl(r!.value).trim()).messages, false));
    // trained text = exactly the two assistant contents with their <|im_end|>\n
    assert.equal(trained(ex.labels), 'A1<|im_end|>\nA2<|im_end|>\n');
    // the first trained position is right after "<|im_start|>assistant\n" of turn 1
    const text = tok.decode(ex.inputIds);
    const first = ex.labels.findIndex((l) => l !== IGNORE_INDEX);
    assert.equal(first, text.indexOf('<|im_start|>assistant\n') + '<|im_start|>assistant\n'.length);
    const everything = tokenizeRecord(r!, 'messages', tok, true, F);
    assert.deepEqual(everything.labels, everything.inputIds);
  });

  it('tokenized: labels default to input_ids, given labels keep -100, lengths must agree', () => {
    const recs = parseJsonl(jsonl({ input_ids: [5, 6, 7] }, { input_ids: [5, 6, 7], labels: [-100, 6, 7] }, { input_ids: [5], labels: [5, 6] }), F);
    assert.deepEqual(tokenizeRecord(recs[0]!, 'tokenized', tok, false, F).labels, [5, 6, 7]);
    assert.deepEqual(tokenizeRecord(recs[1]!, 'tokenized', tok, false, F).labels, [-100, 6, 7]);
    assert.throws(() => tokenizeRecord(recs[2]!, 'tokenized', tok, false, F), /train.jsonl:3: "labels" must have the same length/);
  });

  it('an explicit format names the first line that does not fit; out-of-vocabulary ids are errors', () => {
    const recs = parseJsonl(jsonl({ text: 'a' }, { prompt: 'p', completion: 'c' }), F);
    const base = { file: F, maxLength: 64, packing: false, trainOnPrompt: false, tokenizer: tok };
    assert.throws(() => buildDataset(recs, { ...base, format: 'text' }), /train.jsonl:2: dataset.format is "text" but this line has no "text"/);
    const ids = parseJsonl(jsonl({ input_ids: [1, 2, 3] }, { input_ids: [1, 99] }), F);
    assert.throws(() => buildDataset(ids, { ...base, format: 'auto', vocabSize: 50 }), /train.jsonl:2: token id 99 is outside/);
    assert.throws(() => buildDataset([], { ...base, format: 'auto' }), /data set is empty/);
  });

  it('the trainer and the data-set lint read one table of required keys: each missing key fails both', () => {
    const full: Record<DataFormat, Record<string, unknown>> = {
      tokenized: { input_ids: [1, 2] },
      messages: { messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }] },
      alpaca: { instruction: 'i', output: 'o' },
      prompt_completion: { prompt: 'p', completion: 'c' },
      text: { text: 't' },
    };
    let checked = 0;
    for (const [format, keys] of Object.entries(DATA_FORMAT_KEYS) as [DataFormat, (typeof DATA_FORMAT_KEYS)[DataFormat]][]) {
      assert.doesNotThrow(() => checkFormat(parseJsonl(jsonl(full[format]), F), format, F));
      assert.deepEqual(lintDataset(jsonl(full[format]), { format }).filter((p) => p.severity === 'error'), []);
      for (const k of keys.required) {
        const broken = { ...full[format], other: 1 };
        delete (broken as Record<string, unknown>)[k];
        assert.throws(() => checkFormat(parseJsonl(jsonl(broken), F), format, F), new RegExp(`no "${k}"`));
        assert.deepEqual(lintDataset(jsonl(broken), { format }).map((p) => p.code), ['format-mismatch']);
        checked++;
      }
    }
    assert.equal(checked, 7);
  });
});
