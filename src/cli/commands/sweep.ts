// `peft-studio sweep RECIPE [--json] [--device D]`: runs the trials of the recipe's `sweep:` section one after
// another (each an ordinary run folder), then prints the trials with their trainable parameters, losses and Pareto front.
import type { CliCommand, CliIO } from '../command';
import { UsageError } from '../../core/errors';
import { runSweep, type SweepEvent, type TrialResult } from '../../core/sweep/runSweep';
import { AlertPrinter, ProgressPrinter } from './train';

const fmt = (x: number | undefined): string => (x === undefined ? '-' : x.toFixed(4));

function describeOverrides(o: TrialResult['overrides']): string {
  return Object.entries(o).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : String(v)}`).join(' ');
}

/** The summary table: one row a trial, the Pareto-optimal ones starred. */
export function sweepTable(trials: readonly TrialResult[], pareto: readonly number[]): string[] {
  const rows = [['', 'trial', 'settings', 'trainable', 'best eval', 'final loss', 'tok/s', 'status']];
  for (const t of trials) {
    rows.push([pareto.includes(t.index) ? '*' : '', t.name, describeOverrides(t.overrides), t.trainable?.toLocaleString('en-US') ?? '-', fmt(t.best_eval_loss), fmt(t.final_loss), t.tokens_per_s?.toFixed(0) ?? '-', t.status]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd());
}

export const sweepCommand: CliCommand = {
  name: 'sweep',
  summary: 'Run the trials of a recipe\'s sweep: section (rank, alpha, targets, learning rate)',
  help: [
    'Usage: peft-studio sweep RECIPE [--json] [--device auto|cpu|webgpu|cuda]',
    '',
    'Runs the trials of the recipe\'s `sweep:` section one after another; trial K is the run folder <name>-tK in',
    'output_dir (shown by the dashboard like any run). Run it again to continue an interrupted sweep: finished',
    'trials are kept and an interrupted one resumes from its last checkpoint.',
    '',
    'Options:',
    '  --json      JSON lines: trial_start, trial_end (trainable, best_eval_loss, final_loss, tokens_per_s, status)',
    '              and a last sweep_done record with every trial and the Pareto front (trial indices)',
    '  --device D  override the recipe\'s device',
    '',
    'Ctrl-C stops the current trial after its step (checkpointed) and ends the sweep; run the command again to go on.',
  ].join('\n'),
  options: { json: { type: 'boolean' }, device: { type: 'string' } },
  async run(args, io) {
    if (args.positionals.length !== 1) throw new UsageError(`expected one RECIPE, got ${args.positionals.length}`, 'Example: peft-studio sweep peft-train.yaml');
    const json = args.values['json'] === true;
    const device = args.values['device'];
    const controller = new AbortController();
    const onSigint = (): void => {
      if (controller.signal.aborted) process.exit(130);
      io.err('\nStopping the sweep after this step (Ctrl-C again to quit at once)...');
      controller.abort();
    };
    process.on('SIGINT', onSigint);
    const printer = new ProgressPrinter(io);
    const alerts = new AlertPrinter(io, 'peft-studio sweep: ');
    try {
      const done = await runSweep({
        configFile: args.positionals[0]!,
        ...(typeof device === 'string' ? { device } : {}),
        signal: controller.signal,
        onEvent: (e) => (json ? io.out(JSON.stringify(e)) : printSweepEvent(e, io)),
        onRunEvent: (e) => {
          if (!json) printer.event(e);
          else alerts.event(e);
        },
      });
      return done.trials.some((t) => t.status === 'failed') ? 1 : 0;
    } finally {
      process.off('SIGINT', onSigint);
    }
  },
};

function printSweepEvent(e: SweepEvent, io: CliIO): void {
  if (e.event === 'trial_start') {
    const how = e.kept === true ? ' (finished earlier: kept)' : e.resume_from !== undefined ? ' (resuming)' : '';
    io.out(`\n== trial ${e.index}/${e.total}: ${e.name} ${describeOverrides(e.overrides)}${how}`);
  } else if (e.event === 'trial_end' && e.status === 'failed') {
    io.err(`trial ${e.index} failed: ${e.error ?? 'see its run folder'}`);
  } else if (e.event === 'sweep_done') {
    io.out(`\nSweep ${e.name}${e.stopped === true ? ' (stopped: run the command again to continue)' : ''}: * = Pareto front (fewest trainable parameters for the loss)`);
    for (const line of sweepTable(e.trials, e.pareto)) io.out(line);
  }
}
