// Reads run folders (CONTRACTS.md §4: run.json, metrics.jsonl, checkpoints/step-N/, adapter/) defensively,
// so the dashboard and tree rebuild after a reload and a half-written file never breaks the listing.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { isRunEvent, type RunEvent, type RunInfo } from '../../shared/protocol';
import { TRAIL_POINTS, type RunSummary, type RunView } from '../../shared/dashboard';
import { applyEvent, applyRunInfo, bestCheckpointOf, emptyRunView, lastStep, maxSteps } from './runState';
import { deadOwnerMessage } from './runOwner';
import { deepNestingAt } from '../util/safeJson';

export interface MetricsRead {
  events: RunEvent[];
  /** 1-based line numbers that were not a JSON run event (a truncated last line after a crash, say). */
  skipped: number[];
}

/** Parses metrics.jsonl line by line; unreadable lines are counted, never thrown. */
export function readMetrics(file: string): MetricsRead {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return { events: [], skipped: [] };
  }
  const events: RunEvent[] = [];
  const skipped: number[] = [];
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    try {
      const x: unknown = deepNestingAt(line) === null ? JSON.parse(line) : undefined;
      if (isRunEvent(x)) events.push(x);
      else skipped.push(i + 1);
    } catch {
      skipped.push(i + 1);
    }
  });
  return { events, skipped };
}

