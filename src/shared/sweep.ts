// A sweep as the dashboard shows it (built by src/core/sweep/sweepView.ts, drawn by webview/src/view/sweep.ts):
// each trial's settings, its loss curve and its figures, and the two Pareto fronts.
import type { RunStatus } from './dashboard';

export interface SweepTrialView {
  /** 1-based trial number (the `tK` of its folder). */
  index: number;
  name: string;
  runDir: string;
  status: RunStatus;
  /** The trial's settings, from its run.json (what it trained). */
  r?: number;
  loraAlpha?: number;
  learningRate?: number;
  targetModules?: string;
  trainable?: number;
  bestEvalLoss?: number;
  finalLoss?: number;
  /** Mean tokens/s of its logged steps. */
  tokensPerS?: number;
  /** [step, loss] of every logged step. */
  losses: [number, number][];
}

export interface SweepView {
  name: string;
  /** output_dir/.sweeps/<name> */
  dir: string;
  trials: SweepTrialView[];
  /** Trial indices on the Pareto front of trainable parameters (fewer) vs loss, and of tokens/s (more) vs loss. */
  paretoParams: number[];
  paretoThroughput: number[];
}
