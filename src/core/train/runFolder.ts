// The run folder on disk (CONTRACTS.md §4): run.json, metrics.jsonl (append-only), atomic checkpoints
// (checkpoints/step-N/: adapter + optimizer moments + trainer_state.json) and the final adapter/.
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { InputError } from '../errors';
import { openCheckpoint } from '../safetensors/checkpoint';
import { readTensorAsFloat32 } from '../safetensors/read';
import { writeSafetensors } from '../safetensors/write';
import type { RunEvent, RunInfo } from '../../shared/protocol';
import type { EngineState } from './engineApi';
import { parseTrainerState, type TrainerState } from './trainerState';
import { assertInside, folderNameProblem } from '../util/safePath';
import { hasProgress, liveOwner } from '../runs/runOwner';
import { readJsonObject } from '../util/safeJson';

export type { TrainerState } from './trainerState';

export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';
export const ADAPTER_CONFIG = 'adapter_config.json';
export const OPTIMIZER_FILE = 'optimizer.safetensors';
export const TRAINER_STATE = 'trainer_state.json';

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/** What a default run name says about the run: the base model (a path or hub id) and the LoRA rank. */
export interface RunNameParts {
  model?: string;
  r?: number;
}

/**
 * A readable default run name: the base model's folder/repo name, the rank and the local start time, e.g.
 * `tinyllama-r16-dec07-0937` (`run-dec07-0937` when nothing else is known). Always a valid single folder name.
 */
export function defaultRunName(now: Date = new Date(), parts: RunNameParts = {}): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  const when = `${MONTHS[now.getMonth()] ?? 'run'}${p(now.getDate())}-${p(now.getHours())}${p(now.getMinutes())}`;
  const model = parts.model === undefined ? '' : slug(basename(parts.model.replace(/@.*$/, '').replace(/[\\/]+$/, '')));
  const rank = parts.r !== undefined && Number.isInteger(parts.r) && parts.r > 0 ? `r${parts.r}` : '';
  const head = [model, rank].filter((x) => x !== '').join('-');
  return `${head === '' ? 'run' : head}-${when}`;
}

function slug(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9.]+/g, '-').replace(/^[-.]+|[-.]+$/g, '').slice(0, 40).replace(/[-.]+$/, '');
}

/**
 * Creates a fresh run folder; an existing non-empty one is an error (resume it or pick another run_name), unless
 * `restart` is set and the folder holds no checkpoint and no adapter (a run killed before its first checkpoint) and
 * no live process trains it: then its contents are removed and the folder is used again. Without a run_name the
 * folder is `defaultRunName(now, parts)`, with -2, -3… when that exists.
 */
export function createRunDir(outputDir: string, runName: string | null, parts: RunNameParts = {}, restart = false): string {
  const why = runName === null ? null : folderNameProblem(runName);
  if (why !== null) throw new InputError('run-name', `"run_name" ${why}`, { hint: 'run_name names one folder inside output_dir' });
  let name = runName ?? defaultRunName(new Date(), parts);
  let dir = join(outputDir, name);
  if (runName === null) {
    for (let i = 2; existsSync(dir); i++) dir = join(outputDir, `${name}-${i}`);
    name = basename(dir);
  } else if (existsSync(dir) && readdirSync(dir).length > 0) {
    const progress = hasProgress(dir);
    const info = new RunFolder(dir).readRunInfoSafe();
    const owner = liveOwner(info);
    if (restart && !progress && owner === null) {
      assertInside(outputDir, dir, 'the run folder');
      for (const n of readdirSync(dir)) rmSync(join(dir, n), { recursive: true, force: true });
      return dir;
    }
    throw new InputError('run-exists', `the run folder already exists and is not empty`, {
      file: dir,
      hint: owner !== null ? `A training process (pid ${owner}) is using it; stop it first, or set another run_name`
        : progress ? 'Resume it with --resume, or set another run_name'
          : 'It has no checkpoint yet (the run was stopped before its first one): start it again in place with --restart, or set another run_name',
    });
  }
  assertInside(outputDir, dir, 'the run folder');
  mkdirSync(dir, { recursive: true });
  return dir;
}

export class RunFolder {
  constructor(readonly dir: string) {}

  get metricsFile(): string {
    return join(this.dir, 'metrics.jsonl');
  }

  get adapterDir(): string {
    return join(this.dir, 'adapter');
  }