/** run.json, or undefined when missing or not an object; fields of the wrong type are dropped. */
export function readRunInfo(dir: string): RunInfo | undefined {
  let x: unknown;
  try {
    const text = fs.readFileSync(path.join(dir, 'run.json'), 'utf8');
    x = deepNestingAt(text) === null ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return undefined;
  const o = x as Record<string, unknown>;
  const str = (k: string): string | undefined => (typeof o[k] === 'string' ? o[k] : undefined);
  const num = (k: string): number | undefined => (typeof o[k] === 'number' && Number.isFinite(o[k]) ? o[k] : undefined);
  const status = str('status');
  const info: RunInfo = {
    name: str('name') ?? path.basename(dir),
    status: status === 'running' || status === 'completed' || status === 'stopped' || status === 'failed' ? status : 'failed',
    config_file: str('config_file') ?? '',
    recipe: o['recipe'],
    adapter_config: o['adapter_config'],
    base_model: str('base_model') ?? '',
    device: str('device') ?? '',
    started_at: str('started_at') ?? '',
  };
  const optional = { finished_at: str('finished_at'), git_commit: str('git_commit'), error: str('error'), last_step: num('last_step'), max_steps: num('max_steps'), pid: num('pid'), host: str('host') };
  for (const [k, v] of Object.entries(optional)) if (v !== undefined) (info as unknown as Record<string, unknown>)[k] = v;
  if (status === undefined) info.status = 'running';
  const dead = info.status === 'running' ? deadOwnerMessage(info) : null;
  if (dead !== null) {
    info.status = 'failed';
    info.error = dead;
  }
  return info;
}

/** checkpoints/step-N folders, by step ascending (temp folders of an interrupted atomic write are ignored). */
export function listCheckpoints(dir: string): { step: number; dir: string }[] {
  const root = path.join(dir, 'checkpoints');
  let names: string[];
  try {
    names = fs.readdirSync(root);
  } catch {
    return [];
  }
  const out: { step: number; dir: string }[] = [];
  for (const n of names) {
    const m = /^step-(\d+)$/.exec(n);
    if (m?.[1] === undefined) continue;
    const p = path.join(root, n);
    if (isDir(p)) out.push({ step: Number(m[1]), dir: p });
  }
  return out.sort((a, b) => a.step - b.step);
}

export function isRunDir(dir: string): boolean {
  return fs.existsSync(path.join(dir, 'run.json')) || fs.existsSync(path.join(dir, 'metrics.jsonl'));
}

/** The whole run: run.json merged with its replayed events. */
export function readRun(dir: string): RunView {
  const abs = path.resolve(dir);
  const view = emptyRunView(abs);
  const { events, skipped } = readMetrics(path.join(abs, 'metrics.jsonl'));
  for (const e of events) applyEvent(view, e);
  view.dir = abs; // the folder as found wins over a run_dir recorded on another machine
  view.skippedLines = skipped.length;
  const info = readRunInfo(abs);
  if (info !== undefined) applyRunInfo(view, info);
  else if (view.done === undefined && view.error === undefined) view.status = events.length > 0 ? 'running' : 'unknown';
  return view;
}

/** At most TRAIL_POINTS values at evenly spaced indices, first and last kept (the sparkline of a run). */
export function lossTrail(losses: readonly number[], max = TRAIL_POINTS): number[] {
  if (losses.length <= max) return [...losses];
  return Array.from({ length: max }, (_, i) => losses[Math.round((i * (losses.length - 1)) / (max - 1))] as number);
}

export function summarize(view: RunView, checkpoints = listCheckpoints(view.dir), live = false): RunSummary {
  const lastRec = view.steps[view.steps.length - 1];
  const adapter = view.done?.adapter_dir ?? path.join(view.dir, 'adapter');
  const s: RunSummary = { dir: view.dir, name: view.name, status: view.status, lastStep: lastStep(view), checkpoints, live };
  const startedAt = view.info?.started_at || view.start?.time;
  if (startedAt) s.startedAt = startedAt;
  if (view.info?.finished_at !== undefined) s.finishedAt = view.info.finished_at;
  const base = view.info?.base_model || view.start?.base_model;
  if (base) s.baseModel = base;
  const device = view.start?.device ?? view.info?.device;
  if (device) s.device = device;
  const max = maxSteps(view);
  if (max !== undefined) s.maxSteps = max;
  if (lastRec !== undefined) s.lastLoss = lastRec.loss;
  if (view.steps.length > 1) s.lossTrail = lossTrail(view.steps.map((x) => x.loss));
  if (view.done !== undefined) s.finalLoss = view.done.final_loss;
  const best = bestCheckpointOf(view);
  if (best !== undefined) s.bestCheckpoint = best;
  if (fs.existsSync(path.join(adapter, 'adapter_config.json'))) s.adapterDir = adapter;
  const err = view.error?.message ?? view.info?.error;
  if (view.status === 'failed' && err !== undefined) s.error = err;
  return s;
}

/** Run folders directly under each output dir (the recipe's output_dir), newest first. */
export function listRunDirs(outputDirs: readonly string[]): string[] {
  const seen = new Set<string>();
  for (const od of outputDirs) {
    const root = path.resolve(od);
    let names: string[];
    try {
      names = fs.readdirSync(root);
    } catch {
      continue;
    }
    for (const n of names) {
      const p = path.join(root, n);
      if (isDir(p) && isRunDir(p)) seen.add(p);
    }
  }
  return [...seen];
}

/** Every run under the output dirs, newest start first. */
export function readRuns(outputDirs: readonly string[]): RunSummary[] {
  return listRunDirs(outputDirs)
    .map((d) => summarize(readRun(d)))
    .sort((a, b) => (b.startedAt ?? '').localeCompare(a.startedAt ?? '') || a.name.localeCompare(b.name));
}

/**
 * Records a failure in run.json (status "failed", error, finished_at) keeping every other field and every
 * checkpoint; writes atomically. Creates a minimal run.json when there was none.
 */
export function markRunFailed(dir: string, message: string, opts: { lastStep?: number; now?: Date } = {}): void {
  const now = opts.now ?? new Date();
  const file = path.join(dir, 'run.json');
  let o: Record<string, unknown> = {};
  try {
    const x: unknown = JSON.parse(fs.readFileSync(file, 'utf8'));
    if (typeof x === 'object' && x !== null && !Array.isArray(x)) o = x as Record<string, unknown>;
  } catch {
    o = { name: path.basename(dir), started_at: now.toISOString() };
  }
  o['status'] = 'failed';
  o['error'] = message;
  o['finished_at'] = now.toISOString();
  const last = Math.max(opts.lastStep ?? 0, lastStep(readRun(dir)));
  if (last > 0) o['last_step'] = last;
  const tmp = `${file}.tmp-${process.pid}`;
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(tmp, JSON.stringify(o, null, 2) + '\n');
  fs.renameSync(tmp, file);
}

/** The recipe's output_dir (default "runs"), resolved against its folder; tolerant of broken YAML. */
export function recipeOutputDir(recipeFile: string): string {
  let out = 'runs';
  try {
    const doc: unknown = parseYaml(fs.readFileSync(recipeFile, 'utf8'));
    const v = typeof doc === 'object' && doc !== null ? (doc as Record<string, unknown>)['output_dir'] : undefined;
    if (typeof v === 'string' && v.trim() !== '') out = v;
  } catch {
    // a half-typed recipe: keep the default
  }
  return path.resolve(path.dirname(recipeFile), out);
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}
