// Sweeps: the grid/list expansion, the Pareto front, and a real 3-trial sweep on the tiny Llama fixture that is
// killed (SIGKILL) inside its second trial and then resumed: finished trials kept, the killed one resumed, the rest run.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { makeProject, recipe } from '../train/project';
import { expandTrials } from '../../../src/core/sweep/plan';
import { paretoFront, paretoFrontOf, paretoFrontThroughput } from '../../../src/core/sweep/pareto';
import { sweepOfRun } from '../../../src/core/sweep/sweepView';
import { runSweep, type SweepEvent } from '../../../src/core/sweep/runSweep';
import { parseRecipe, type SweepSettings } from '../../../src/core/train/recipe';
import { STEP_GATE_ENV } from '../../../src/core/train/stepGate';
import { validate } from '../../../src/core/validate';
import type { RunEvent } from '../../../src/shared/protocol';

const settings = (s: Partial<SweepSettings>): SweepSettings => ({ name: null, method: 'grid', r: null, lora_alpha: null, learning_rate: null, target_modules: null, trials: null, max_trials: null, ...s });

describe('sweep planning', () => {
  it('expands the grid (last axis fastest), caps it with max_trials, and takes listed trials as given', () => {
    assert.deepEqual(expandTrials(settings({ r: [4, 8], learning_rate: [1e-3, 1e-4] }), 'f'), [
      { r: 4, learning_rate: 1e-3 }, { r: 4, learning_rate: 1e-4 }, { r: 8, learning_rate: 1e-3 }, { r: 8, learning_rate: 1e-4 },
    ]);
    assert.equal(expandTrials(settings({ r: [4, 8, 16], target_modules: [['q_proj'], 'all-linear'], max_trials: 5 }), 'f').length, 5);
    assert.deepEqual(expandTrials(settings({ method: 'list', trials: [{ r: 2 }, { lora_alpha: 3 }] }), 'f'), [{ r: 2 }, { lora_alpha: 3 }]);
    assert.throws(() => expandTrials(settings({}), 'f.yaml'), /f\.yaml: the sweep varies nothing/);
    assert.throws(() => expandTrials(settings({ method: 'list' }), 'f.yaml'), /"sweep\.method" is list but "sweep\.trials" is not set/);
  });

  it('the Pareto front keeps the trials no other beats on both trainable parameters and loss', () => {
    const front = paretoFront([
      { index: 1, trainable: 100, best_eval_loss: 2.0 },
      { index: 2, trainable: 200, best_eval_loss: 1.5 },
      { index: 3, trainable: 300, best_eval_loss: 1.6 }, // beaten by 2
      { index: 4, trainable: 100, best_eval_loss: 2.1 }, // beaten by 1
      { index: 5, trainable: 400, final_loss: 1.0 }, // no eval: its final loss counts
      { index: 6 }, // failed: no numbers
    ]);
    assert.deepEqual(front, [1, 2, 5]);
  });

  it('the Pareto front of either direction: ties kept, missing or non-finite figures left out', () => {
    const pts = [
      { index: 1, x: 10, y: 3 }, { index: 2, x: 20, y: 2 }, { index: 3, x: 30, y: 2 }, { index: 4, x: 40, y: 1 },
      { index: 5, x: 20, y: 2 }, { index: 6, x: 5, y: Number.NaN }, { index: 7, y: 0.5 },
    ];
    assert.deepEqual(paretoFrontOf(pts, 'min'), [1, 2, 5, 4]); // 3 is beaten by 2 (same loss, fewer parameters); 2 and 5 tie
    assert.deepEqual(paretoFrontOf(pts, 'max'), [4]); // more is better: (40, 1) beats every other point
    assert.deepEqual(paretoFrontOf([...pts, { index: 8, x: 50, y: 3 }], 'max'), [4, 8]); // faster but worse: both on the front
    // tokens/s: a faster trial with the same loss dominates; the front is listed by tokens/s ascending
    const trials = [{ index: 1, tokens_per_s: 900, best_eval_loss: 2.0 }, { index: 2, tokens_per_s: 500, best_eval_loss: 1.5 }, { index: 3, tokens_per_s: 400, best_eval_loss: 1.6 }, { index: 4, tokens_per_s: 900, final_loss: 2.2 }];
    assert.deepEqual(paretoFrontThroughput(trials), [2, 1]);
  });

  it('the recipe schema checks the sweep section (parser and validator alike)', () => {
    const text = recipe({ top: 'sweep:\n  r: [4, 0]\n' });
    assert.throws(() => parseRecipe(text, '/p/peft-train.yaml'), /"sweep\.r" item 2 must be a positive integer, got 0/);
    const problems = validate(text, { path: '/p/peft-train.yaml', kind: 'recipe', model: null });
    assert.ok(problems.some((p) => /"sweep\.r" item 2 must be a positive integer/.test(p.message)), JSON.stringify(problems.map((p) => p.message)));
    const bad = recipe({ top: 'sweep:\n  method: list\n  trials:\n    - {r: 4, rank: 8}\n' });
    assert.throws(() => parseRecipe(bad, '/p/peft-train.yaml'), /"sweep\.trials" item 1 has the unknown key "rank"/);
    const ok = parseRecipe(recipe({ top: 'sweep:\n  r: [4, 8]\n  target_modules: [[q_proj, v_proj], all-linear]\n' }), '/p/peft-train.yaml');
    assert.deepEqual(ok.sweep?.r, [4, 8]);
    assert.deepEqual(ok.sweep?.target_modules, [['q_proj', 'v_proj'], 'all-linear']);
    assert.equal(parseRecipe(recipe(), '/p/peft-train.yaml').sweep, null);
  });
});

