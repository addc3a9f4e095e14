// Regression tests for runs killed with kill -9 (issue: a run killed before its first checkpoint was a dead end,
// run.json stayed "running" forever, .tmp-step-N-* folders were left behind).
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { makeProject, recipe } from '../train/project';
import { readRun, readRuns } from '../../../src/core/runs/readRuns';
import { tempDir } from '../validate/helpers';
import { runCli as cli } from '../cli/runCli';

/** The pid of a process that has ended (a child that exited). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '0']);
  return r.pid as number;
}

describe('hardening: runs killed with kill -9', function () {
  this.timeout(120000);
  let root: string;
  let proj: string;
  before(async () => {
    root = tempDir('peft-kill-');
    proj = join(root, 'proj');
    await makeProject(proj);
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  /** A run folder as kill -9 before the first checkpoint leaves it: run.json "running" with its pid, a start record. */
  function killedRun(name: string, pid: number): string {
    const dir = join(proj, 'runs', name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'run.json'), JSON.stringify({ name, status: 'running', config_file: join(proj, `${name}.yaml`), recipe: {}, adapter_config: {}, base_model: 'm', device: 'cpu', started_at: '2026-12-07T10:00:00Z', pid, host: hostname() }));
    writeFileSync(join(dir, 'metrics.jsonl'), JSON.stringify({ event: 'start', run_dir: dir, trainable: 1, total: 2, device: 'cpu', run_name: name }) + '\n');
    writeFileSync(join(proj, `${name}.yaml`), recipe({ training: '  max_steps: 2\n', top: `run_name: ${name}\n` }));
    return dir;
  }

  it('readers show a "running" run whose process is gone as interrupted; a live owner stays running', () => {
    const dir = killedRun('dead', deadPid());
    const v = readRun(dir);
    assert.equal(v.status, 'failed');
    assert.match(v.info?.error ?? '', /^interrupted: the training process \(pid \d+\) ended without finishing/);
    const s = readRuns([join(proj, 'runs')]).find((x) => x.name === 'dead');
    assert.match(s?.error ?? '', /interrupted/);
    const live = killedRun('live', process.pid === 1 ? 2 : process.ppid);
    assert.equal(readRun(live).status, 'running');
  });

  it('killed before the first checkpoint: --resume and a new train both point to --restart, which trains in place', async () => {
    const dir = killedRun('early', deadPid());
    const resumed = await cli(['train', '--resume', dir]);
    assert.equal(resumed.code, 1);
    assert.match(resumed.err, /the run has no checkpoint to resume from.*--restart`, or set another run_name/);
    const again = await cli(['train', join(proj, 'early.yaml')]);
    assert.equal(again.code, 1);
    assert.match(again.err, /the run folder already exists and is not empty.*start it again in place with --restart, or set another run_name/);
    const restarted = await cli(['train', join(proj, 'early.yaml'), '--restart']);
    assert.equal(restarted.code, 0, restarted.err);
    const info = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as { status: string };
    assert.equal(info.status, 'completed');
    // the dead run's records are gone: one start, two steps
    const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event: string });
    assert.deepEqual(lines.filter((e) => e.event === 'start').length, 1);
    // a run with a checkpoint is never restarted (its progress would be lost)
    const refused = await cli(['train', join(proj, 'early.yaml'), '--restart']);
    assert.equal(refused.code, 1);
    assert.match(refused.err, /Resume it with --resume, or set another run_name/);
  });

  it('a run trained by a live process is neither restarted nor resumed under it', async () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      const dir = killedRun('busy', child.pid as number);
      const r = await cli(['train', join(proj, 'busy.yaml'), '--restart']);
      assert.equal(r.code, 1);
      assert.match(r.err, new RegExp(`A training process \\(pid ${String(child.pid)}\\) is using it`));
      assert.ok(existsSync(join(dir, 'metrics.jsonl')), 'nothing was removed');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('the next start removes .tmp-step-N-* folders an interrupted checkpoint write left', async () => {
    writeFileSync(join(proj, 'tmp.yaml'), recipe({ training: '  max_steps: 4\n  save_steps: 2\n', top: 'run_name: tmp\n' }));
    assert.equal((await cli(['train', join(proj, 'tmp.yaml')])).code, 0);
    const ck = join(proj, 'runs', 'tmp', 'checkpoints');
    mkdirSync(join(ck, '.tmp-step-6-4242-1765100000000'));
    writeFileSync(join(ck, '.tmp-step-6-4242-1765100000000', 'adapter_model.safetensors'), 'partial');
    writeFileSync(join(proj, 'tmp.yaml'), recipe({ training: '  max_steps: 6\n  save_steps: 2\n', top: 'run_name: tmp\n' }));
    const r = await cli(['train', '--resume', join(proj, 'runs', 'tmp')]);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(readdirSync(ck).sort(), ['step-2', 'step-4', 'step-6']);
  });
});
