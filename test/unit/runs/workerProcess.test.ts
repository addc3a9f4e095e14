// WorkerRun with real forked processes: scripted workers that speak the HostToWorker/WorkerToHost protocol,
// covering a clean run, stop (graceful and killed after the timeout) and a crash marking run.json failed.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { WorkerRun } from '../../../src/core/runs/workerProcess';
import { listCheckpoints, readRunInfo } from '../../../src/core/runs/readRuns';

/** A worker script: on {type:'train'} it writes run.json and sends start + `steps` step events, then `ending`. */
function workerScript(dir: string, runDir: string, steps: number, ending: 'done' | 'crash' | 'wait-stop' | 'ignore-stop'): string {
  const file = path.join(dir, `worker-${ending}.js`);
  fs.writeFileSync(file, `
const fs = require('fs'), path = require('path');
const runDir = ${JSON.stringify(runDir)};
const send = (record) => process.send({ type: 'event', record });
process.on('message', (m) => {
  if (m.type === 'stop') {
    if (${JSON.stringify(ending)} === 'ignore-stop') return;
    send({ event: 'done', run_dir: runDir, adapter_dir: path.join(runDir, 'adapter'), final_loss: 1.25, stopped: true });
    process.exit(0);
  }
  if (m.type !== 'train') return;
  fs.mkdirSync(path.join(runDir, 'checkpoints', 'step-2'), { recursive: true });
  fs.writeFileSync(path.join(runDir, 'run.json'), JSON.stringify({ name: 'w', status: 'running', config_file: m.config, base_model: '/m', device: 'cpu', started_at: 'now', recipe: null, adapter_config: null }));
  console.log('training ' + m.config + ' resume=' + m.resume);
  send({ event: 'start', run_dir: runDir, run_name: 'w', trainable: 10, total: 100, device: 'cpu', base_model: '/m', max_steps: 10, time: 'now' });
  for (let s = 1; s <= ${steps}; s++) send({ event: 'step', step: s, epoch: 0, loss: 3 - s / 10, lr: 0.001, grad_norm: 1, tokens: 8, tokens_per_s: 8, elapsed_s: s });
  send({ event: 'checkpoint', step: 2, path: path.join(runDir, 'checkpoints', 'step-2') });
  const end = ${JSON.stringify(ending)};
  if (end === 'done') { send({ event: 'done', run_dir: runDir, adapter_dir: path.join(runDir, 'adapter'), final_loss: 2.5 }); setTimeout(() => process.exit(0), 10); }
  else if (end === 'crash') setTimeout(() => process.exit(7), 20);
  else setInterval(() => {}, 1000);
});
`);
  return file;
}

describe('WorkerRun (forked worker)', function () {
  this.timeout(20000);
  let root: string;
  let runDir: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'peft-worker-'));
    runDir = path.join(root, 'runs', 'w');
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('sends the train message and folds every event; a clean exit after done is completed', async () => {
    const seen: string[] = [];
    const logs: string[] = [];
    const run = new WorkerRun({
      workerPath: workerScript(root, runDir, 5, 'done'), config: '/p/peft-train.yaml', resume: '/p/runs/old',
      onEvent: (e) => seen.push(e.event), onLog: (l) => logs.push(l),
    });
    const r = await run.finished;
    assert.equal(r.crash, undefined);
    assert.equal(r.exitCode, 0);
    assert.equal(r.view.status, 'completed');
    assert.equal(r.view.dir, runDir);
    assert.deepEqual(seen, ['start', 'step', 'step', 'step', 'step', 'step', 'checkpoint', 'done']);
    assert.equal(r.view.done?.final_loss, 2.5);
    assert.ok(logs.includes('training /p/peft-train.yaml resume=/p/runs/old'), logs.join('|'));
    assert.equal(readRunInfo(runDir)?.status, 'running', 'the worker owns run.json when it finishes normally');
  });

  it('a worker that exits without done/error marks the run failed in run.json and keeps its checkpoints', async () => {
    const run = new WorkerRun({ workerPath: workerScript(root, runDir, 3, 'crash'), config: '/p/peft-train.yaml' });
    const r = await run.finished;
    assert.equal(r.exitCode, 7);
    assert.equal(r.crash, 'The training worker exited with code 7 at step 3 without finishing; checkpoint step-2 is kept.');
    assert.equal(r.view.status, 'failed');
    const info = readRunInfo(runDir);
    assert.equal(info?.status, 'failed');
    assert.equal(info?.error, r.crash);
    assert.equal(info?.last_step, 3);
    assert.equal(info?.config_file, '/p/peft-train.yaml');
    assert.deepEqual(listCheckpoints(runDir).map((c) => c.step), [2]);
  });

  it('stop asks the worker to stop; it ends with a stopped done', async () => {
    const run: WorkerRun = new WorkerRun({
      workerPath: workerScript(root, runDir, 2, 'wait-stop'), config: '/p/c.yaml',
      onEvent: (e) => { if (e.event === 'checkpoint') run.stop(); },
    });
    const r = await run.finished;
    assert.equal(r.crash, undefined);
    assert.equal(r.view.status, 'stopped');
    assert.equal(r.view.done?.stopped, true);
  });

  it('a worker that ignores stop is killed after the timeout and the run is failed', async () => {
    const t0 = Date.now();
    const run: WorkerRun = new WorkerRun({
      workerPath: workerScript(root, runDir, 2, 'ignore-stop'), config: '/p/c.yaml', stopTimeoutMs: 300,
      onEvent: (e) => { if (e.event === 'checkpoint') run.stop(); },
    });
    const r = await run.finished;
    assert.ok(Date.now() - t0 >= 300);
    assert.equal(r.signal, 'SIGKILL');
    assert.match(r.crash ?? '', /killed by SIGKILL at step 2/);
    assert.equal(readRunInfo(runDir)?.status, 'failed');
  });

  it('a worker that cannot start (bad node binary) ends as a failed run instead of hanging', async () => {
    const logs: string[] = [];
    const run = new WorkerRun({ workerPath: workerScript(root, runDir, 1, 'done'), config: '/p/c.yaml', execPath: path.join(root, 'no-such-node'), onLog: (l) => logs.push(l) });
    const r = await run.finished;
    assert.equal(r.view.status, 'failed');
    assert.match(r.crash ?? '', /before the first step without finishing \(spawn .*ENOENT\)\.$/);
    assert.ok(logs.some((l) => l.includes('ENOENT')));
  });
});
