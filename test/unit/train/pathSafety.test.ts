// Regression tests for values read from files that become paths: a crafted checkpoint step or run_name must
// never make training write, rename or delete anything outside the run folder (security).
import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { makeProject, recipe } from './project';
import { runTraining, TrainingFailed } from '../../../src/core/train/trainer';
import { loadCheckpoint } from '../../../src/core/train/runFolder';
import { parseTrainerState } from '../../../src/core/train/trainerState';
import { validate } from '../../../src/core/validate';
import { folderNameProblem, isInside } from '../../../src/core/util/safePath';
import type { RunEvent } from '../../../src/shared/protocol';

let root: string;
let proj: string;

async function train(file: string, resume?: string): Promise<RunEvent[]> {
  const events: RunEvent[] = [];
  await runTraining({ configFile: file, signal: new AbortController().signal, ...(resume !== undefined ? { resume } : {}), onEvent: (e) => events.push(e) });
  return events;
}

describe('path safety of run folders and checkpoints', function () {
  this.timeout(120000);

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'peft-paths-'));
    proj = join(root, 'proj');
    await makeProject(proj);
    writeFileSync(join(proj, 'r.yaml'), recipe({ training: '  max_steps: 4\n  save_steps: 2\n', top: 'run_name: r\n' }));
    await train(join(proj, 'r.yaml'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('a crafted global_step ("../../victim") is refused and the folder it names is untouched', async () => {
    const victim = join(root, 'victim');
    mkdirSync(victim);
    writeFileSync(join(victim, 'keep.txt'), 'precious');
    const run = join(proj, 'runs', 'r');
    for (const step of ['step-2', 'step-4']) {
      const f = join(run, 'checkpoints', step, 'trainer_state.json');
      const state = JSON.parse(readFileSync(f, 'utf8')) as Record<string, unknown>;
      // from checkpoints/step-N, this many ../ reach root (as the probe's "../../../../../../victim")
      state['global_step'] = `${relative(join(run, 'checkpoints'), root)}/victim`;
      writeFileSync(f, JSON.stringify(state));
    }
    await assert.rejects(train(join(proj, 'r.yaml'), run), (e: unknown) => {
      assert.ok(e instanceof TrainingFailed);
      assert.match(e.message, /trainer_state\.json: "global_step" in the trainer state is not valid \(expected a non-negative integer\)/);
      return true;
    });
    assert.equal(readFileSync(join(victim, 'keep.txt'), 'utf8'), 'precious');
    assert.deepEqual(readdirSync(join(run, 'checkpoints')).sort(), ['step-2', 'step-4']);
  });

  it('a checkpoint whose global_step disagrees with its folder name is refused', () => {
    const dir = join(root, 'ck', 'checkpoints', 'step-3');
    mkdirSync(dir, { recursive: true });
    const good = { format_version: 1, global_step: 7, max_steps: 10, epoch: 0.5, data: { epoch: 0, cursor: 1, order: [1, 0] }, rng: [1, 2, 3, 4], seed: 1, optimizer_step: 7, total_tokens: 10, elapsed_s: 1, last_loss: 2.5 };
    for (const f of ['trainer_state.json', 'adapter_model.safetensors', 'optimizer.safetensors']) writeFileSync(join(dir, f), f === 'trainer_state.json' ? JSON.stringify(good) : '');
    assert.throws(() => loadCheckpoint(dir), /"global_step" is 7 but the folder is step-3/);
  });

  it('trainer_state.json is checked field by field, naming the file and the field', () => {
    const good = { format_version: 1, global_step: 2, max_steps: 10, epoch: 0.5, data: { epoch: 0, cursor: 1, order: [1, 0] }, rng: [1, 2, 3, 4], seed: 1, optimizer_step: 2, total_tokens: 10, elapsed_s: 1, last_loss: null };
    assert.equal(parseTrainerState(JSON.stringify(good), 'f.json').global_step, 2);
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ global_step: -1 }, /"global_step"/],
      [{ global_step: 2.5 }, /"global_step"/],
      [{ global_step: '2' }, /"global_step"/],
      [{ data: { epoch: 0, cursor: 1, order: [5, 0] } }, /"data\.order"/],
      [{ data: { epoch: 0, cursor: 9, order: [1, 0] } }, /"data\.cursor"/],
      [{ rng: [0, 0, 0, 0] }, /"rng"/],
      [{ rng: 'x' }, /"rng"/],
      [{ loss_scale: { scale: -1, growthTracker: 0 } }, /"loss_scale"/],
      [{ format_version: 2 }, /"format_version"/],
    ];
    for (const [patch, re] of cases) {
      assert.throws(() => parseTrainerState(JSON.stringify({ ...good, ...patch }), 'f.json'), (e: Error) => re.test(e.message) && e.message.startsWith('f.json: '), JSON.stringify(patch));
    }
    assert.throws(() => parseTrainerState('{"global_step": 2', 'f.json'), /f\.json: the trainer state is not valid JSON/);
    assert.throws(() => parseTrainerState('[]', 'f.json'), /f\.json: "\(top level\)"/);
  });

  it('a damaged latest checkpoint falls back to the previous intact one, saying so', async () => {
    writeFileSync(join(proj, 'fb.yaml'), recipe({ training: '  max_steps: 4\n  save_steps: 2\n', top: 'run_name: fb\n' }));
    await train(join(proj, 'fb.yaml'));
    const run = join(proj, 'runs', 'fb');
    writeFileSync(join(run, 'checkpoints', 'step-4', 'trainer_state.json'), '{"global_st'); // truncated
    const r = loadCheckpoint(run);
    assert.equal(r.checkpoint.trainer.global_step, 2);
    assert.equal(r.skipped.length, 1);
    assert.match(r.skipped[0]!, /step-4.*not valid JSON/);
    rmSync(join(run, 'checkpoints', 'step-2', 'optimizer.safetensors'));
    assert.throws(() => loadCheckpoint(run), /step-4.*trainer_state\.json: the trainer state is not valid JSON/);
    assert.throws(() => loadCheckpoint(join(run, 'checkpoints', 'step-2')), /step-2: the checkpoint has no optimizer\.safetensors/);
  });

  it('run_name must name one folder: "../../escape-run" is refused by validate and by train, nothing is written outside', async () => {
    assert.equal(folderNameProblem('r'), null);
    assert.match(folderNameProblem('../../escape-run')!, /not a path/);
    assert.match(folderNameProblem('..')!, /not "\." or "\.\."/);
    assert.match(folderNameProblem('a\\b')!, /not a path/);
    assert.match(folderNameProblem('x'.repeat(20_000_000))!, /at most 120 characters/);
    const text = recipe({ training: '  max_steps: 1\n', top: 'run_name: "../../escape-run"\n' });
    const file = join(proj, 'escape.yaml');
    writeFileSync(file, text);
    const problems = validate(text, { path: file, kind: 'recipe' }).filter((p) => p.severity === 'error');
    assert.ok(problems.some((p) => /"run_name" must be a folder name, not a path/.test(p.message)), JSON.stringify(problems));
    await assert.rejects(train(file), /"run_name" must be a folder name, not a path/);
    assert.ok(!existsSync(join(root, 'escape-run')) && !existsSync(join(proj, 'escape-run')));
    assert.ok(isInside(root, join(root, 'a', '..', 'b')) && !isInside(join(root, 'a'), join(root, 'a', '..', 'b')));
  });
});
