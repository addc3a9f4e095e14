// Item 9 of the hardening probe, end to end in a child process with its peak memory: a 30 MB JSONL line made
// `validate` use 3 GB (and 43 s), a 10 MB YAML line kept `validate` busy past a minute. Both are now refused naming
// the file and line, without the content in the message, and the process stays far below a gigabyte.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { appendFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeProject, recipe } from '../../unit/train/project';
import { tempDir } from '../../unit/validate/helpers';

/** The probe's process must stay below this (the probe's own tsx start-up is about 200 MB). */
const MAX_PEAK_MB = 1024;

function run(...argv: string[]): { code: number; text: string; textLength: number; peakMb: number } {
  const r = spawnSync(process.execPath, ['-r', 'tsx/cjs', join(__dirname, 'bigLineProbe.ts'), ...argv], { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { code: number; text: string; textLength: number; peakMb: number };
}

describe('hardening: a 30 MB JSONL line and a 10 MB YAML line', function () {
  this.timeout(600_000);
  let proj: string;
  before(async () => {
    proj = join(tempDir('peft-biglines-'), 'proj');
    await makeProject(proj);
    writeFileSync(join(proj, 'peft-train.yaml'), recipe({ top: 'adapter_config: adapter_config.json\n' }));
  });
  after(() => rmSync(join(proj, '..'), { recursive: true, force: true }));

  it('validate and train refuse a 30 MB JSONL line by file and line, well under a gigabyte', () => {
    const data = join(proj, 'data', 'prompt_completion', 'train.jsonl');
    const original = readFileSync(data, 'utf8');
    try {
      appendFileSync(data, `{"prompt": "${'a'.repeat(30_000_000)}", "completion": "x"}\n`);
      const v = run('validate', data, '--json');
      assert.equal(v.code, 1, v.text);
      const ps = JSON.parse(v.text.split('\n')[0]!) as { file: string; line: number; code: string }[];
      assert.ok(ps.some((p) => p.file === data && p.line === 25 && p.code === 'line-too-long'), v.text.slice(0, 300));
      assert.ok(v.textLength < 10_000, `the message is ${v.textLength} characters`);
      assert.ok(v.peakMb < MAX_PEAK_MB, `validate peaked at ${v.peakMb} MB`);
      const t = run('train', join(proj, 'peft-train.yaml'));
      assert.equal(t.code, 1, t.text);
      assert.match(t.text, /train\.jsonl:25: the line is 30\.0 M characters long/);
      assert.ok(t.peakMb < MAX_PEAK_MB, `train peaked at ${t.peakMb} MB`);
    } finally {
      writeFileSync(data, original);
    }
  });

  it('validate and train refuse a 10 MB YAML line naming the recipe, well under a gigabyte', () => {
    const yaml = join(proj, 'peft-train.yaml');
    const original = readFileSync(yaml, 'utf8');
    try {
      appendFileSync(yaml, `run_name: ${'r'.repeat(10_000_000)}\n`);
      for (const argv of [['validate', yaml], ['train', yaml]]) {
        const r = run(...argv);
        assert.equal(r.code, 1, r.text.slice(0, 300));
        assert.ok(r.text.includes(yaml), r.text.slice(0, 300));
        assert.match(r.text, /more than the 256 KB accepted/);
        assert.ok(r.textLength < 10_000, `${argv[0]}: the message is ${r.textLength} characters`);
        assert.ok(r.peakMb < MAX_PEAK_MB, `${argv[0]} peaked at ${r.peakMb} MB`);
      }
    } finally {
      writeFileSync(yaml, original);
    }
  });
});
