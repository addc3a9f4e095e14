// The exported train.py run by Debian's python3 (+ torch): it compiles, its data formatting gives the sequences of our
// pipeline (src/core/train/data) on every format, with and without packing, and its metrics callback writes a run
// folder that our run reader (src/core/runs/readRuns.ts) reads — checked live and against a recorded log.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readRun, summarize } from '../../../src/core/runs/readRuns';
import { buildTrlExport, writeTrlExport } from '../../../src/core/export/exportTrl';
import { TRAIN_PY } from '../../../src/core/export/trainPy';
import { collate } from '../../../src/core/train/data/collate';
import { buildDataset } from '../../../src/core/train/data/dataset';
import { parseJsonl } from '../../../src/core/train/data/jsonl';
import type { DataFormat } from '../../../src/core/train/data/formats';
import { CharTokenizer } from '../train/data/charTokenizer';
import { tempDir } from '../hf/tinyModels';

const PY = '/usr/bin/python3';
const DRIVER = path.join(__dirname, 'train_py_driver.py');
const RECORDED = path.join(__dirname, '..', '..', 'fixtures', 'export', 'trl-run');
const hasTorch = ((): boolean => {
  try {
    execFileSync(PY, ['-c', 'import torch'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

const DATA: Record<DataFormat, unknown[]> = {
  text: [{ text: 'The sky is blue.' }, { text: 'Grass is green and long enough to be cut here.' }, { text: 'ab' }],
  alpaca: [{ instruction: 'Add 2 and 3.', input: '', output: '5' }, { instruction: 'Translate', input: 'chat', output: 'cat' }, { instruction: 'Echo', output: 'echo echo echo echo' }],
  prompt_completion: [{ prompt: 'Q: 1+1?', completion: ' 2' }, { prompt: 'Capital of France?', completion: ' Paris.' }],
  messages: [
    { messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello!' }] },
    { messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }, { role: 'user', content: 'c' }, { role: 'assistant', content: 'dd' }] },
  ],
  tokenized: [{ input_ids: [1, 5, 6, 7, 8], labels: [-100, -100, 6, 7, 8] }, { input_ids: [1, 9, 10, 11] }],
};

interface PyCase { format: string; sequences: { input_ids: number[]; labels: number[]; position_ids?: number[]; lines: number[] }[]; truncated: number; dropped: number[]; batch: Record<string, number[][]> }

describe('export trl: train.py', function () {
  this.timeout(60000);
  let dir: string;
  let trainPy: string;
  before(function () {
    dir = tempDir('trainpy');
    trainPy = path.join(dir, 'train.py');
    fs.writeFileSync(trainPy, TRAIN_PY);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('compiles with python3 -m py_compile', () => {
    execFileSync(PY, ['-m', 'py_compile', trainPy], { stdio: 'pipe' });
    assert.ok(fs.existsSync(path.join(dir, '__pycache__')));
  });

  it('formats, masks, truncates and packs every data format as our pipeline does', function () {
    if (!hasTorch) this.skip();
    const tok = new CharTokenizer();
    const cases: { file: string; format: string; max_length: number; packing: boolean; train_on_prompt: boolean; batch: number }[] = [];
    const expected: { fmt: DataFormat; ds: ReturnType<typeof buildDataset>; batchRows: number }[] = [];
    for (const fmt of Object.keys(DATA) as DataFormat[]) {
      const file = path.join(dir, `${fmt}.jsonl`);
      const text = DATA[fmt].map((r) => JSON.stringify(r)).join('\n') + '\n';
      fs.writeFileSync(file, text);
      const lengths = fmt === 'alpaca' ? [200, 64, 400] : fmt === 'messages' ? [60, 32, 120] : [24, 16, 40];
      for (const [maxLength, packing, trainOnPrompt] of [[lengths[0]!, false, false], [lengths[1]!, true, false], [lengths[2]!, false, true]] as const) {
        cases.push({ file, format: 'auto', max_length: maxLength, packing, train_on_prompt: trainOnPrompt, batch: 2 });
        const ds = buildDataset(parseJsonl(text, file), { file, format: 'auto', maxLength, packing, trainOnPrompt, tokenizer: tok });
        expected.push({ fmt, ds, batchRows: 2 });
      }
    }
    const job = path.join(dir, 'job.json');
    fs.writeFileSync(job, JSON.stringify({ cases }));
    const out = JSON.parse(execFileSync(PY, [DRIVER, 'data', trainPy, job], { encoding: 'utf8' })) as PyCase[];
    assert.equal(out.length, expected.length);
    let compared = 0;
    out.forEach((py, i) => {
      const { fmt, ds } = expected[i]!;
      const what = `${fmt} case ${i % 3}`;
      assert.equal(py.format, ds.format, what);
      assert.equal(py.truncated, ds.truncated, what);
      assert.deepEqual(py.dropped, ds.dropped, what);
      assert.equal(py.sequences.length, ds.sequences.length, what);
      py.sequences.forEach((s, j) => {
        const ours = ds.sequences[j]!;
        assert.deepEqual(s.input_ids, ours.inputIds, `${what} row ${j} input_ids`);
        assert.deepEqual(s.labels, ours.labels, `${what} row ${j} labels`);
        assert.deepEqual(s.position_ids, ours.positionIds, `${what} row ${j} position ids`);
        assert.deepEqual(s.lines, ours.lines, `${what} row ${j} lines`);
        compared += s.input_ids.length;
      });
      // The collator pads as ours; it also drops the label at position 0 (no logit predicts it) so that
      // transformers' token count is our loss-position count.
      const b = collate(ds.sequences.slice(0, 2), tok.padTokenId);
      const rows = (x: BigInt64Array): number[][] => Array.from({ length: b.batchSize }, (_, r) => Array.from(x.slice(r * b.seqLen, (r + 1) * b.seqLen), Number));
      assert.deepEqual(py.batch['input_ids'], rows(b.inputIds), what);
      assert.deepEqual(py.batch['labels'], rows(b.labels).map((r) => [-100, ...r.slice(1)]), what);
      if (b.positionIds !== undefined) assert.deepEqual(py.batch['position_ids'], rows(b.positionIds), what);
      else assert.deepEqual(py.batch['attention_mask'], rows(b.attentionMask), what);
    });
    assert.ok(compared > 500, `compared ${compared} tokens`);
  });

  it('main(): hands TRL our prepared rows, collator and full LoraConfig, with TRL\'s own preparation switched off', function () {
    if (!hasTorch) this.skip();
    // TRL, PEFT, datasets and safetensors are stubbed (not installable here); the stub trainer runs two steps
    // through train.py's collator and callback. Everything else is the exported project as written.
    const proj = path.join(dir, 'proj');
    fs.mkdirSync(path.join(proj, 'data'), { recursive: true });
    fs.mkdirSync(path.join(proj, 'init'), { recursive: true });
    const adapter = { peft_type: 'LORA', base_model_name_or_path: 'Qwen/Qwen2.5-0.5B', r: 8, lora_alpha: 16, target_modules: ['q_proj', 'v_proj'], rank_pattern: { v_proj: 4 }, use_rslora: true };
    fs.writeFileSync(path.join(proj, 'adapter_config.json'), JSON.stringify(adapter));
    fs.writeFileSync(path.join(proj, 'init', 'adapter_config.json'), JSON.stringify({ ...adapter, r: 4 }));
    fs.writeFileSync(path.join(proj, 'init', 'adapter_model.safetensors'), 'stub');
    const text = Array.from({ length: 8 }, (_, i) => JSON.stringify({ prompt: `Q${i}: ${'x'.repeat(i)}?`, completion: ` A${i}` })).join('\n') + '\n';
    fs.writeFileSync(path.join(proj, 'data', 'train.jsonl'), text);
    fs.writeFileSync(path.join(proj, 'peft-train.yaml'), 'base_model: Qwen/Qwen2.5-0.5B\ninit_adapter: init\ndataset:\n  train: data/train.jsonl\n  eval: data/train.jsonl\n  shuffle: false\ntraining:\n  max_steps: 2\n  per_device_train_batch_size: 4\nrun_name: glue\n');
    const out = path.join(dir, 'exported');
    writeTrlExport(buildTrlExport({ recipeFile: path.join(proj, 'peft-train.yaml') }), out);
    const r = JSON.parse(execFileSync(PY, [DRIVER, 'main', path.join(out, 'train.py'), 'x', '--config', path.join(out, 'sft_config.yaml')], { cwd: out, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) as {
      model: string; peft_config: Record<string, unknown>; quantization: unknown; flags: Record<string, unknown>; rows: number; eval_rows: number; batches: Record<string, number[][]>[]; loaded: string[][];
    };
    assert.equal(r.model, 'Qwen/Qwen2.5-0.5B');
    // init_adapter: its own LoraConfig (r 4), then its weights
    assert.deepEqual(r.peft_config, { r: 4, lora_alpha: 16, target_modules: ['q_proj', 'v_proj'], rank_pattern: { v_proj: 4 }, use_rslora: true });
    assert.deepEqual(r.loaded, [['base_model.model.x.lora_A.weight', 'path']]);
    assert.equal(r.quantization, null);
    assert.deepEqual(r.flags, {
      packing: false, padding_free: false, completion_only_loss: false, assistant_only_loss: false, remove_unused_columns: false,
      dataset_kwargs: { skip_prepare_dataset: true }, model_init_kwargs: { revision: 'main', trust_remote_code: false, attn_implementation: null, dtype: 'float32' },
    });
    assert.equal(r.rows, 8);
    assert.equal(r.eval_rows, 8);
    const ds = buildDataset(parseJsonl(text, 'train.jsonl'), { file: 'train.jsonl', format: 'auto', maxLength: 512, packing: false, trainOnPrompt: false, tokenizer: new CharTokenizer() });
    for (const k of [0, 1]) {
      const b = collate(ds.sequences.slice(4 * k, 4 * k + 4), 0);
      const rows = (x: BigInt64Array): number[][] => Array.from({ length: b.batchSize }, (_, i) => Array.from(x.slice(i * b.seqLen, (i + 1) * b.seqLen), Number));
      assert.deepEqual(r.batches[k]!['input_ids'], rows(b.inputIds));
      assert.deepEqual(r.batches[k]!['labels'], rows(b.labels).map((x) => [-100, ...x.slice(1)]));
    }
    const view = readRun(path.join(out, 'runs', 'glue'));
    assert.equal(view.status, 'completed');
    assert.deepEqual(view.steps.map((s) => s.lr), [1e-4, 2e-4], 'the rate each step used');
    assert.deepEqual(view.evals.map((e) => e.eval_loss), [1.5]);
    assert.equal(view.start?.trainable, 32);
  });

  it('its metrics callback writes a run folder our run reader reads (live and the recorded log)', function () {
    const runDir = path.join(dir, 'runs', 'trl-run');
    execFileSync(PY, [DRIVER, 'callback', trainPy, runDir], { encoding: 'utf8' });
    for (const d of [runDir, RECORDED]) {
      const view = readRun(d);
      assert.equal(view.skippedLines, 0, d);
      assert.equal(view.status, 'completed', d);
      assert.deepEqual(view.steps.map((s) => s.step), [1, 2, 3]);
      assert.deepEqual(view.steps.map((s) => s.loss), [2.5, 2.25, 2.0]);
      // The rate each step used (read at step begin), not the next step's rate transformers logs.
      assert.deepEqual(view.steps.map((s) => s.lr), [0, 2e-4, 1e-4]);
      assert.deepEqual(view.steps.map((s) => s.tokens_per_s), [256, 256, 256]);
      assert.deepEqual(view.evals.map((e) => [e.step, e.eval_loss]), [[3, 2.1]]);
      assert.equal(view.checkpoints.length, 1);
      const sum = summarize(view, []);
      assert.equal(sum.lastStep, 3);
      assert.equal(sum.maxSteps, 3);
      assert.equal(sum.finalLoss, 2.0);
      assert.equal(sum.baseModel, 'Qwen/Qwen2.5-0.5B');
    }
    // The recorded log is what the callback writes, up to times and folders.
    const norm = (d: string): string => fs.readFileSync(path.join(d, 'metrics.jsonl'), 'utf8').split(d).join('RUN').replace(/"time": "[^"]*"/g, '"time": "T"');
    assert.equal(norm(runDir), norm(RECORDED));
  });
});
