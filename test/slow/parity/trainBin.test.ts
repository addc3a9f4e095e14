// The parity check through the shipped entry point: the built `peft-studio` binary (bin/peft-studio.js → dist/cli.js)
// in a child process, from another working directory, with --json; stdout must be only run records, and the run's
// per-step loss (1e-4 relative) and final adapter (1e-3) must match the PyTorch reference.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Rng } from '../../../src/core/util/random';
import { isRunEvent, type RunEvent } from '../../../src/shared/protocol';
import { tmpDir } from '../../unit/train/engineHelpers';
import { checkRun } from '../../unit/train/parity/check';
import { type ParityCase, makeRows, runTrainerRef, writeProject } from '../../unit/train/parity/project';

const ROOT = path.resolve(__dirname, '../../..');

describe('the built peft-studio binary, run as a user runs it, trains like PyTorch (loss per step and final adapter)', function () {
  this.timeout(600_000);
  let dir = '';
  before(() => {
    const b = spawnSync(process.execPath, [path.join(ROOT, 'scripts/build.mjs')], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(b.status, 0, `npm run build failed: ${b.stderr}`);
    dir = tmpDir('train-bin');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('qwen2, batch 2 x accumulation 2, 8 steps over 7 examples, no tokenizer files: exit 0, JSON lines only, parity', async () => {
    const c: ParityCase = {
      arch: 'qwen2', noTokenizer: true, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'up_proj'], r: 8, alpha: 16,
      rows: makeRows(new Rng(41), 512, 7, 3, 20), maxLength: 512, microBatch: 2, accumulation: 2, steps: 8, lr: 3e-3, weightDecay: 0.1, maxGradNorm: 2.7,
    };
    const p = await writeProject(dir, c, 42);
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/peft-studio.js'), 'train', path.relative(path.dirname(dir), p.recipe), '--json'], { cwd: path.dirname(dir), encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    // stderr: only the run's log lines (data summary, warnings), no error.
    for (const line of r.stderr.trimEnd().split('\n').filter((l) => l !== '')) assert.match(line, /^peft-studio train: (?!error)/);
    assert.doesNotMatch(r.stderr, /error/i);
    const lines = r.stdout.trimEnd().split('\n');
    const records = lines.map((l) => JSON.parse(l) as unknown);
    assert.ok(records.every(isRunEvent), 'every stdout line is a run record');
    assert.ok((records as RunEvent[]).every((e) => e.event !== 'log'), 'stdout holds only the contract records');
    checkRun('qwen2-bin', c, p, records as RunEvent[], runTrainerRef(p));
  });
});
