// Reads a sweep back from disk for the dashboard (and a trial's figures for `peft-studio sweep`): the trial run folders
// `<name>-tK` beside `.sweeps/<name>/tK/`, each trial's settings, losses and figures, and both Pareto fronts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunView } from '../../shared/dashboard';
import type { SweepTrialView, SweepView } from '../../shared/sweep';
import { readRun } from '../runs/readRuns';
import { paretoFront, paretoFrontThroughput } from './pareto';

/** The figures a trial is judged by (also `trial_end`'s): trainable, best eval loss, final loss, mean tokens/s. */
export function trialMetrics(v: RunView): { trainable?: number; best_eval_loss?: number; final_loss?: number; tokens_per_s?: number } {
  const rates = v.steps.map((s) => s.tokens_per_s).filter((x) => x > 0);
  const evals = v.evals.map((e) => e.eval_loss).filter((x) => Number.isFinite(x));
  return {
    ...(v.start !== undefined ? { trainable: v.start.trainable } : {}),
    ...(evals.length > 0 ? { best_eval_loss: Math.min(...evals) } : {}),
    ...(v.done !== undefined && Number.isFinite(v.done.final_loss) ? { final_loss: v.done.final_loss } : {}),
    ...(rates.length > 0 ? { tokens_per_s: Number((rates.reduce((a, b) => a + b, 0) / rates.length).toFixed(1)) } : {}),
  };
}

/** The sweep a run folder is a trial of (`<name>-tK` with `.sweeps/<name>/tK/` beside it), else null. */
export function sweepOfRun(runDir: string): SweepView | null {
  const m = /^(.+)-t(\d+)$/.exec(path.basename(runDir));
  if (m === null) return null;
  const outputDir = path.dirname(path.resolve(runDir));
  const name = m[1]!;
  if (!isDir(path.join(outputDir, '.sweeps', name, `t${m[2]!}`))) return null;
  return readSweep(outputDir, name);
}

/** Every trial of sweep `name` in `outputDir` that has a run folder, in trial order. */
export function readSweep(outputDir: string, name: string): SweepView {
  const dir = path.join(outputDir, '.sweeps', name);
  let entries: string[] = [];
  try {
    entries = fs.readdirSync(dir);
  } catch {
    // no sweep folder: no trials
  }
  const indices = entries.map((e) => /^t(\d+)$/.exec(e)?.[1]).filter((x): x is string => x !== undefined).map(Number).sort((a, b) => a - b);
  const trials: SweepTrialView[] = [];
  for (const index of indices) {
    const runDir = path.join(outputDir, `${name}-t${index}`);
    if (!isDir(runDir)) continue;
    trials.push(trialView(index, runDir, readRun(runDir)));
  }
  const inputs = trials.map((t) => ({ index: t.index, trainable: t.trainable, best_eval_loss: t.bestEvalLoss, final_loss: t.finalLoss, tokens_per_s: t.tokensPerS }));
  return { name, dir, trials, paretoParams: paretoFront(inputs), paretoThroughput: paretoFrontThroughput(inputs) };
}

function trialView(index: number, runDir: string, v: RunView): SweepTrialView {
  const m = trialMetrics(v);
  const adapter = record(v.info?.adapter_config);
  const training = record(record(v.info?.recipe)['training']);
  const num = (x: unknown): number | undefined => (typeof x === 'number' && Number.isFinite(x) ? x : undefined);
  const tm = adapter['target_modules'];
  const t: SweepTrialView = { index, name: v.name, runDir, status: v.status, losses: v.steps.map((s) => [s.step, s.loss]) };
  const set = <K extends keyof SweepTrialView>(k: K, x: SweepTrialView[K] | undefined): void => {
    if (x !== undefined) t[k] = x;
  };
  set('r', num(adapter['r']));
  set('loraAlpha', num(adapter['lora_alpha']));
  set('learningRate', num(training['learning_rate']));
  set('targetModules', Array.isArray(tm) ? tm.map(String).join(',') : typeof tm === 'string' ? tm : undefined);
  set('trainable', m.trainable);
  set('bestEvalLoss', m.best_eval_loss);
  set('finalLoss', m.final_loss);
  set('tokensPerS', m.tokens_per_s);
  return t;
}

function record(x: unknown): Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x) ? (x as Record<string, unknown>) : {};
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}