describe('sweep runs (tiny Llama fixture)', function () {
  this.timeout(180000);
  let root: string;
  let proj: string;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'peft-sweep-'));
    proj = join(root, 'proj');
    await makeProject(proj); // adapter_config: r 4, lora_alpha 8
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('a 3-trial sweep killed inside trial 2 resumes: trial 1 kept, trial 2 resumed from its checkpoint, trial 3 run', async () => {
    const file = join(proj, 'sweep.yaml');
    writeFileSync(file, recipe({ training: '  max_steps: 4\n  save_steps: 2\n', top: 'run_name: rk\nsweep:\n  r: [2, 4, 8]\n' }));
    const gate = join(root, 'gate');
    mkdirSync(gate);
    writeFileSync(join(gate, 'rk-t2'), '2'); // trial 2 waits after step 2 (checkpointed) until killed
    const script = `require(${JSON.stringify(resolve(__dirname, '../../../src/cli/main.ts'))}).main(['sweep', ${JSON.stringify(file)}, '--json']).then((c) => { process.exitCode = c; })`;
    const child = spawn(process.execPath, ['--require', require.resolve('tsx/cjs'), '-e', script], { env: { ...process.env, [STEP_GATE_ENV]: gate }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const held = join(proj, 'runs', 'rk-t2', 'checkpoints', 'step-2', 'trainer_state.json');
    const exited = new Promise<void>((r) => child.on('exit', () => r()));
    for (let i = 0; !existsSync(held); i++) {
      if (i > 1200 || child.exitCode !== null) assert.fail(`trial 2 never reached its checkpoint: ${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill('SIGKILL');
    await exited;
    const t1Metrics = readFileSync(join(proj, 'runs', 'rk-t1', 'metrics.jsonl'), 'utf8');
    assert.match(out, /"event":"trial_end","index":1,"name":"rk-t1"[^\n]*"status":"completed"/);

    const events: SweepEvent[] = [];
    const runEvents: RunEvent[] = [];
    const done = await runSweep({ configFile: file, onEvent: (e) => events.push(e), onRunEvent: (e) => runEvents.push(e) });
    const starts = events.filter((e): e is Extract<SweepEvent, { event: 'trial_start' }> => e.event === 'trial_start');
    assert.deepEqual(starts.map((s) => [s.index, s.kept === true, s.resume_from !== undefined]), [[1, true, false], [2, false, true], [3, false, false]]);
    assert.equal(readFileSync(join(proj, 'runs', 'rk-t1', 'metrics.jsonl'), 'utf8'), t1Metrics, 'the finished trial was not run again');
    const resumed = runEvents.filter((e) => e.event === 'start').map((e) => (e.event === 'start' ? e.resumed_from_step : -1));
    assert.deepEqual(resumed, [2, undefined], 'trial 2 resumed at step 2, trial 3 started fresh');
    assert.deepEqual(done.trials.map((t) => t.status), ['completed', 'completed', 'completed']);
    // rank 2 / 4 / 8 on q, v, down: trainable parameters double with r; alpha follows r (ratio 8/4 kept)
    const trainable = done.trials.map((t) => t.trainable!);
    assert.equal(trainable[1], 2 * trainable[0]!);
    assert.equal(trainable[2], 4 * trainable[0]!);
    const cfg3 = JSON.parse(readFileSync(join(proj, 'runs', 'rk-t3', 'adapter', 'adapter_config.json'), 'utf8')) as { r: number; lora_alpha: number };
    assert.deepEqual([cfg3.r, cfg3.lora_alpha], [8, 16]);
    assert.ok(done.trials.every((t) => t.best_eval_loss !== undefined && Number.isFinite(t.best_eval_loss)));
    assert.ok(done.pareto.length >= 1 && done.pareto.includes(1), `pareto ${JSON.stringify(done.pareto)}: the smallest trial is never dominated on parameters`);
    const saved = JSON.parse(readFileSync(join(proj, 'runs', '.sweeps', 'rk', 'sweep.json'), 'utf8')) as { trials: unknown[]; pareto: number[] };
    assert.equal(saved.trials.length, 3);
    assert.deepEqual(saved.pareto, done.pareto);
    // the dashboard's view of the same sweep, read back from the run folders
    const view = sweepOfRun(join(proj, 'runs', 'rk-t2'))!;
    assert.equal(view.name, 'rk');
    assert.deepEqual(view.trials.map((t) => [t.index, t.r, t.loraAlpha, t.learningRate, t.status, t.losses.length]), [[1, 2, 4, 5e-3, 'completed', 4], [2, 4, 8, 5e-3, 'completed', 4], [3, 8, 16, 5e-3, 'completed', 4]]);
    assert.deepEqual(view.trials.map((t) => [t.trainable, t.bestEvalLoss, t.tokensPerS]), done.trials.map((t) => [t.trainable, t.best_eval_loss, t.tokens_per_s]));
    assert.deepEqual(view.paretoParams, done.pareto);
    assert.deepEqual(view.paretoThroughput, paretoFrontThroughput(done.trials));
    assert.equal(sweepOfRun(join(proj, 'runs', 'rk')), null);
  });

  it('refuses to continue a sweep whose settings changed, naming the trial file', async () => {
    const file = join(proj, 'sweep.yaml');
    writeFileSync(file, recipe({ training: '  max_steps: 4\n  save_steps: 2\n', top: 'run_name: rk\nsweep:\n  r: [3, 4, 8]\n' }));
    await assert.rejects(runSweep({ configFile: file, onEvent: () => {} }), /t1[/\\]adapter_config\.json: trial 1 of this sweep was started with other settings/);
  });
});