  /**
   * metrics.jsonl holds exactly the record kinds of CONTRACTS.md §4 (start, step, eval, checkpoint, done, error);
   * free-form `log` records (truncation counts, warnings, downloads) go to log.jsonl beside it.
   */
  appendEvent(e: RunEvent): void {
    appendFileSync(e.event === 'log' ? join(this.dir, 'log.jsonl') : this.metricsFile, JSON.stringify(e) + '\n');
  }

  writeRunInfo(info: RunInfo): void {
    writeJsonAtomic(join(this.dir, 'run.json'), info);
  }

  /** run.json, or null when it is missing or unreadable (never throws). */
  readRunInfoSafe(): RunInfo | null {
    try {
      const v: unknown = this.readRunInfo();
      return typeof v === 'object' && v !== null ? (v as RunInfo) : null;
    } catch {
      return null;
    }
  }

  readRunInfo(): RunInfo | null {
    const f = join(this.dir, 'run.json');
    return existsSync(f) ? (readJsonObject(f, { what: 'run.json', code: 'run-info-json', readCode: 'run-info-json' }) as unknown as RunInfo) : null;
  }

  /** checkpoints/step-N for every complete checkpoint, by step ascending. */
  checkpoints(): { step: number; dir: string }[] {
    const root = join(this.dir, 'checkpoints');
    if (!existsSync(root)) return [];
    return readdirSync(root)
      .map((n) => ({ m: /^step-(\d+)$/.exec(n), n }))
      .filter((x) => x.m !== null && existsSync(join(root, x.n, TRAINER_STATE)))
      .map((x) => ({ step: Number(x.m![1]), dir: join(root, x.n) }))
      .sort((a, b) => a.step - b.step);
  }

  /** Writes a resumable checkpoint atomically: everything goes to a temp folder that is renamed into place. */
  writeCheckpoint(state: EngineState, trainer: TrainerState, adapterConfigJson: string): string {
    const root = join(this.dir, 'checkpoints');
    if (!Number.isSafeInteger(trainer.global_step) || trainer.global_step < 0) {
      throw new Error(`internal: checkpoint step must be a non-negative integer, got ${String(trainer.global_step)}`);
    }
    const final = join(root, `step-${trainer.global_step}`);
    writeFolderAtomic(final, this.dir, (tmp) => {
      writeAdapterFiles(tmp, state, adapterConfigJson);
      const moments = [];
      for (const [k, v] of state.expAvg) moments.push({ name: `${k}.exp_avg`, dtype: 'F32' as const, shape: state.shapes.get(k) ?? [v.length], data: v });
      for (const [k, v] of state.expAvgSq) moments.push({ name: `${k}.exp_avg_sq`, dtype: 'F32' as const, shape: state.shapes.get(k) ?? [v.length], data: v });
      writeSafetensors(join(tmp, OPTIMIZER_FILE), moments, { format: 'pt', step: String(state.step) });
      writeFileSync(join(tmp, TRAINER_STATE), trainerStateJson(trainer));
    });
    return final;
  }

  /** The final adapter (PEFT layout), written atomically into RUN_DIR/adapter. */
  writeAdapter(state: EngineState, adapterConfigJson: string): string {
    writeFolderAtomic(this.adapterDir, this.dir, (tmp) => writeAdapterFiles(tmp, state, adapterConfigJson));
    return this.adapterDir;
  }
}

/** trainer_state.json text: indented, with the (long) permutation on one line. */
export function trainerStateJson(t: TrainerState): string {
  const marker = '"__order__"';
  return JSON.stringify({ ...t, data: { ...t.data, order: '__order__' } }, null, 2).replace(marker, JSON.stringify(t.data.order)) + '\n';
}

/** adapter_model.safetensors (PEFT's keys) and adapter_config.json of `state` into `dir`. */
export function writeAdapterFiles(dir: string, state: EngineState, adapterConfigJson: string): void {
  const tensors = [...state.params].map(([name, data]) => ({ name, dtype: 'F32' as const, shape: state.shapes.get(name) ?? [data.length], data }));
  writeSafetensors(join(dir, ADAPTER_WEIGHTS), tensors, { format: 'pt' });
  writeFileSync(join(dir, ADAPTER_CONFIG), adapterConfigJson);
}

/**
 * Builds a folder under a temp name beside `final`, then swaps it in with rename (the old one is removed).
 * `owner` is the folder we created (the run folder): `final` must lie inside it, since an existing `final` is
 * renamed and deleted.
 */
