// readRuns on real run folders written by the test: run.json + metrics.jsonl (incl. a truncated last line),
// checkpoints, an adapter, a folder that is not a run, and markRunFailed keeping checkpoints.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { listCheckpoints, markRunFailed, readMetrics, readRun, readRunInfo, readRuns, recipeOutputDir } from '../../../src/core/runs/readRuns';
import { startEvent, stepEvent } from './events';

function writeRun(root: string, name: string, opts: { status: string; started: string; steps: number; done?: boolean; truncate?: boolean; checkpoints?: number[] }): string {
  const dir = path.join(root, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'run.json'), JSON.stringify({
    name, status: opts.status, config_file: '/p/peft-train.yaml', recipe: { training: { max_steps: 10 } }, adapter_config: { r: 8 },
    base_model: '/models/tiny-llama', device: 'cpu', started_at: opts.started, max_steps: 10,
  }));
  const lines = [JSON.stringify({ ...startEvent(dir), run_name: name })];
  for (let s = 1; s <= opts.steps; s++) lines.push(JSON.stringify(stepEvent(s, 4 - s * 0.1)));
  if (opts.done === true) lines.push(JSON.stringify({ event: 'done', run_dir: dir, adapter_dir: path.join(dir, 'adapter'), final_loss: 3.5 }));
  let text = lines.join('\n') + '\n';
  if (opts.truncate === true) text += '{"event":"step","step":' + String(opts.steps + 1) + ',"epoch":0.';
  fs.writeFileSync(path.join(dir, 'metrics.jsonl'), text);
  for (const c of opts.checkpoints ?? []) fs.mkdirSync(path.join(dir, 'checkpoints', `step-${c}`), { recursive: true });
  if (opts.done === true) {
    fs.mkdirSync(path.join(dir, 'adapter'));
    fs.writeFileSync(path.join(dir, 'adapter', 'adapter_config.json'), '{}');
  }
  return dir;
}

describe('readRuns', () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'peft-runs-'));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('lists runs newest first with status, base model, steps and final loss', () => {
    writeRun(root, 'old', { status: 'completed', started: '2026-11-27T09:00:00Z', steps: 5, done: true, checkpoints: [5] });
    writeRun(root, 'new', { status: 'running', started: '2026-11-28T09:00:00Z', steps: 3 });
    fs.mkdirSync(path.join(root, 'not-a-run'));
    fs.writeFileSync(path.join(root, 'stray.txt'), 'x');
    const runs = readRuns([root, path.join(root, 'missing-dir')]);
    assert.deepEqual(runs.map((r) => r.name), ['new', 'old']);
    const [n, o] = runs;
    assert.ok(n !== undefined && o !== undefined);
    assert.equal(n.status, 'running');
    assert.equal(n.lastStep, 3);
    assert.equal(n.maxSteps, 10);
    assert.ok(Math.abs((n.lastLoss ?? 0) - 3.7) < 1e-12);
    assert.equal(n.finalLoss, undefined);
    assert.equal(o.status, 'completed');
    assert.equal(o.finalLoss, 3.5);
    assert.equal(o.baseModel, '/models/tiny-llama');
    assert.equal(o.adapterDir, path.join(root, 'old', 'adapter'));
    assert.deepEqual(o.checkpoints, [{ step: 5, dir: path.join(root, 'old', 'checkpoints', 'step-5') }]);
  });

  it('keeps every complete record and counts a truncated last line of metrics.jsonl', () => {
    const dir = writeRun(root, 'crashed', { status: 'running', started: '2026-11-28T09:00:00Z', steps: 7, truncate: true });
    const m = readMetrics(path.join(dir, 'metrics.jsonl'));
    assert.equal(m.events.length, 8);
    assert.deepEqual(m.skipped, [9]);
    const v = readRun(dir);
    assert.equal(v.steps.length, 7);
    assert.equal(v.skippedLines, 1);
    assert.equal(v.steps[6]?.step, 7);
  });

  it('reads a run folder with a broken run.json from its metrics alone', () => {
    const dir = writeRun(root, 'half', { status: 'running', started: '2026-11-28T09:00:00Z', steps: 2 });
    fs.writeFileSync(path.join(dir, 'run.json'), '{"name": "half", "stat');
    assert.equal(readRunInfo(dir), undefined);
    const v = readRun(dir);
    assert.equal(v.status, 'running');
    assert.equal(v.steps.length, 2);
    assert.equal(v.start?.base_model, '/m');
  });

  it('markRunFailed sets status, error and last step in run.json and keeps checkpoints and other fields', () => {
    const dir = writeRun(root, 'r', { status: 'running', started: '2026-11-28T09:00:00Z', steps: 6, checkpoints: [2, 4, 10] });
    fs.mkdirSync(path.join(dir, 'checkpoints', 'step-6.tmp'));
    markRunFailed(dir, 'worker crashed', { now: new Date('2026-11-28T10:00:00Z') });
    const info = readRunInfo(dir);
    assert.equal(info?.status, 'failed');
    assert.equal(info?.error, 'worker crashed');
    assert.equal(info?.finished_at, '2026-11-28T10:00:00.000Z');
    assert.equal(info?.last_step, 6);
    assert.equal(info?.base_model, '/models/tiny-llama');
    assert.deepEqual((info?.adapter_config as { r: number }).r, 8);
    assert.deepEqual(listCheckpoints(dir).map((c) => c.step), [2, 4, 10]);
    const s = readRuns([root])[0];
    assert.equal(s?.status, 'failed');
    assert.equal(s?.error, 'worker crashed');
  });

  it('recipeOutputDir resolves output_dir against the recipe folder, defaulting to runs', () => {
    const f = path.join(root, 'proj', 'peft-train.yaml');
    fs.mkdirSync(path.dirname(f));
    fs.writeFileSync(f, 'base_model: ./m\noutput_dir: ../experiments # where runs go\n');
    assert.equal(recipeOutputDir(f), path.join(root, 'experiments'));
    fs.writeFileSync(f, 'base_model: ./m\n');
    assert.equal(recipeOutputDir(f), path.join(root, 'proj', 'runs'));
    fs.writeFileSync(f, 'output_dir: [unclosed\n');
    assert.equal(recipeOutputDir(f), path.join(root, 'proj', 'runs'), 'a half-typed recipe keeps the default');
  });
});
