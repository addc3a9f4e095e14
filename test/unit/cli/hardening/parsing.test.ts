// Regression tests for damaged files (issue: deep nesting was a stack overflow with exit 3, a 30 MB JSONL line or a
// 10 MB YAML line took gigabytes and minutes, a tokenizer.json symlinked to /etc/passwd echoed its first line).
import { strict as assert } from 'node:assert';
import { cpSync, existsSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeProject, recipe } from '../../train/project';
import { tempDir } from '../../validate/helpers';
import { runCli as cli } from '../runCli';

const DEEP = '['.repeat(50_000) + ']'.repeat(50_000);

describe('hardening: damaged and oversized files', function () {
  this.timeout(120000);
  let root: string;
  let base: string;
  let n = 0;
  /** A fresh copy of the project (each test damages one file). */
  const project = (): string => {
    const p = join(root, `p${n++}`);
    cpSync(base, p, { recursive: true });
    return p;
  };
  before(async () => {
    root = tempDir('peft-parse-');
    base = join(root, 'base');
    await makeProject(base);
    writeFileSync(join(base, 'peft-train.yaml'), recipe({ training: '  max_steps: 1\n', top: 'adapter_config: adapter_config.json\n' }));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('50,000 nested arrays in config.json, adapter_config.json, a safetensors header or a JSONL line: exit 1 naming the file', async () => {
    let p = project();
    const cfg = join(p, 'model', 'config.json');
    writeFileSync(cfg, readFileSync(cfg, 'utf8').replace('"rope_scaling": null', `"rope_scaling": ${DEEP}`));
    for (const argv of [['inspect', join(p, 'model')], ['count', join(p, 'adapter_config.json'), '--model', join(p, 'model')]]) {
      const r = await cli(argv);
      assert.equal(r.code, 1, r.text.slice(0, 300));
      assert.match(r.text, /config\.json:\d+: config\.json nests arrays\/objects more than 256 levels deep/);
    }
    p = project();
    const ad = join(p, 'adapter_config.json');
    writeFileSync(ad, `{"r": 4,\n "target_modules": ${DEEP}}`);
    let r = await cli(['count', ad, '--model', join(p, 'model')]);
    assert.equal(r.code, 1);
    assert.match(r.text, /adapter_config\.json:2: adapter_config\.json nests arrays\/objects more than 256 levels deep/);
    r = await cli(['validate', ad, '--model', join(p, 'model')]);
    assert.equal(r.code, 1);
    assert.match(r.text, /adapter_config\.json:2:\d+: error: nests arrays\/objects more than 256 levels deep/);
    p = project();
    const st = join(p, 'model', 'model.safetensors');
    const bytes = readFileSync(st);
    const head = bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString('utf8').replace('"__metadata__":{', `"__deep__":${DEEP},"__metadata__":{`);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(Buffer.byteLength(head)));
    writeFileSync(st, Buffer.concat([len, Buffer.from(head), bytes.subarray(8 + Number(bytes.readBigUInt64LE(0)))]));
    r = await cli(['inspect', join(p, 'model')]);
    assert.equal(r.code, 1);
    assert.match(r.text, /model\.safetensors: header nests arrays\/objects more than 8 levels deep/);
    p = project();
    const data = join(p, 'data', 'prompt_completion', 'train.jsonl');
    writeFileSync(data, readFileSync(data, 'utf8') + `{"prompt": ${DEEP}, "completion": "x"}\n`);
    r = await cli(['validate', data]);
    assert.equal(r.code, 1);
    assert.match(r.text, /train\.jsonl:25:1: error: Line 25 nests arrays\/objects more than 256 levels deep/);
    r = await cli(['train', join(p, 'peft-train.yaml')]);
    assert.equal(r.code, 1);
    assert.match(r.text, /train\.jsonl:25: the line nests arrays\/objects more than 256 levels deep/);
  });

  it('a 5 MB JSONL line and a 10 MB YAML line are refused at once, naming file and line', async () => {
    const p = project();
    const data = join(p, 'data', 'prompt_completion', 'train.jsonl');
    writeFileSync(data, readFileSync(data, 'utf8') + `{"prompt": "${'a'.repeat(5_000_000)}", "completion": "x"}\n`);
    let r = await cli(['validate', data, '--json']);
    assert.equal(r.code, 1);
    assert.ok((JSON.parse(r.text.split('\n')[0] as string) as { code: string; line: number }[]).some((x) => x.code === 'line-too-long' && x.line === 25), r.text.slice(0, 300));
    r = await cli(['train', join(p, 'peft-train.yaml')]);
    assert.equal(r.code, 1);
    assert.match(r.text, /train\.jsonl:25: the line is 5\.0 M characters long, more than the 4 M accepted/);
    const yaml = join(p, 'peft-train.yaml');
    writeFileSync(yaml, readFileSync(yaml, 'utf8') + `run_name: ${'r'.repeat(10_000_000)}\n`);
    r = await cli(['validate', yaml]);
    assert.equal(r.code, 1);
    assert.match(r.text, /peft-train\.yaml:\d+:\d+: error: the recipe is \d+ KB, more than the 256 KB accepted/);
    assert.ok(r.text.length < 5000);
  });

  it('a tokenizer.json that is a symlink to /etc/passwd: the error names the file and echoes none of its content', async () => {
    const p = project();
    const tok = join(p, 'model', 'tokenizer.json');
    unlinkSync(tok);
    symlinkSync('/etc/passwd', tok);
    for (const argv of [['validate', join(p, 'peft-train.yaml'), '--json'], ['train', join(p, 'peft-train.yaml'), '--json']]) {
      const r = await cli(argv);
      assert.equal(r.code, 1, r.text.slice(0, 300));
      assert.match(r.text, /tokenizer\.json/);
      assert.doesNotMatch(r.text, /root:|nologin|\/bin\/(ba)?sh/);
    }
    // refused before a run folder (and its metrics.jsonl) exists
    assert.ok(!existsSync(join(p, 'runs')));
  });

  it('export gguf and generate with a tokenizer.json symlinked to /etc/passwd name the file and echo none of it', async () => {
    const p = project();
    const tok = join(p, 'model', 'tokenizer.json');
    unlinkSync(tok);
    symlinkSync('/etc/passwd', tok);
    for (const argv of [['export', 'gguf', join(p, 'model'), join(p, 'out.gguf')], ['generate', '--model', join(p, 'model'), '--prompt', 'hi', '--max-new-tokens', '2', '--device', 'cpu']]) {
      const r = await cli(argv);
      assert.equal(r.code, 1, r.text.slice(0, 300));
      assert.match(r.text, /tokenizer\.json/);
      assert.doesNotMatch(r.text, /root:|nologin|\/bin\/(ba)?sh/);
    }
  });

  it('PEFT\'s own errors about an adapter config name the file in count, estimate and train', async () => {
    const p = project();
    const ad = join(p, 'adapter_config.json');
    writeFileSync(ad, JSON.stringify({ r: 4, target_modules: ['nothing'] }));
    for (const argv of [['count', ad, '--model', join(p, 'model')], ['estimate', join(p, 'peft-train.yaml')], ['train', join(p, 'peft-train.yaml')]]) {
      const r = await cli(argv);
      assert.equal(r.code, 1, r.text);
      assert.ok(r.text.includes(`${ad}: Target modules ["nothing"] not found in the base model`), r.text);
    }
  });

  it('a list for output_dir is reported as "must be a string"', async () => {
    const p = project();
    writeFileSync(join(p, 'peft-train.yaml'), readFileSync(join(p, 'peft-train.yaml'), 'utf8').replace('output_dir: runs', 'output_dir: [a, b]'));
    for (const cmd of ['validate', 'train']) {
      const r = await cli([cmd, join(p, 'peft-train.yaml')]);
      assert.equal(r.code, 1);
      assert.match(r.text, /peft-train\.yaml:\d+(:\d+)?: (error: )?"output_dir" must be a string, got a list/);
    }
  });
});
