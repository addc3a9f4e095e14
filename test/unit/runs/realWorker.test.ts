// The run manager's worker path against the real worker bundle and trainer on a tiny fixture model:
// a run completes, stop then resume finishes the run, and a killed worker leaves a failed run.json with checkpoints.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { build } from 'esbuild';
import { makeFixture } from '../../../src/core/fixtures/makeFixture';
import { scaffoldProject } from '../../../src/core/scaffold/scaffold';
import { WorkerRun } from '../../../src/core/runs/workerProcess';
import { listCheckpoints, readRun, readRunInfo, readRuns } from '../../../src/core/runs/readRuns';
import { STEP_GATE_ENV } from '../../../src/core/train/stepGate';

const root = path.resolve(__dirname, '../../..');
// Inside the repository so the bundle resolves onnxruntime-node from node_modules.
const work = path.join(root, 'test-output', 'unit-runs-worker');
const workerPath = path.join(work, 'worker.js');
// Runs that are stopped or killed in flight are held at a known step by the trainer's test gate (never raced).
const gate = path.join(work, 'gate');
const gateEnv = { [STEP_GATE_ENV]: gate };
const holdAt = (run: string, step: number): void => fs.writeFileSync(path.join(gate, run), String(step));

function recipe(project: string, maxSteps: number, runName: string): string {
  let y = fs.readFileSync(path.join(project, 'peft-train.yaml'), 'utf8');
  y = y.replace(/max_steps: *-?\d+/, `max_steps: ${maxSteps}`).replace(/save_steps: *\d+/, 'save_steps: 2').replace(/max_length: *\d+/, 'max_length: 128')
    .replace(/eval_steps: *\d+/, 'eval_steps: 0').replace(/run_name: *\S+/, `run_name: ${runName}`).replace(/device: *\S+/, 'device: cpu');
  const file = path.join(project, `${runName}.yaml`);
  fs.writeFileSync(file, y);
  return file;
}

describe('WorkerRun with the real worker and trainer (tiny llama)', function () {
  this.timeout(120000);
  let project: string;

  before(async () => {
    fs.rmSync(work, { recursive: true, force: true });
    fs.mkdirSync(gate, { recursive: true });
    await build({ entryPoints: [path.join(root, 'src/worker/worker.ts')], outfile: workerPath, bundle: true, platform: 'node', format: 'cjs', target: 'node20', external: ['vscode', 'onnxruntime-node'], mainFields: ['module', 'main'], logLevel: 'silent' });
    project = path.join(work, 'proj');
    await makeFixture({ arch: 'llama', size: 'tiny', outDir: path.join(project, 'models', 'tiny'), seed: 3 });
    await scaffoldProject({ dir: project, model: path.join(project, 'models', 'tiny'), template: 'instruct' });
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  it('trains to completion and the run folder reads back as the live state did', async () => {
    const seen: string[] = [];
    const run = new WorkerRun({ workerPath, config: recipe(project, 4, 'complete'), onEvent: (e) => seen.push(e.event) });
    const r = await run.finished;
    assert.equal(r.crash, undefined, r.view.error?.message);
    assert.equal(r.view.status, 'completed', r.view.error?.message);
    assert.deepEqual(r.view.steps.map((s) => s.step), [1, 2, 3, 4]);
    assert.equal(seen[0], 'start');
    assert.equal(seen[seen.length - 1], 'done');
    const disk = readRun(r.view.dir);
    assert.equal(disk.status, 'completed');
    assert.deepEqual(disk.steps.map((s) => s.loss), r.view.steps.map((s) => s.loss));
    const summary = readRuns([path.dirname(r.view.dir)]).find((s) => s.name === 'complete');
    assert.equal(summary?.finalLoss, r.view.done?.final_loss);
    assert.ok(summary?.adapterDir !== undefined, 'adapter written');
    assert.ok((r.view.start?.modules?.length ?? 0) > 0, 'start event lists the adapted modules for the parameter table');
  });

  it('stop ends the run as stopped; resuming it from its latest checkpoint finishes it', async () => {
    const config = recipe(project, 10, 'stop-resume');
    holdAt('stop-resume', 3);
    const first: WorkerRun = new WorkerRun({ workerPath, config, env: gateEnv, onEvent: (e) => { if (e.event === 'step' && e.step === 3) first.stop(); } });
    const a = await first.finished;
    assert.equal(a.crash, undefined, a.view.error?.message);
    assert.equal(a.view.status, 'stopped');
    assert.equal(readRunInfo(a.view.dir)?.status, 'stopped');
    assert.equal(a.view.steps[a.view.steps.length - 1]?.step, 3, 'stopped where the gate held it');
    fs.rmSync(path.join(gate, 'stop-resume'));
    const resumed = new WorkerRun({ workerPath, config, resume: a.view.dir, env: gateEnv });
    const b = await resumed.finished;
    assert.equal(b.view.status, 'completed', b.view.error?.message);
    assert.equal(b.view.start?.resumed_from_step, 3);
    const disk = readRun(a.view.dir);
    assert.equal(disk.status, 'completed');
    assert.deepEqual(disk.steps.map((s) => s.step), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 'metrics.jsonl replays as one run');
  });

  it('a killed worker leaves run.json failed with the step reached, and keeps its checkpoints', async () => {
    holdAt('killed', 2);
    const run: WorkerRun = new WorkerRun({ workerPath, config: recipe(project, 50, 'killed'), env: gateEnv, onEvent: (e) => { if (e.event === 'checkpoint' && e.step === 2) run.kill(); } });
    const r = await run.finished;
    assert.equal(r.signal, 'SIGKILL');
    assert.match(r.crash ?? '', /killed by SIGKILL at step \d+ without finishing; checkpoint step-2 is kept/);
    const info = readRunInfo(r.view.dir);
    assert.equal(info?.status, 'failed');
    assert.equal(info?.error, r.crash);
    assert.ok(listCheckpoints(r.view.dir).some((c) => c.step === 2));
    assert.equal(readRuns([path.dirname(r.view.dir)]).find((s) => s.name === 'killed')?.status, 'failed');
  });
});
