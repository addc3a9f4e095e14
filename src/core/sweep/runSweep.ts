// `peft-studio sweep`: runs a sweep's trials one after another through the one training loop (runTraining), each an
// ordinary run folder `<sweep>-t<K>`. Resumable: a finished trial is kept, an interrupted one resumes from its checkpoint.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InputError, errorMessage } from '../errors';
import { listCheckpoints, readRun, readRunInfo } from '../runs/readRuns';
import { readRecipeFile } from '../train/setup';
import { runTraining, TrainingFailed } from '../train/trainer';
import type { SweepTrialSpec } from '../train/recipe';
import type { RunEvent } from '../../shared/protocol';
import { assertInside } from '../util/safePath';
import { paretoFront } from './pareto';
import { planSweep, type PlannedTrial } from './plan';
import { trialMetrics } from './sweepView';

export interface TrialResult {
  index: number;
  name: string;
  run_dir: string;
  overrides: SweepTrialSpec;
  status: 'completed' | 'stopped' | 'failed';
  trainable?: number;
  best_eval_loss?: number;
  final_loss?: number;
  tokens_per_s?: number;
  error?: string;
}

export type SweepEvent =
  | { event: 'trial_start'; index: number; name: string; total: number; overrides: SweepTrialSpec; resume_from?: string; kept?: boolean }
  | ({ event: 'trial_end' } & TrialResult)
  | { event: 'sweep_done'; name: string; trials: TrialResult[]; pareto: number[]; stopped?: boolean };

export interface RunSweepOptions {
  configFile: string;
  device?: string;
  signal?: AbortSignal;
  onEvent: (e: SweepEvent) => void;
  /** Every record of the trial being trained (as `train --json` prints them). */
  onRunEvent?: (e: RunEvent) => void;
}

export async function runSweep(opts: RunSweepOptions): Promise<Extract<SweepEvent, { event: 'sweep_done' }>> {
  const recipe = readRecipeFile(opts.configFile);
  const plan = planSweep(recipe);
  const results: TrialResult[] = [];
  let stopped = false;
  for (const trial of plan.trials) {
    if (opts.signal?.aborted === true) {
      stopped = true;
      break;
    }
    const runDir = join(recipe.output_dir, trial.name);
    const trialRecipe = writeTrialFiles(plan.dir, trial);
    const prior = priorState(runDir, trialRecipe);
    opts.onEvent({ event: 'trial_start', index: trial.index, name: trial.name, total: plan.trials.length, overrides: trial.overrides,
      ...(prior === 'resume' ? { resume_from: runDir } : {}), ...(prior === 'done' ? { kept: true } : {}) });
    if (prior === 'restart') {
      assertInside(recipe.output_dir, runDir, 'the interrupted trial run');
      rmSync(runDir, { recursive: true, force: true });
    }
    let error: string | undefined;
    if (prior !== 'done') {
      try {
        const done = await runTraining({
          configFile: trialRecipe,
          signal: opts.signal ?? new AbortController().signal,
          ...(opts.device !== undefined ? { device: opts.device } : {}),
          ...(prior === 'resume' ? { resume: runDir } : {}),
          onEvent: (e) => opts.onRunEvent?.(e),
        });
        if (done.stopped === true) stopped = true;
      } catch (e) {
        if (!(e instanceof TrainingFailed)) throw e;
        error = errorMessage(e);
      }
    }
    const r = trialResult(trial, runDir, error);
    results.push(r);
    opts.onEvent({ event: 'trial_end', ...r });
    if (stopped) break;
  }
  const done = { event: 'sweep_done' as const, name: plan.name, trials: results, pareto: paretoFront(results), ...(stopped ? { stopped: true } : {}) };
  writeFileSync(join(plan.dir, 'sweep.json'), JSON.stringify({ recipe: recipe.file, ...done }, null, 2) + '\n');
  opts.onEvent(done);
  return done;
}

/** Writes the trial's adapter config and recipe (refusing when an earlier run of the sweep wrote different ones). */
function writeTrialFiles(sweepDir: string, t: PlannedTrial): string {
  const dir = join(sweepDir, `t${t.index}`);
  mkdirSync(dir, { recursive: true });
  const files: [string, string][] = [[join(dir, 'adapter_config.json'), t.adapterConfigJson], [join(dir, 'peft-train.yaml'), t.recipeYaml]];
  for (const [file, text] of files) {
    if (existsSync(file) && readFileSync(file, 'utf8') !== text) {
      throw new InputError('sweep-changed', `trial ${t.index} of this sweep was started with other settings`, {
        file,
        hint: 'The recipe or its sweep changed since the sweep started: set another sweep.name for a new sweep (or delete the old trials to redo them)',
      });
    }
  }
  for (const [file, text] of files) writeFileSync(file, text);
  return files[1]![0];
}

/** What is on disk for a trial: nothing, a finished run, a run to resume, or a run killed before its first checkpoint. */
function priorState(runDir: string, trialRecipe: string): 'new' | 'done' | 'resume' | 'restart' {
  if (!existsSync(runDir)) return 'new';
  const info = readRunInfo(runDir);
  if (info?.config_file !== undefined && resolve(info.config_file) !== resolve(trialRecipe)) {
    throw new InputError('sweep-foreign-run', 'a run folder of this name exists and was not made by this sweep', {
      file: runDir,
      hint: 'Set another sweep.name, or move that run away',
    });
  }
  if (info?.status === 'completed') return 'done';
  return listCheckpoints(runDir).length > 0 ? 'resume' : 'restart';
}

function trialResult(t: PlannedTrial, runDir: string, error: string | undefined): TrialResult {
  const base = { index: t.index, name: t.name, run_dir: runDir, overrides: t.overrides };
  if (!existsSync(runDir)) return { ...base, status: 'failed', error: error ?? 'the trial did not start' };
  const v = readRun(runDir);
  return {
    ...base,
    status: error !== undefined || v.status === 'failed' ? 'failed' : v.status === 'completed' ? 'completed' : 'stopped',
    ...trialMetrics(v),
    ...(error !== undefined ? { error } : {}),
  };
}
