// The run state machine: folds RunEvents (live from the worker, or replayed from metrics.jsonl) into a RunView,
// and derives what the status bar, progress notification and dashboard show (step, loss, ETA, fraction done).
import type { RunEvent, RunInfo } from '../../shared/protocol';
import type { RunStatus, RunView } from '../../shared/dashboard';

export function emptyRunView(dir: string, name = baseName(dir)): RunView {
  return { dir, name, status: 'starting', steps: [], evals: [], evalGenerations: [], checkpoints: [], logs: [], skippedLines: 0 };
}

/**
 * Applies one event, mutating and returning `view`. A `start` with `resumed_from_step` (a resumed run
 * appends to the same metrics.jsonl) drops the records after that step, which the resumed run repeats.
 */
export function applyEvent(view: RunView, e: RunEvent): RunView {
  switch (e.event) {
    case 'start': {
      view.start = e;
      if (e.run_dir !== '') view.dir = e.run_dir;
      if (e.run_name !== '') view.name = e.run_name;
      view.status = 'running';
      delete view.done;
      delete view.error;
      const from = e.resumed_from_step;
      if (from !== undefined) {
        view.steps = view.steps.filter((s) => s.step <= from);
        view.evals = view.evals.filter((s) => s.step <= from);
        view.evalGenerations = (view.evalGenerations ?? []).filter((s) => s.step <= from);
        view.checkpoints = view.checkpoints.filter((s) => s.step <= from);
        if (view.alerts !== undefined) view.alerts = view.alerts.filter((a) => a.step <= from);
      }
      break;
    }
    case 'step': {
      const last = view.steps[view.steps.length - 1];
      if (last !== undefined && e.step <= last.step) view.steps = view.steps.filter((s) => s.step < e.step);
      view.steps.push(e);
      if (view.status === 'starting') view.status = 'running';
      break;
    }
    case 'eval':
      view.evals = view.evals.filter((s) => s.step !== e.step);
      view.evals.push(e);
      break;
    case 'eval_generation':
      view.evalGenerations = [...(view.evalGenerations ?? []).filter((s) => s.step !== e.step), e];
      break;
    case 'checkpoint':
      view.checkpoints = view.checkpoints.filter((s) => s.step !== e.step);
      view.checkpoints.push(e);
      break;
    case 'done':
      view.done = e;
      view.status = e.stopped === true ? 'stopped' : 'completed';
      break;
    case 'error':
      view.error = e;
      view.status = 'failed';
      break;
    case 'system':
      view.system = e;
      break;
    case 'alert':
      view.alerts = [...(view.alerts ?? []).filter((a) => a.kind !== e.kind), e];
      break;
    case 'log':
      view.logs.push(e);
      if (view.logs.length > 500) view.logs.splice(0, view.logs.length - 500);
      break;
  }
  return view;
}

/** Merges run.json into the view; events win over run.json's status unless run.json records a final state. */
export function applyRunInfo(view: RunView, info: RunInfo): RunView {
  view.info = info;
  if (info.name !== '') view.name = info.name;
  const fromEvents = view.done !== undefined || view.error !== undefined;
  if (!fromEvents || info.status === 'failed') view.status = normaliseStatus(info.status);
  return view;
}

function normaliseStatus(s: unknown): RunStatus {
  return s === 'running' || s === 'completed' || s === 'stopped' || s === 'failed' ? s : 'unknown';
}

/**
 * The worker process ended. Exit without a `done` or `error` event is a crash: the run is failed and the
 * message says how it ended. Returns the message when it was a crash, else undefined.
 */
export function applyWorkerExit(view: RunView, code: number | null, signal: string | null): string | undefined {
  if (view.done !== undefined || view.error !== undefined) return undefined;
  const how = signal !== null ? `was killed by ${signal}` : `exited with code ${code ?? 'unknown'}`;
  const at = lastStep(view) > 0 ? ` at step ${lastStep(view)}` : ' before the first step';
  const kept = view.checkpoints.length > 0 ? `; checkpoint step-${view.checkpoints[view.checkpoints.length - 1]?.step ?? 0} is kept` : '';
  const message = `The training worker ${how}${at} without finishing${kept}.`;
  view.error = { event: 'error', message, ...(lastStep(view) > 0 ? { step: lastStep(view) } : {}) };
  view.status = 'failed';
  return message;
}

/** The run's best checkpoint: the done record's, else the last checkpoint record's best_model_checkpoint. */
export function bestCheckpointOf(view: RunView): string | undefined {
  return view.done?.best_model_checkpoint ?? [...view.checkpoints].reverse().find((c) => c.best_model_checkpoint !== undefined)?.best_model_checkpoint;
}

export function lastStep(view: RunView): number {
  return view.steps[view.steps.length - 1]?.step ?? view.info?.last_step ?? 0;
}

export function maxSteps(view: RunView): number | undefined {
  const m = view.start?.max_steps ?? view.info?.max_steps;
  return m !== undefined && m > 0 ? m : undefined;
}

