import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../../src/cli/main';
import type { CliIO } from '../../../src/cli/command';
import { WorkerRun } from '../../../src/core/runs/workerProcess';
import { demoRecipe, sparkline, pythonSnippet } from '../../../src/cli/commands/demo';
import { progressLine } from '../../../src/cli/commands/train';
import { parseRecipe } from '../../../src/core/train/recipe';
import { isRunEvent, type RunEvent } from '../../../src/shared/protocol';
import { makeProject, recipe } from './project';
import { STEP_GATE_ENV } from '../../../src/core/train/stepGate';

function capture(isTTY = false): { io: CliIO; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (t) => out.push(t), err: (t) => err.push(t), isTTY }, out, err };
}

describe('peft-studio train / demo and the worker process', function () {
  this.timeout(120000);
  let root: string;
  let proj: string;
  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'peft-cli-train-'));
    proj = join(root, 'proj');
    await makeProject(proj);
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('train --json prints exactly the run records, one JSON object a line; exit 0', async () => {
    writeFileSync(join(proj, 'cli.yaml'), recipe({ training: '  max_steps: 3\n', top: 'run_name: cli\n' }));
    const c = capture();
    assert.equal(await main(['train', join(proj, 'cli.yaml'), '--json'], c.io), 0, c.err.join('\n'));
    const records = c.out.map((l) => JSON.parse(l) as unknown);
    assert.ok(records.every(isRunEvent));
    const events = (records as RunEvent[]).map((r) => r.event);
    assert.equal(events[0], 'start');
    assert.deepEqual(events.filter((e) => e === 'step').length, 3);
    assert.equal(events[events.length - 1], 'done');
  });

  it('train: bad input is exit 1 with the file and line, usage errors exit 2', async () => {
    writeFileSync(join(proj, 'bad.yaml'), recipe({ training: '  learning_rate_x: 1\n' }));
    const c = capture();
    assert.equal(await main(['train', join(proj, 'bad.yaml')], c.io), 1);
    assert.match(c.err.join('\n'), /bad\.yaml:\d+: unknown key "training\.learning_rate_x"/);
    assert.equal(await main(['train'], capture().io), 2);
    assert.equal(await main(['train', join(proj, 'cli.yaml'), '--resume'], capture().io), 2);
  });

  it('the forked worker trains a run and reports every event through WorkerRun; stop ends it as stopped', async () => {
    writeFileSync(join(proj, 'w.yaml'), recipe({ training: '  max_steps: 200\n  logging_steps: 1\n', top: 'run_name: worker\n' }));
    const seen: RunEvent[] = [];
    // held at step 3 by the trainer's test gate, so the stop never races the machine's speed
    const gate = join(proj, 'gate');
    mkdirSync(gate, { recursive: true });
    writeFileSync(join(gate, 'worker'), '3');
    const run: WorkerRun = new WorkerRun({
      workerPath: join(__dirname, '../../../src/worker/worker.ts'),
      config: join(proj, 'w.yaml'),
      env: { NODE_OPTIONS: `--require ${require.resolve('tsx/cjs')}`, [STEP_GATE_ENV]: gate },
      onEvent: (e) => {
        seen.push(e);
        if (e.event === 'step' && e.step === 3) run.stop();
      },
    });
    const r = await run.finished;
    assert.equal(r.exitCode, 0, JSON.stringify(seen.slice(-2)));
    assert.equal(r.view.status, 'stopped');
    const done = seen[seen.length - 1]!;
    assert.ok(done.event === 'done' && done.stopped === true);
    assert.ok(seen.some((e) => e.event === 'checkpoint'));
    assert.equal(seen.filter((e) => e.event === 'step').length, 3);
  });

  it('the worker exits non-zero after an error event when the recipe is wrong', async () => {
    writeFileSync(join(proj, 'wbad.yaml'), 'base_model: ./nowhere\ndataset:\n  train: x.jsonl\n');
    const seen: RunEvent[] = [];
    const run = new WorkerRun({
      workerPath: join(__dirname, '../../../src/worker/worker.ts'),
      config: join(proj, 'wbad.yaml'),
      env: { NODE_OPTIONS: `--require ${require.resolve('tsx/cjs')}` },
      onEvent: (e) => seen.push(e),
    });
    const r = await run.finished;
    assert.equal(r.exitCode, 1);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.event, 'error');
  });

  it('demo pieces: its recipe parses, the sparkline falls with the loss, the snippet loads with PEFT', () => {
    const r = parseRecipe(demoRecipe(100), '/d/peft-train.yaml');
    assert.equal(r.training.max_steps, 100);
    assert.equal(r.dataset.format, 'messages');
    assert.equal(r.base_model, '/d/model');
    assert.equal(sparkline([5, 4, 3, 2, 1], 5), '█▆▅▃▁'); // levels 7, 5.25, 3.5, 1.75, 0 of 0..7, rounded
    assert.match(pythonSnippet('/m', '/a'), /PeftModel\.from_pretrained\(base, "\/a"\)/);
    assert.equal(pythonSnippet('/m', '/a').split('\n').length, 5);
    const line = progressLine({ event: 'step', step: 5, epoch: 0.1, loss: 2.5, lr: 1e-4, grad_norm: 1, tokens: 10, tokens_per_s: 400, elapsed_s: 5, eta_s: 65 }, 10, 10);
    assert.equal(line, '[#####.....] 5/10 loss 2.5000 lr 1.000e-4 400 tok/s ETA 1:05');
  });
});
