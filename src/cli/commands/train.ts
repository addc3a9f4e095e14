// `peft-studio train CONFIG [--json] [--resume RUN_DIR] [--device D]`: runs the trainer in this process, with a
// progress line on a terminal, one line per logged step otherwise, or the run records as JSON lines (CONTRACTS §3-4).
import type { CliCommand, CliIO } from '../command';
import { PeftStudioError, UsageError } from '../../core/errors';
import { runTraining, TrainingFailed } from '../../core/train/trainer';
import type { DoneEvent, RunEvent, StepEvent } from '../../shared/protocol';

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

/** Human-readable rendering of run events: a live progress line on a TTY, plain lines elsewhere. */
export class ProgressPrinter {
  private maxSteps = 0;
  private liveLine = false;

  constructor(private readonly io: CliIO, private readonly write: (s: string) => void = (s) => process.stdout.write(s)) {}

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
        this.line(`eval at step ${e.step}: eval_loss ${fmt(e.eval_loss)}`);
        break;
      case 'checkpoint':
        this.line(`checkpoint at step ${e.step}: ${e.path}`);
        break;
      case 'log':
        this.line(e.level === 'warning' ? `warning: ${e.message}` : e.message);
        break;
      case 'done':
        this.line(`${e.stopped === true ? 'Stopped' : 'Done'}: final loss ${fmt(e.final_loss)}. Adapter: ${e.adapter_dir}`);
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
  opts: { configFile: string; json: boolean; resume?: string; device?: string; onEvent?: (e: RunEvent) => void },
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
  try {
    const done = await runTraining({
      configFile: opts.configFile,
      ...(opts.resume !== undefined ? { resume: opts.resume } : {}),
      ...(opts.device !== undefined ? { device: opts.device } : {}),
      signal: controller.signal,
      onEvent: (e) => {
        opts.onEvent?.(e);
        if (opts.json) io.out(JSON.stringify(e));
        else printer.event(e);
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
    'Usage: peft-studio train CONFIG [--json] [--resume RUN_DIR] [--device auto|cpu|webgpu|cuda]',
    '',
    'Trains the adapter described by CONFIG (a peft-train.yaml) and writes a run folder under its output_dir:',
    'run.json, metrics.jsonl, checkpoints/step-N/ and adapter/ (PEFT format).',
    '',
    'Options:',
    '  --json            print the run records (start, step, eval, checkpoint, done, error) as JSON lines',
    '  --resume RUN_DIR  continue a run from its latest checkpoint (or from a checkpoints/step-N folder), exactly',
    '  --device D        override the recipe\'s device',
    '',
    'Ctrl-C stops after the current step, writing a checkpoint and the adapter (resume it with --resume).',
  ].join('\n'),
  options: {
    json: { type: 'boolean' },
    resume: { type: 'string' },
    device: { type: 'string' },
  },
  async run(args, io) {
    if (args.positionals.length !== 1) throw new UsageError(args.positionals.length === 0 ? 'missing CONFIG (a peft-train.yaml)' : 'expected one CONFIG');
    const resume = args.values['resume'];
    const device = args.values['device'];
    const r = await trainWithOutput(
      {
        configFile: args.positionals[0]!,
        json: args.values['json'] === true,
        ...(typeof resume === 'string' ? { resume } : {}),
        ...(typeof device === 'string' ? { device } : {}),
      },
      io,
    );
    return r.code;
  },
};