/** Seconds left: the worker's own estimate when given, else elapsed time per step since this start × steps left. */
export function etaSeconds(view: RunView): number | undefined {
  const last = view.steps[view.steps.length - 1];
  const max = maxSteps(view);
  if (last === undefined || max === undefined) return undefined;
  if (last.eta_s !== undefined && Number.isFinite(last.eta_s)) return Math.max(0, last.eta_s);
  const first = view.steps.find((s) => s.step > (view.start?.resumed_from_step ?? 0));
  if (first === undefined || last.step <= first.step) return undefined;
  const perStep = (last.elapsed_s - first.elapsed_s) / (last.step - first.step);
  if (!Number.isFinite(perStep) || perStep < 0) return undefined;
  return perStep * Math.max(0, max - last.step);
}

/** 0..1 of max_steps, or undefined when the length is not known. */
export function fractionDone(view: RunView): number | undefined {
  const max = maxSteps(view);
  return max === undefined ? undefined : Math.min(1, lastStep(view) / max);
}

export function formatDuration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return '–';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

export function formatLoss(x: number | undefined): string {
  if (x === undefined) return '–';
  if (!Number.isFinite(x)) return String(x);
  return Math.abs(x) >= 100 ? x.toFixed(1) : x.toFixed(4);
}

/** One line for the status bar / progress message: "step 12/100 · loss 2.3120 · ETA 1m 05s". */
export function statusLine(view: RunView): string {
  const max = maxSteps(view);
  const step = `step ${lastStep(view)}${max !== undefined ? `/${max}` : ''}`;
  const last = view.steps[view.steps.length - 1];
  if (view.status === 'starting') return 'starting…';
  if (view.status === 'completed') return `done · ${step} · final loss ${formatLoss(view.done?.final_loss)}`;
  if (view.status === 'stopped') return `stopped · ${step}`;
  if (view.status === 'failed') return `failed · ${step}`;
  const parts = [step];
  if (last !== undefined) parts.push(`loss ${formatLoss(last.loss)}`);
  const eta = etaSeconds(view);
  if (eta !== undefined) parts.push(`ETA ${formatDuration(eta)}`);
  return parts.join(' · ');
}

/** One human-readable log line for an event (the editor's output channel). */
export function describeEvent(e: RunEvent): string {
  switch (e.event) {
    case 'start':
      return `start ${e.run_name}: ${e.trainable.toLocaleString('en-US')} trainable of ${e.total.toLocaleString('en-US')} parameters on ${e.device}${e.device_reason !== undefined ? ` (${e.device_reason})` : ''}, ${e.max_steps} steps, run folder ${e.run_dir}${e.resumed_from_step !== undefined ? `, resumed from step ${e.resumed_from_step}` : ''}`;
    case 'step':
      return `step ${e.step} epoch ${e.epoch.toFixed(2)} loss ${formatLoss(e.loss)} lr ${e.lr.toExponential(2)} grad_norm ${e.grad_norm.toFixed(3)} tokens/s ${e.tokens_per_s.toFixed(0)}`;
    case 'eval':
      return `eval at step ${e.step}: eval_loss ${formatLoss(e.eval_loss)}${e.eval_perplexity !== undefined ? ` perplexity ${formatLoss(e.eval_perplexity)}` : ''}`;
    case 'eval_generation':
      return `eval prompts at step ${e.step}: ${e.samples.length} answered${e.exact_match !== undefined ? `, exact match ${e.exact_match.toFixed(3)}` : ''}${e.contains !== undefined ? `, contains ${e.contains.toFixed(3)}` : ''}`;
    case 'checkpoint':
      return `checkpoint step ${e.step}: ${e.path}${e.best_model_checkpoint !== undefined ? ` (best: ${e.best_model_checkpoint})` : ''}`;
    case 'done':
      return `${e.stopped === true ? 'stopped' : e.early_stopped === true ? 'stopped early' : 'done'}: final loss ${formatLoss(e.final_loss)}, adapter ${e.adapter_dir}${e.best_model_checkpoint !== undefined ? `, best checkpoint ${e.best_model_checkpoint}` : ''}`;
    case 'error':
      return `error${e.step !== undefined ? ` at step ${e.step}` : ''}: ${e.message}${e.checkpoint !== undefined ? ` (checkpoint kept: ${e.checkpoint})` : ''}`;
    case 'log':
      return `${e.level}: ${e.message}`;
    case 'system':
      return `system at step ${e.step}: cpu ${e.cpu_percent.toFixed(0)} % of a core, rss ${(e.rss_bytes / 2 ** 20).toFixed(0)} MiB (peak ${(e.peak_rss_bytes / 2 ** 20).toFixed(0)} MiB), available ${(e.mem_available_bytes / 2 ** 20).toFixed(0)} MiB`;
    case 'alert':
      return `alert (${e.kind}) at step ${e.step}: ${e.message} [${e.key}${e.line !== undefined ? `, ${e.file ?? 'recipe'}:${e.line}` : ''}]`;
  }
}

function baseName(dir: string): string {
  const parts = dir.split(/[\\/]/).filter((p) => p !== '');
  return parts[parts.length - 1] ?? dir;
}
