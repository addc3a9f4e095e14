// The data the dashboard shows and the messages between the extension host and the dashboard webview.
// Pure types (no Node, no DOM): built by src/core/runs, sent by src/extension/dashboard, drawn by webview/.
import type { AlertEvent, SystemEvent } from './protocol';
import type { SweepView } from './sweep';
import type { CheckpointEvent, DoneEvent, ErrorEvent, EvalEvent, EvalGenerationEvent, LogEvent, RunEvent, RunInfo, StartEvent, StepEvent } from './protocol';

export type RunStatus = 'starting' | 'running' | 'completed' | 'stopped' | 'failed' | 'unknown';

/** Everything known about one run: its run.json and its events, reduced (src/core/runs/runState.ts). */
export interface RunView {
  /** Absolute run folder; the run's identity everywhere. */
  dir: string;
  name: string;
  status: RunStatus;
  info?: RunInfo;
  start?: StartEvent;
  steps: StepEvent[];
  evals: EvalEvent[];
  /** The eval prompts' answers at each evaluation (dataset.eval_prompts); absent in views built before it existed. */
  evalGenerations?: EvalGenerationEvent[];
  checkpoints: CheckpointEvent[];
  logs: LogEvent[];
  done?: DoneEvent;
  error?: ErrorEvent;
  /** Lines of metrics.jsonl that could not be read (truncated last line, bad JSON). */
  skippedLines: number;
  /** The latest `system` event (the dashboard's system strip). */
  system?: SystemEvent;
  /** The latest alert of each kind, in the order they came. */
  alerts?: AlertEvent[];
}

/** Points of a run's loss sparkline. */
export const TRAIL_POINTS = 40;

/** One row of the runs list. */
export interface RunSummary {
  dir: string;
  name: string;
  status: RunStatus;
  startedAt?: string;
  finishedAt?: string;
  baseModel?: string;
  device?: string;
  lastStep: number;
  maxSteps?: number;
  lastLoss?: number;
  finalLoss?: number;
  /** The train loss at up to TRAIL_POINTS evenly spaced steps, for the side bar's sparkline. */
  lossTrail?: number[];
  checkpoints: { step: number; dir: string }[];
  /** The best checkpoint (trainer_state.json's best_model_checkpoint, from the run's events), when one is tracked. */
  bestCheckpoint?: string;
  adapterDir?: string;
  error?: string;
  /** True while a worker of this extension trains it. */
  live: boolean;
}

export type HostToWebview =
  | { type: 'runs'; runs: RunSummary[] }
  | { type: 'run'; run: RunView }
  | { type: 'event'; dir: string; record: RunEvent }
  | { type: 'select'; dir: string }
  | { type: 'compare'; runs: RunView[] }
  /** The sweep the run `dir` is a trial of (null: none), sent with the run and again when run folders change. */
  | { type: 'sweep'; dir: string; sweep: SweepView | null };

export type WebviewToHost =
  | { type: 'ready' }
  | { type: 'selectRun'; dir: string }
  /** The side view's row click: show this run in the editor-area dashboard. */
  | { type: 'openRun'; dir: string }
  | { type: 'compareRuns'; dirs: string[] }
  | { type: 'refresh' }
  | { type: 'command'; command: RunCommand | StartCommand; dir?: string }
  /** An alert's "Show in Recipe": open `file` at 1-based `line`. */
  | { type: 'showInRecipe'; file: string; line: number };

/** Buttons of a run. */
export type RunCommand = 'stop' | 'resume' | 'openAdapter' | 'train';
/** First-use buttons of the empty dashboard: New Adapter Project, Open Demo Project, the Get Started walkthrough. */
export type StartCommand = 'newProject' | 'openDemo' | 'walkthrough';

export function isWebviewToHost(x: unknown): x is WebviewToHost {
  if (typeof x !== 'object' || x === null) return false;
  const t = (x as { type?: unknown }).type;
  return t === 'ready' || t === 'selectRun' || t === 'openRun' || t === 'compareRuns' || t === 'refresh' || t === 'command' || t === 'showInRecipe';
}