export function writeFolderAtomic(final: string, owner: string, fill: (tmp: string) => void): void {
  assertInside(owner, final, 'the folder to write');
  const parent = dirname(final);
  mkdirSync(parent, { recursive: true });
  const tmp = join(parent, `.tmp-${basename(final)}-${process.pid}-${Date.now()}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    fill(tmp);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  if (existsSync(final)) {
    const old = `${tmp}.old`;
    renameSync(final, old);
    renameSync(tmp, final);
    rmSync(old, { recursive: true, force: true });
  } else {
    renameSync(tmp, final);
  }
}

function writeJsonAtomic(file: string, value: unknown): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n');
  renameSync(tmp, file);
}

export interface LoadedCheckpoint {
  dir: string;
  state: EngineState;
  trainer: TrainerState;
}

/**
 * Reads a checkpoint for --resume: `path` is a run folder (its latest intact checkpoint) or a checkpoints/step-N
 * folder. A damaged latest checkpoint of a run folder is skipped for the one before it; `skipped` says which and why.
 */
export function loadCheckpoint(path: string): { runDir: string; checkpoint: LoadedCheckpoint; skipped: string[] } {
  const abs = resolve(path);
  if (!existsSync(abs) || !statSync(abs).isDirectory()) throw new InputError('resume-missing', 'the folder to resume does not exist', { file: abs });
  if (existsSync(join(abs, TRAINER_STATE))) {
    const m = /^step-(\d+)$/.exec(basename(abs));
    return { runDir: dirname(dirname(abs)), checkpoint: readCheckpointDir(abs, m === null ? null : Number(m[1])), skipped: [] };
  }
  const list = new RunFolder(abs).checkpoints();
  if (list.length === 0) {
    throw new InputError('resume-no-checkpoint', 'the run has no checkpoint to resume from', {
      file: abs,
      hint: 'It stopped before its first checkpoint (written every training.save_steps steps, when a run is stopped, and at the end): start it again in place with `peft-studio train CONFIG --restart`, or set another run_name',
    });
  }
  const skipped: string[] = [];
  let first: unknown;
  for (const c of [...list].reverse()) {
    try {
      return { runDir: abs, checkpoint: readCheckpointDir(c.dir, c.step), skipped };
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      first ??= e;
      skipped.push(`skipped the damaged checkpoint ${c.dir}: ${e.message}`);
    }
  }
  throw first;
}

/** One checkpoint folder, every file checked; `step` is the N of its step-N name (must equal global_step). */
function readCheckpointDir(dir: string, step: number | null): LoadedCheckpoint {
  for (const f of [TRAINER_STATE, ADAPTER_WEIGHTS, OPTIMIZER_FILE]) {
    if (!existsSync(join(dir, f))) {
      throw new InputError('checkpoint-incomplete', `the checkpoint has no ${f}`, { file: dir, hint: 'Resume from an earlier checkpoint or start a new run' });
    }
  }
  const stateFile = join(dir, TRAINER_STATE);
  const trainer = parseTrainerState(readFileSync(stateFile, 'utf8'), stateFile);
  if (step !== null && trainer.global_step !== step) {
    throw new InputError('checkpoint-damaged', `"global_step" is ${trainer.global_step} but the folder is step-${step}`, { file: stateFile });
  }
  const adapter = openCheckpoint(join(dir, ADAPTER_WEIGHTS));
  const optimizer = openCheckpoint(join(dir, OPTIMIZER_FILE));
  const params = new Map<string, Float32Array>();
  const shapes = new Map<string, number[]>();
  const expAvg = new Map<string, Float32Array>();
  const expAvgSq = new Map<string, Float32Array>();
  for (const [name, entry] of adapter.tensors) {
    params.set(name, readTensorAsFloat32(entry));
    shapes.set(name, entry.shape);
    const m = optimizer.tensors.get(`${name}.exp_avg`);
    const v = optimizer.tensors.get(`${name}.exp_avg_sq`);
    if (m === undefined || v === undefined) {
      throw new InputError('resume-optimizer', 'the checkpoint has no optimizer moments for this tensor', { file: join(dir, OPTIMIZER_FILE), tensor: name });
    }
    expAvg.set(name, readTensorAsFloat32(m));
    expAvgSq.set(name, readTensorAsFloat32(v));
  }
  return { dir, trainer, state: { params, shapes, expAvg, expAvgSq, step: trainer.optimizer_step, ...(trainer.loss_scale !== undefined ? { lossScale: trainer.loss_scale } : {}) } };
}

/** The commit of the git repository holding `dir`, if any (git missing or no repo: undefined). */
export function gitCommit(dir: string): string | undefined {
  try {
    const out = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: dir, stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).toString().trim();
    return /^[0-9a-f]{40}$/.test(out) ? out : undefined;
  } catch {
    return undefined;
  }
}
