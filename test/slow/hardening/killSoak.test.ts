// kill -9 soak: training runs in child processes are killed at steps held by the trainer's test gate and at random
// moments after a release (inside steps and checkpoint writes), then resumed (or restarted when no checkpoint exists
// yet) until done. Every final adapter must be bitwise equal to an uninterrupted run's, readers must show a killed
// run as interrupted, no temp folder may survive, and nothing outside the run folder may change.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { makeProject, recipe } from '../../unit/train/project';
import { readRun } from '../../../src/core/runs/readRuns';
import { STEP_GATE_ENV } from '../../../src/core/train/stepGate';
import { Rng } from '../../../src/core/util/random';
import { tempDir } from '../../unit/validate/helpers';
import { runCli as cli } from '../../unit/cli/runCli';

const STEPS = 8;

/** Every file under `dir` but `skip` (and the shared compiled-graph cache), with size and mtime: what "nothing else was touched" compares. */
function snapshot(dir: string, skip: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (p === skip || n === '.graph-cache') continue;
      const s = statSync(p);
      if (s.isDirectory()) walk(p);
      else out.set(relative(dir, p), `${s.size}:${s.mtimeMs}`);
    }
  };
  walk(dir);
  return out;
}

function steps(runDir: string): number[] {
  try {
    return readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"event":"step"')).map((l) => (JSON.parse(l) as { step: number }).step);
  } catch {
    return [];
  }
}

describe('hardening: kill -9 soak', function () {
  this.timeout(1_800_000);
  let root: string;
  let proj: string;
  let gate: string;
  let reference: Buffer;
  before(async () => {
    root = tempDir('peft-soak-');
    proj = join(root, 'proj');
    gate = join(root, 'gate');
    mkdirSync(gate);
    await makeProject(proj);
    writeFileSync(join(proj, 'ref.yaml'), recipe({ training: `  max_steps: ${STEPS}\n  save_steps: 2\n`, top: 'run_name: ref\n' }));
    assert.equal((await cli(['train', join(proj, 'ref.yaml')])).code, 0);
    reference = readFileSync(join(proj, 'runs', 'ref', 'adapter', 'adapter_model.safetensors'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  /** Starts `train` in a child held at `holdAt`; kills it (SIGKILL) once step `holdAt` is logged, `delayMs` after releasing the gate. */
  async function killedRun(argv: string[], name: string, holdAt: number, delayMs: number): Promise<void> {
    const runDir = join(proj, 'runs', name);
    writeFileSync(join(gate, name), String(holdAt));
    const child = spawn(process.execPath, ['--require', require.resolve('tsx/cjs'), join(__dirname, '../../fuzz/cliEntry.ts'), ...argv], {
      env: { ...process.env, [STEP_GATE_ENV]: gate }, stdio: 'ignore',
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let done = false;
    void exited.then(() => (done = true));
    while (!done && !steps(runDir).includes(holdAt)) await new Promise((r) => setTimeout(r, 20));
    if (delayMs >= 0) {
      writeFileSync(join(gate, name), String(STEPS)); // release: the kill lands inside a later step or checkpoint write
      await new Promise((r) => setTimeout(r, delayMs));
    }
    child.kill('SIGKILL');
    await exited;
  }

  it('12 runs, each killed twice at held steps or random moments, resume bitwise equal to the uninterrupted run', async () => {
    const rng = new Rng(20261207);
    for (let k = 0; k < 12; k++) {
      const name = `soak-${k}`;
      const cfg = join(proj, `${name}.yaml`);
      writeFileSync(cfg, recipe({ training: `  max_steps: ${STEPS}\n  save_steps: 2\n`, top: `run_name: ${name}\n` }));
      const runDir = join(proj, 'runs', name);
      const before = snapshot(root, runDir);
      for (let kill = 0; kill < 2; kill++) {
        const hasCheckpoint = existsSync(join(runDir, 'checkpoints')) && readdirSync(join(runDir, 'checkpoints')).some((n) => /^step-\d+$/.test(n));
        const argv = !existsSync(runDir) ? ['train', cfg] : hasCheckpoint ? ['train', '--resume', runDir] : ['train', cfg, '--restart'];
        const done = steps(runDir);
        const from = done.length === 0 ? 0 : Math.max(...done);
        if (from >= STEPS - 1) break;
        const holdAt = from + 1 + rng.int(STEPS - 1 - from);
        await killedRun(argv, name, holdAt, rng.int(3) === 0 ? -1 : rng.int(400));
        const view = readRun(runDir);
        if (view.status !== 'completed') assert.match(view.info?.error ?? '', /^interrupted/, `${name}: ${view.status}`);
      }
      const hasCheckpoint = existsSync(join(runDir, 'checkpoints')) && readdirSync(join(runDir, 'checkpoints')).some((n) => /^step-\d+$/.test(n));
      if (readRun(runDir).status !== 'completed') {
        const r = await cli(hasCheckpoint ? ['train', '--resume', runDir] : ['train', cfg, '--restart']);
        assert.equal(r.code, 0, `${name}: ${r.err}`);
      }
      const adapter = readFileSync(join(runDir, 'adapter', 'adapter_model.safetensors'));
      assert.ok(adapter.equals(reference), `${name}: the final adapter differs from the uninterrupted run's`);
      assert.deepEqual(readdirSync(join(runDir, 'checkpoints')).filter((n) => n.startsWith('.')), [], `${name}: temp folders left`);
      const after = snapshot(root, runDir);
      after.delete(relative(root, join(gate, name)));
      before.delete(relative(root, join(gate, name)));
      assert.deepEqual([...after].filter(([p, v]) => before.get(p) !== v), [], `${name}: files outside the run folder changed`);
    }
  });
});
