// The command line against CONTRACTS.md §3-4 as an outside checker drives it: usage errors (exit 2, usage on
// stderr), bad input (exit 1), validate's file kinds and unreadable files, train --resume without CONFIG, counts.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { commands } from '../../../src/cli/commands/index';
import { makeFixture } from '../../../src/core/fixtures/makeFixture';
import { writeSampleData } from '../../../src/core/fixtures/sampleData';
import { isRunEvent, type RunEvent } from '../../../src/shared/protocol';
import { LLAMA3_8B_CONFIG, tempDir, writeConfig } from '../hf/tinyModels';
import { type CliResult as Result, runCli as cli } from './runCli';

const GPT2_124M = {
  activation_function: 'gelu_new', architectures: ['GPT2LMHeadModel'], layer_norm_epsilon: 1e-5, model_type: 'gpt2',
  n_ctx: 1024, n_embd: 768, n_head: 12, n_layer: 12, n_positions: 1024, vocab_size: 50257,
};

describe('peft-studio conformance (CONTRACTS.md §3-4)', function () {
  this.timeout(60000);
  let root: string;
  let llama3: string;
  let gpt2: string;
  let tiny: string;
  const write = (rel: string, text: string | Buffer): string => {
    const f = path.join(root, rel);
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, text);
    return f;
  };
  const json = <T>(r: Result): T => JSON.parse(r.out) as T;

  before(async () => {
    root = tempDir('cli-conformance');
    llama3 = writeConfig(path.join(root, 'llama3'), LLAMA3_8B_CONFIG);
    gpt2 = writeConfig(path.join(root, 'gpt2'), GPT2_124M);
    tiny = path.join(root, 'tiny');
    await makeFixture({ arch: 'llama', outDir: tiny, seed: 1 });
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  describe('usage', () => {
    it('no command: exit 2, the usage on stderr and nothing on stdout', async () => {
      const r = await cli([]);
      assert.equal(r.code, 2);
      assert.equal(r.out, '');
      assert.match(r.err, /missing command[\s\S]*Usage: peft-studio <command>/);
    });

    it('unknown commands and options: exit 2 with the usage and a did-you-mean', async () => {
      const r = await cli(['valdate', 'x.json']);
      assert.equal(r.code, 2);
      assert.match(r.err, /unknown command "valdate"\. Did you mean "validate"\?[\s\S]*Usage: peft-studio <command>/);
      const o = await cli(['--frobnicate']);
      assert.equal(o.code, 2);
      assert.match(o.err, /unknown option "--frobnicate"[\s\S]*Commands:/);
      assert.equal((await cli(['count', 'a.json', '--bogus'])).code, 2);
    });

    it('--help of every command and `help COMMAND` exit 0 with the usage on stdout', async () => {
      for (const c of commands) {
        const r = await cli([c.name, '--help']);
        assert.equal(r.code, 0, c.name);
        assert.match(r.out, new RegExp(`^Usage: peft-studio ${c.name}`), c.name);
        assert.equal((await cli(['help', c.name])).out, r.out);
      }
      assert.equal((await cli(['help', 'nope'])).code, 2);
    });

    it('a closed stdout pipe (`| head`) ends the command quietly, without an EPIPE stack trace', async () => {
      const child = spawn(process.execPath, ['--require', require.resolve('tsx/cjs'), '-e', `require(${JSON.stringify(path.resolve(__dirname, '../../../src/cli/main.ts'))}).main(['inspect', ${JSON.stringify(llama3)}, '--json']).then((c) => { process.exitCode = c; })`], { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout.destroy();
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const code = await new Promise<number | null>((res) => child.on('close', res));
      assert.equal(code, 0, err);
      assert.doesNotMatch(err, /EPIPE/);
    });
  });

  describe('validate', () => {
    it('an adapter config under another name is recognised by its LoraConfig keys and checked against --model', async () => {
      const f = write('named/my_lora.json', '{\n  "peft_type": "LORA",\n  "r": 8,\n  "target_modules": ["q_proj", "qq_proj"]\n}\n');
      const r = await cli(['validate', f, '--model', tiny, '--json']);
      assert.equal(r.code, 1);
      assert.deepEqual(json<{ code: string; line: number; column: number }[]>(r).map((p) => [p.code, p.line, p.column]), [['target-not-found', 4, 32]]);
      // ... and as the adapter_config of the recipe beside it, which also gives the base model
      write('named/peft-train.yaml', `base_model: ${tiny}\nadapter_config: ./my_lora.json\ndataset:\n  train: t.jsonl\n`);
      assert.deepEqual(json<{ code: string }[]>(await cli(['validate', f, '--json'])).map((p) => p.code), ['target-not-found']);
    });

    it('a peft-train.yaml beside the config that points to another adapter config does not give the base model', async () => {
      const f = write('other/adapter_config.json', JSON.stringify({ peft_type: 'LORA', base_model_name_or_path: tiny, target_modules: ['q_proj'] }));
      write('other/peft-train.yaml', `base_model: ${gpt2}\nadapter_config: ./gpt2_lora.json\ndataset:\n  train: t.jsonl\n`);
      const r = await cli(['validate', f, '--json']);
      assert.deepEqual(json<unknown[]>(r), [], 'checked against tiny (base_model_name_or_path), not the recipe\'s GPT-2');
      write('other/peft-train.yaml', `base_model: ${gpt2}\ndataset:\n  train: t.jsonl\n`); // adapter_config defaults to ./adapter_config.json
      assert.deepEqual(json<{ code: string }[]>(await cli(['validate', f, '--json'])).map((p) => p.code), ['base-model-mismatch', 'target-not-found']);
    });

    it('planted mistakes in adapter_config.json: each at its key or value, 1-based, with the contract\'s JSON shape', async () => {
      const text = [
        '{',
        '  "peft_type": "LORAX",',
        '  "r": 0,',
        '  "lora_alpa": 16,',
        '  "lora_dropout": 1.5,',
        '  "bias": "some",',
        '  "init_lora_weights": "uniform",',
        '  "task_type": "CAUSAL",',
        '  "target_modules": ["q_proj"]',
        '}',
      ].join('\n');
      const r = await cli(['validate', write('planted/adapter_config.json', text), '--model', tiny, '--json']);
      assert.equal(r.code, 1);
      const ps = json<{ line: number; column: number; endColumn: number; severity: string; code: string; message: string }[]>(r);
      assert.deepEqual(ps.map((p) => [p.line, p.column, p.endColumn, p.severity, p.code]), [
        [2, 16, 23, 'error', 'bad-enum'],
        [3, 8, 9, 'error', 'out-of-range'],
        [4, 3, 14, 'warning', 'unknown-key'],
        [5, 19, 22, 'error', 'out-of-range'],
        [6, 11, 17, 'error', 'bad-enum'],
        [7, 24, 33, 'error', 'bad-enum'],
        [8, 16, 24, 'error', 'bad-enum'],
      ]);
      assert.match(ps[2]!.message, /Did you mean "lora_alpha"\?/);
      assert.match(ps[5]!.message, /^Unknown init_lora_weights value "uniform": use true, false, "gaussian"/);
      assert.match(ps[6]!.message, /^Invalid task type "CAUSAL": must be one of .*CAUSAL_LM/);
      assert.match(ps[0]!.message, /^peft_type "LORAX" is not supported/);
    });

    it('a string target_modules is a fullmatch regex: a plain name gets the rule and a list fix, a broken one bad-regex', async () => {
      const f = write('re/adapter_config.json', '{"peft_type": "LORA", "target_modules": "q_proj"}');
      const ps = json<{ code: string; column: number; message: string }[]>(await cli(['validate', f, '--model', tiny, '--json']));
      assert.deepEqual(ps.map((p) => [p.code, p.column]), [['target-not-found', 41]]);
      assert.match(ps[0]!.message, /^Target module regex "q_proj" matches no module .*must match the whole name, e\.g\. "model\.layers\.0\.self_attn\.q_proj"\. Write \["q_proj"\]/);
      fs.writeFileSync(f, '{"peft_type": "LORA", "target_modules": "(q_proj"}');
      assert.deepEqual(json<{ code: string }[]>(await cli(['validate', f, '--model', tiny, '--json'])).map((p) => p.code), ['bad-regex']);
      fs.writeFileSync(f, '{"peft_type": "LORA", "target_modules": ".*\\\\.(q_proj|v_proj)"}');
      assert.deepEqual(json<unknown[]>(await cli(['validate', f, '--model', tiny, '--json'])), []);
    });

    it('a UTF-8 byte-order mark in JSON is one error at 1:1; the rest is still checked at the right columns', async () => {
      const f = write('bom/adapter_config.json', '\uFEFF{"peft_type": "LORA", "target_modules": ["q_proj", "vv_proj"]}');
      const ps = json<{ code: string; line: number; column: number }[]>(await cli(['validate', f, '--model', tiny, '--json']));
      assert.deepEqual(ps.map((p) => [p.code, p.line, p.column]), [['utf8-bom', 1, 1], ['target-not-found', 1, 52]]);
    });

    it('an adapter config with no base model to be found: no diagnostic invented, a note on stderr in text mode', async () => {
      const f = write('nomodel/adapter_config.json', '{"peft_type": "LORA", "base_model_name_or_path": "meta-llama/Meta-Llama-3-8B", "target_modules": ["qq_proj"]}');
      const j = await cli(['validate', f, '--json']);
      assert.deepEqual([j.code, json<unknown[]>(j), j.err], [0, [], '']);
      const t = await cli(['validate', f]);
      assert.match(t.err, /note: .*adapter_config\.json: no base model found .*"meta-llama\/Meta-Llama-3-8B" is not one\): target_modules were not checked/);
      assert.doesNotMatch((await cli(['validate', f, '--model', tiny])).err, /no base model found/);
    });

    it('a folder, a binary file, an empty config and a missing file: one clear error each, exit 1', async () => {
      const bin = write('bin/adapter_config.json', fs.readFileSync(path.join(tiny, 'model.safetensors')).subarray(0, 400));
      const empty = write('empty/adapter_config.json', '  \n');
      const dir = path.join(root, 'empty');
      const missing = path.join(root, 'nowhere', 'adapter_config.json');
      const r = await cli(['validate', dir, bin, empty, missing, '--json']);
      assert.equal(r.code, 1);
      const ps = json<{ file: string; line: number; column: number; severity: string; code: string; message: string }[]>(r);
      assert.deepEqual(ps.map((p) => [p.file, p.code, p.severity, p.line, p.column]), [
        [dir, 'is-a-directory', 'error', 1, 1],
        [bin, 'binary-file', 'error', 1, 1],
        [empty, 'empty-file', 'error', 1, 1],
        [missing, 'file-not-found', 'error', 1, 1],
      ]);
      assert.match(ps[0]!.message, /is a folder, not a file/);
      assert.equal(ps[3]!.message, `File not found: ${missing}`);
    });

    it('a wrong type elsewhere does not hide a target that matches nothing', async () => {
      const f = write('types/adapter_config.json', '{"peft_type": "LORA", "r": "8", "target_modules": ["q_proj", "vv_proj"]}');
      const r = await cli(['validate', f, '--model', tiny, '--json']);
      assert.deepEqual(json<{ code: string; column: number }[]>(r).map((p) => [p.code, p.column]), [['bad-type', 28], ['target-not-found', 62]]);
    });

    it('base_model_name_or_path relative to the working directory (as PEFT resolves it) finds the model', async () => {
      const f = write('cwd/sub/adapter_config.json', '{"peft_type": "LORA", "base_model_name_or_path": "tiny", "target_modules": ["q_prj"]}');
      const cwd = process.cwd();
      process.chdir(root);
      try {
        const r = await cli(['validate', f, '--json']);
        assert.deepEqual(json<{ code: string }[]>(r).map((p) => p.code), ['target-not-found']);
      } finally {
        process.chdir(cwd);
      }
    });

    it('peft-train.yaml: an unknown key is an error (train refuses it); a missing key quotes the whole first sentence', async () => {
      const data = write('rec/t.jsonl', '{"text": "a"}\n{"text": "b"}\n');
      const f = write('rec/peft-train.yaml', `base_model: ${tiny}\ndataset:\n  train: ${data}\n  packin: true\n`);
      const r = await cli(['validate', f, '--json']);
      assert.equal(r.code, 1);
      const p = json<{ code: string; severity: string; line: number; column: number; endColumn: number; message: string }[]>(r)[0]!;
      assert.deepEqual([p.code, p.severity, p.line, p.column, p.endColumn], ['unknown-key', 'error', 4, 3, 9]);
      assert.match(p.message, /Did you mean "packing"\?/);
      const t = await cli(['train', f, '--json']);
      assert.equal(t.code, 1, 'train agrees with validate');
      const m = await cli(['validate', write('rec2/peft-train.yaml', 'dataset:\n  train: t.jsonl\n'), '--json']);
      const msg = json<{ code: string; message: string }[]>(m).find((x) => x.code === 'missing-key')!.message;
      assert.match(msg, /^"base_model" is required: .*\(config\.json, \*\.safetensors, tokenizer\.json\), relative to this file, or a hub id `org\/name`\.$/);
    });
  });

  describe('count (hand calculations)', () => {
    it('Llama-3-8B, rank_pattern on q/v/down: r·(in+out) per module; rslora does not change the count', async () => {
      const cfg = { peft_type: 'LORA', r: 8, target_modules: ['q_proj', 'v_proj', 'down_proj'], rank_pattern: { v_proj: 32, 'layers.0.self_attn.q_proj': 4 } };
      const a = write('c1/adapter_config.json', JSON.stringify({ ...cfg, use_rslora: true }));
      const r = json<{ trainable: number; total: number; percent: number; modules: { name: string; r: number; in: number; out: number; params: number }[] }>(await cli(['count', a, '--model', llama3, '--json']));
      // q: 31·8·(4096+4096) + 4·8192; v: 32·32·(4096+1024); down: 32·8·(14336+4096)
      const trainable = 31 * 8 * 8192 + 4 * 8192 + 32 * 32 * 5120 + 32 * 8 * 18432;
      assert.equal(trainable, 12_025_856);
      assert.equal(r.trainable, trainable);
      assert.equal(r.total, 8_030_261_248 + trainable);
      assert.equal(r.percent, (100 * trainable) / (8_030_261_248 + trainable));
      assert.deepEqual(r.modules[0], { name: 'model.layers.0.self_attn.q_proj', r: 4, in: 4096, out: 4096, params: 32768 });
      assert.deepEqual(r.modules[1], { name: 'model.layers.0.self_attn.v_proj', r: 32, in: 4096, out: 1024, params: 163840 });
      const plain = write('c2/adapter_config.json', JSON.stringify(cfg));
      assert.equal(json<{ trainable: number }>(await cli(['count', plain, '--model', llama3, '--json'])).trainable, trainable);
    });

    it('GPT-2 124M with "all-linear": c_attn, attn.c_proj, c_fc, mlp.c_proj in 12 layers, not lm_head', async () => {
      const a = write('c3/adapter_config.json', JSON.stringify({ peft_type: 'LORA', r: 8, target_modules: 'all-linear' }));
      const r = json<{ trainable: number; total: number; modules: { name: string }[] }>(await cli(['count', a, '--model', gpt2, '--json']));
      const perLayer = 8 * (768 + 2304) + 8 * (768 + 768) + 8 * (768 + 3072) + 8 * (3072 + 768);
      assert.equal(r.trainable, 12 * perLayer);
      assert.equal(r.total, 124_439_808 + 12 * perLayer);
      assert.equal(r.modules.length, 48);
      assert.ok(!r.modules.some((m) => m.name.includes('lm_head')));
    });
  });

  describe('bad input is exit 1 with the file, the line and what to do', () => {
    it('count: truncated JSON names line and column; a non-object says what it got, not "expected ?"', async () => {
      const t = await cli(['count', write('bad1/adapter_config.json', '{\n  "r": 8,\n  "target_modules": ["q_proj"'), '--model', tiny]);
      assert.equal(t.code, 1);
      assert.match(t.err, /adapter_config\.json:3: invalid JSON: close bracket expected at column 30\. .*peft-studio validate adapter_config\.json/);
      const a = await cli(['count', write('bad2/adapter_config.json', '[1, 2]'), '--model', tiny, '--json']);
      assert.equal(a.code, 1);
      assert.equal(a.out, '');
      assert.match(a.err, /must contain a JSON object \(got array\)/);
    });
  });

  describe('inspect and train', () => {
    it('inspect, count, validate and estimate take the model folder or its config.json; another file is bad input', async () => {
      assert.equal(json<{ dir: string }>(await cli(['inspect', path.join(llama3, 'config.json'), '--json'])).dir, llama3);
      const a = write('m/adapter_config.json', '{"peft_type": "LORA", "r": 8, "target_modules": ["q_proj", "v_proj"]}');
      assert.equal(json<{ trainable: number }>(await cli(['count', a, '--model', path.join(llama3, 'config.json'), '--json'])).trainable, 3_407_872);
      assert.deepEqual(json<unknown[]>(await cli(['validate', a, '--model', path.join(tiny, 'model.safetensors'), '--json'])), []);
      assert.equal((await cli(['estimate', a, '--model', path.join(tiny, 'config.json'), '--json'])).code, 0);
      assert.equal((await cli(['count', a, '--model', a])).code, 1);
      const r = await cli(['inspect', write('notes.txt', 'x')]);
      assert.equal(r.code, 1);
      assert.match(r.err, /notes\.txt: a file, not a model folder/);
    });

    it('train: --device is checked as usage, an adapter config is not a recipe, and --json reports it as a record', async () => {
      assert.equal((await cli(['train', 'peft-train.yaml', '--device', 'tpu'])).code, 2);
      const a = write('t0/adapter_config.json', '{"peft_type": "LORA"}');
      const r = await cli(['train', a, '--json']);
      assert.equal(r.code, 1);
      const rec = json<RunEvent>(r);
      assert.ok(isRunEvent(rec) && rec.event === 'error' && /not a training recipe/.test(rec.message));
      assert.match(r.err, /peft-train\.yaml/);
      const u = await cli(['train', write('t0/peft-train.yaml', `base_model: ${tiny}\ndataset:\n  train: t.jsonl\nzzzz: 1\n`)]);
      assert.equal(u.code, 1);
      assert.match(u.err, /unknown key "zzzz"\. Allowed: base_model/);
    });

    it('train --resume RUN_DIR without CONFIG continues the run from its recipe, exactly', async () => {
      const proj = path.join(root, 'resume');
      writeSampleData(path.join(proj, 'data'), { trainCount: 12, evalCount: 2, formats: ['text'] });
      write('resume/adapter_config.json', JSON.stringify({ peft_type: 'LORA', r: 4, lora_alpha: 8, target_modules: ['q_proj', 'v_proj'] }));
      const recipe = write('resume/peft-train.yaml', [
        `base_model: ${tiny}`, 'dataset:', '  train: data/text/train.jsonl', '  max_length: 32',
        'training:', '  max_steps: 4', '  per_device_train_batch_size: 2', '  save_steps: 2', '  learning_rate: 1.0e-2',
        'device: cpu', 'output_dir: runs', 'run_name: r1', '',
      ].join('\n'));
      const first = await cli(['train', recipe, '--json']);
      assert.equal(first.code, 0, first.err);
      const steps = (out: string): [number, number][] => out.trim().split('\n').map((l) => JSON.parse(l) as RunEvent).flatMap((e) => (e.event === 'step' ? [[e.step, e.loss] as [number, number]] : []));
      const runDir = path.join(proj, 'runs', 'r1');
      const again = await cli(['train', '--resume', path.join(runDir, 'checkpoints', 'step-2'), '--json']);
      assert.equal(again.code, 0, again.err);
      assert.deepEqual(steps(again.out), steps(first.out).slice(2));
      const start = JSON.parse(again.out.split('\n')[0]!) as RunEvent;
      assert.ok(start.event === 'start' && start.resumed_from_step === 2 && start.run_dir === runDir);
      const bad = await cli(['train', '--resume', proj, '--json']);
      assert.equal(bad.code, 1);
      assert.match(json<{ message: string }>(bad).message, /not a run folder \(no run\.json\)/);
      assert.equal((await cli(['train', '--json'])).code, 2);
    });
  });
});
