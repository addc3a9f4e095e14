// `peft-studio train CONFIG [--json] [--resume RUN_DIR] [--device D]`: runs the trainer in this process, with a
// progress line on a terminal, one line per logged step otherwise, or the run records as JSON lines (CONTRACTS §3-4).
import type { CliCommand, CliIO } from '../command';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { InputError, PeftStudioError, UsageError, errorMessage } from '../../core/errors';
import { didYouMean } from '../../core/util/didYouMean';
import { runTraining, TrainingFailed } from '../../core/train/trainer';
import type { AlertEvent, DoneEvent, RunEvent, StepEvent } from '../../shared/protocol';

const fmt = (x: number): string => (Math.abs(x) >= 1e-3 && Math.abs(x) < 1e4 ? x.toFixed(4) : x.toExponential(3));
const fmtLr = (x: number): string => (x === 0 ? '0' : x.toExponential(3));

export function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const t = Math.round(s);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = t % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}:${String(sec).padStart(2, '0')}`;
}

/** `[#####.....] 12/50 loss 2.3456 lr 2.000e-4 412 tok/s ETA 0:31` */
export function progressLine(e: StepEvent, maxSteps: number, width = 24): string {
  const frac = maxSteps > 0 ? Math.min(1, e.step / maxSteps) : 0;
  const filled = Math.round(frac * width);
  const bar = '#'.repeat(filled) + '.'.repeat(width - filled);
  return `[${bar}] ${e.step}/${maxSteps} loss ${fmt(e.loss)} lr ${fmtLr(e.lr)} ${Math.round(e.tokens_per_s)} tok/s ETA ${formatDuration(e.eta_s ?? Number.NaN)}`;
}

/** An alert as a stderr warning: `warning: <message> (peft-train.yaml:12: training.learning_rate)`. */
export function alertWarning(e: AlertEvent): string {
  return `warning: ${e.message} (${e.file !== undefined ? `${e.file}${e.line !== undefined ? `:${e.line}` : ''}: ` : ''}${e.key})`;
}

/** Prints each kind of alert once (the run may raise one again after it cleared; the terminal needs it once). */
export class AlertPrinter {
  private readonly seen = new Set<string>();

  constructor(private readonly io: CliIO, private readonly prefix = '') {}

  event(e: RunEvent): boolean {
    if (e.event !== 'alert') return false;
    if (!this.seen.has(e.kind)) this.io.err(`${this.prefix}${alertWarning(e)}`);
    this.seen.add(e.kind);
    return true;
  }
}

/** Human-readable rendering of run events: a live progress line on a TTY, plain lines elsewhere. */
export class ProgressPrinter {
  private maxSteps = 0;
  private liveLine = false;
  private readonly alerts: AlertPrinter;

  constructor(private readonly io: CliIO, private readonly write: (s: string) => void = (s) => process.stdout.write(s)) {
    this.alerts = new AlertPrinter(io);
  }

  event(e: RunEvent): void {
    switch (e.event) {
      case 'start':
        this.maxSteps = e.max_steps;
        this.line(
          `Training ${e.run_name} on ${e.device}: ${e.trainable.toLocaleString('en-US')} trainable of ${e.total.toLocaleString('en-US')} parameters ` +
            `(${((100 * e.trainable) / e.total).toFixed(4)}%), ${e.max_steps} steps${e.resumed_from_step !== undefined ? `, resumed at step ${e.resumed_from_step}` : ''}`,
        );
        this.line(`Run folder: ${e.run_dir}`);
        break;
      case 'step':
        if (this.io.isTTY) {
          this.write(`\r${progressLine(e, this.maxSteps)}\x1b[K`);
          this.liveLine = true;
        } else {
          this.line(`step ${e.step}/${this.maxSteps} loss ${fmt(e.loss)} lr ${fmtLr(e.lr)} grad_norm ${fmt(e.grad_norm)} ${Math.round(e.tokens_per_s)} tok/s`);
        }
        break;
      case 'eval':
        this.line(`eval at step ${e.step}: eval_loss ${fmt(e.eval_loss)}${e.eval_perplexity !== undefined ? ` perplexity ${fmt(e.eval_perplexity)}` : ''}`);
        break;
      case 'eval_generation':
        this.line(`eval prompts at step ${e.step}: ${e.samples.length} answered${e.exact_match !== undefined ? `, exact match ${e.exact_match.toFixed(3)}` : ''}${e.contains !== undefined ? `, contains ${e.contains.toFixed(3)}` : ''}`);
        break;
      case 'checkpoint':
        this.line(`checkpoint at step ${e.step}: ${e.path}`);
        break;
      case 'log':
        this.line(e.level === 'warning' ? `warning: ${e.message}` : e.message);
        break;
      case 'done':
        this.line(`${e.stopped === true ? 'Stopped' : e.early_stopped === true ? 'Stopped early' : 'Done'}: final loss ${fmt(e.final_loss)}. Adapter: ${e.adapter_dir}`);
        if (e.best_model_checkpoint !== undefined) this.line(`Best checkpoint: ${e.best_model_checkpoint} (${fmt(e.best_metric ?? Number.NaN)})`);
        break;
      case 'alert':
        this.endLive();
        this.alerts.event(e);
        break;
      case 'error':
        this.endLive();
        this.io.err(`error${e.step !== undefined ? ` at step ${e.step}` : ''}: ${e.message}`);
        if (e.checkpoint !== undefined) this.io.err(`last good checkpoint: ${e.checkpoint}`);
        break;
    }
  }

  private endLive(): void {
    if (this.liveLine) this.write('\n');
    this.liveLine = false;
  }

  private line(s: string): void {
    this.endLive();
    this.io.out(s);
  }
}

/**
 * Trains one recipe, printing as asked. Ctrl-C once stops cleanly (checkpoint + adapter), twice exits.
 * Returns the exit code and the done record.
 */
export async function trainWithOutput(
  opts: { configFile: string; json: boolean; resume?: string; device?: string; restart?: boolean; onEvent?: (e: RunEvent) => void },
  io: CliIO,
): Promise<{ code: number; done?: DoneEvent }> {
  const controller = new AbortController();
  const onSigint = (): void => {
    if (controller.signal.aborted) process.exit(130);
    io.err('\nStopping after this step (Ctrl-C again to quit at once)...');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  const printer = new ProgressPrinter(io);
  const alerts = new AlertPrinter(io, 'peft-studio train: ');
  try {
    const done = await runTraining({
      configFile: opts.configFile,
      ...(opts.resume !== undefined ? { resume: opts.resume } : {}),
      ...(opts.restart === true ? { restart: true } : {}),
      ...(opts.device !== undefined ? { device: opts.device } : {}),
      signal: controller.signal,
      onEvent: (e) => {
        opts.onEvent?.(e);
        // stdout carries exactly the contract's records (= metrics.jsonl); log lines go to stderr.
        if (!opts.json) printer.event(e);
        else if (e.event === 'log') io.err(`peft-studio train: ${e.level === 'warning' ? 'warning: ' : ''}${e.message}`);
        else {
          io.out(JSON.stringify(e));
          alerts.event(e);
        }
      },
    });
    return { code: 0, done };
  } catch (e) {
    if (e instanceof TrainingFailed) {
      if (opts.json) io.err(`peft-studio train: error: ${e.message}`);
      // Bad input (config, data, divergence) is exit 1; an internal failure keeps main's handling.
      if (e.cause instanceof PeftStudioError) return { code: 1 };
      throw e.cause;
    }
    throw e;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

export const trainCommand: CliCommand = {
  name: 'train',
  summary: 'Train a LoRA adapter from a peft-train.yaml recipe',
  help: [
    'Usage: peft-studio train CONFIG [--json] [--resume RUN_DIR | --restart] [--device auto|cpu|webgpu|cuda]',
    '       peft-studio train --resume RUN_DIR [--json]       (the recipe the run was started from)',
    '',
    'Trains the adapter described by CONFIG (a peft-train.yaml) and writes a run folder under its output_dir:',
    'run.json, metrics.jsonl, checkpoints/step-N/ and adapter/ (PEFT format).',
    '',
    'Options:',
    '  --json            print the run records (start, step, eval, checkpoint, system, alert, done, error) as JSON lines (= metrics.jsonl); log lines go to stderr',
    '  --resume RUN_DIR  continue a run from its latest checkpoint (or from a checkpoints/step-N folder), exactly',
    '  --restart         start again in the run_name folder of a run stopped before its first checkpoint (its files are removed)',
    '  --device D        override the recipe\'s device',
    '',
    'Ctrl-C stops after the current step, writing a checkpoint and the adapter (resume it with --resume).',
  ].join('\n'),
  options: {
    json: { type: 'boolean' },
    resume: { type: 'string' },
    restart: { type: 'boolean' },
    device: { type: 'string' },
  },
  async run(args, io) {
    const resume = args.values['resume'];
    const device = args.values['device'];
    if (args.positionals.length > 1) throw new UsageError(`expected one CONFIG, got ${args.positionals.length}`);
    if (args.values['restart'] === true && typeof resume === 'string') throw new UsageError('--restart and --resume exclude each other', 'Resume a run that has a checkpoint; restart one that has none');
    if (args.positionals.length === 0 && typeof resume !== 'string') throw new UsageError('missing CONFIG (a peft-train.yaml)', 'Example: peft-studio train peft-train.yaml');
    if (typeof device === 'string' && !(DEVICES as readonly string[]).includes(device)) {
      throw new UsageError(`--device must be one of ${DEVICES.join(', ')}, got "${device}".${didYouMean(device, DEVICES)}`);
    }
    const json = args.values['json'] === true;
    let configFile: string;
    try {
      configFile = args.positionals[0] ?? recipeOfRun(resume as string);
      if (basename(configFile).toLowerCase() === 'adapter_config.json') {
        throw new InputError('train-not-a-recipe', 'this is a PEFT adapter config, not a training recipe', {
          file: configFile,
          hint: 'Pass the peft-train.yaml that points to it (adapter_config: ./adapter_config.json); `peft-studio init DIR --model M` writes one',
        });
      }
    } catch (e) {
      // With --json every failure is also an error record on stdout, as the trainer's own failures are.
      if (json && e instanceof InputError) io.out(JSON.stringify({ event: 'error', message: e.message } satisfies RunEvent));
      throw e;
    }
    const r = await trainWithOutput(
      {
        configFile,
        json,
        ...(typeof resume === 'string' ? { resume } : {}),
        ...(args.values['restart'] === true ? { restart: true } : {}),
        ...(typeof device === 'string' ? { device } : {}),
      },
      io,
    );
    return r.code;
  },
};

const DEVICES = ['auto', 'cpu', 'webgpu', 'cuda'] as const;

/**
 * `train --resume RUN_DIR` without CONFIG: the recipe the run was started from (run.json's config_file), found from
 * the run folder or from one of its checkpoints/step-N folders.
 */
export function recipeOfRun(resume: string): string {
  const abs = resolve(resume);
  const runDir = existsSync(join(abs, 'trainer_state.json')) ? dirname(dirname(abs)) : abs;
  const info = join(runDir, 'run.json');
  if (!existsSync(info)) {
    throw new InputError('resume-no-run', `${existsSync(abs) ? 'not a run folder (no run.json)' : 'the folder to resume does not exist'}`, {
      file: abs,
      hint: 'Give the run folder (runs/<name>) or one of its checkpoints/step-N folders, or pass the recipe too: peft-studio train CONFIG --resume RUN_DIR',
    });
  }
  let cfg: unknown;
  try {
    cfg = (JSON.parse(readFileSync(info, 'utf8')) as { config_file?: unknown }).config_file;
  } catch (e) {
    throw new InputError('resume-bad-run', `run.json is not valid JSON: ${errorMessage(e)}`, { file: info });
  }
  if (typeof cfg !== 'string' || cfg === '') throw new InputError('resume-bad-run', 'run.json names no config_file', { file: info, hint: 'Pass the recipe: peft-studio train CONFIG --resume RUN_DIR' });
  return cfg;
}
