// The records of a training run, shared by the worker, the CLI's --json lines, metrics.jsonl, the run
// manager and the dashboard webview (CONTRACTS.md §4). One definition, discriminated by `event`.

export interface StartEvent {
  event: 'start';
  run_dir: string;
  run_name: string;
  trainable: number;
  total: number;
  device: string;
  /** Why this device was chosen (auto selection), for the log and dashboard. */
  device_reason?: string;
  base_model: string;
  max_steps: number;
  /** Per-module trainable parameters, for the dashboard's parameter table. */
  modules?: { name: string; r: number; in: number; out: number; params: number }[];
  /** Estimated peak memory in bytes, when known. */
  memory_estimate_bytes?: number;
  resumed_from_step?: number;
  time: string;
}

export interface StepEvent {
  event: 'step';
  step: number;
  epoch: number;
  loss: number;
  lr: number;
  grad_norm: number;
  tokens: number;
  tokens_per_s: number;
  elapsed_s: number;
  eta_s?: number;
  /** Resident set size of the worker in bytes. */
  rss_bytes?: number;
  /** fp16 (training.fp16 on a GPU): the loss scale the step used (torch GradScaler). */
  loss_scale?: number;
  /** fp16: the gradients overflowed, so the update was skipped and the scale halved (grad_norm is then not finite). */
  skipped?: boolean;
}

export interface EvalEvent {
  event: 'eval';
  step: number;
  eval_loss: number;
  /** exp(eval_loss). */
  eval_perplexity?: number;
}

/** One eval prompt's greedy answer at an evaluation (dataset.eval_prompts). */
export interface EvalSample {
  prompt: string;
  output: string;
  expected?: string;
  /** Whitespace-normalised output equals the normalised expected answer (only with `expected`). */
  exact_match?: boolean;
  /** Whitespace-normalised output contains the normalised expected answer (only with `expected`). */
  contains?: boolean;
  /** New tokens generated, and why generation ended (eos, length). */
  tokens: number;
  finish_reason: string;
}

/** The eval prompts answered with the adapter of `step`; the scores are fractions over the samples with `expected`. */
export interface EvalGenerationEvent {
  event: 'eval_generation';
  step: number;
  samples: EvalSample[];
  exact_match?: number;
  contains?: number;
  max_new_tokens: number;
}

export interface CheckpointEvent {
  event: 'checkpoint';
  step: number;
  path: string;
  /** With metric_for_best_model: trainer_state.json's best_model_checkpoint as of this checkpoint. */
  best_model_checkpoint?: string;
}

export interface DoneEvent {
  event: 'done';
  run_dir: string;
  adapter_dir: string;
  final_loss: number;
  /** true when stopped by the user before max_steps (adapter holds the last step). */
  stopped?: boolean;
  /** true when early stopping (training.early_stopping_patience) ended the run. */
  early_stopped?: boolean;
  /** With metric_for_best_model: the best checkpoint and its metric; with load_best_model_at_end the adapter is its. */
  best_model_checkpoint?: string;
  best_metric?: number;
}

export interface ErrorEvent {
  event: 'error';
  message: string;
  /** Step at which it happened, if during training. */
  step?: number;
  /** Last good checkpoint kept, if any. */
  checkpoint?: string;
}

/** A free-form log line (truncation counts, warnings); not part of metrics.jsonl's contract but allowed in it. */
export interface LogEvent {
  event: 'log';
  level: 'info' | 'warning';
  message: string;
}

/**
 * The worker's resources (CONTRACTS.md §4, "system"): after the first logged step, then at most every few seconds.
 * CPU is the worker process's user + system time over the wall time since the previous sample.
 */
export interface SystemEvent {
  event: 'system';
  step: number;
  elapsed_s: number;
  /** Percent of one core (200 = two cores busy). */
  cpu_percent: number;
  /** Percent of all `cores` of the machine. */
  cpu_percent_total: number;
  cores: number;
  rss_bytes: number;
  /** The worker's high-water mark (VmHWM). */
  peak_rss_bytes: number;
  /** Host memory the kernel could still give (/proc/meminfo MemAvailable, else free memory; within a cgroup memory limit). */
  mem_available_bytes: number;
  /** The host's memory, or the cgroup memory limit (a container, a pod) when that is lower. */
  mem_total_bytes: number;
  /** On a GPU device: what its execution provider reports; null fields = not reported. Absent on cpu. */
  gpu?: { device: string; memory_used_bytes: number | null; memory_total_bytes: number | null; utilization_percent: number | null; note?: string };
}

export type AlertKind = 'divergence' | 'non-finite' | 'throughput' | 'memory';

/** A training alert (src/core/train/alerts.ts): what happened and the recipe key, with its line, most likely at fault. */
export interface AlertEvent {
  event: 'alert';
  kind: AlertKind;
  step: number;
  message: string;
  /** Dotted recipe key, e.g. training.learning_rate. */
  key: string;
  /** The recipe file and the key's 1-based line there (its section's line, or 1, when the key is not written). */
  file?: string;
  line?: number;
}

export type RunEvent = StartEvent | StepEvent | EvalEvent | EvalGenerationEvent | CheckpointEvent | DoneEvent | ErrorEvent | LogEvent | SystemEvent | AlertEvent;

/** Messages from the run manager (extension host) to the worker process. */
export type HostToWorker =
  | { type: 'train'; config: string; resume?: string; device?: string }
  | { type: 'stop' };

/** Messages from the worker to the host: every run event, wrapped. */
export type WorkerToHost = { type: 'event'; record: RunEvent };

/** run.json in a run folder. */
export interface RunInfo {
  name: string;
  status: 'running' | 'completed' | 'stopped' | 'failed';
  config_file: string;
  /** The resolved recipe (paths absolute), as trained. */
  recipe: unknown;
  /** The resolved adapter config. */
  adapter_config: unknown;
  base_model: string;
  device: string;
  started_at: string;
  finished_at?: string;
  git_commit?: string;
  error?: string;
  last_step?: number;
  max_steps?: number;
  /** The training process while status is "running" (a reader that finds it gone shows the run as interrupted). */
  pid?: number;
  host?: string;
}

export function isRunEvent(x: unknown): x is RunEvent {
  if (typeof x !== 'object' || x === null) return false;
  const e = (x as { event?: unknown }).event;
  return e === 'start' || e === 'step' || e === 'eval' || e === 'eval_generation' || e === 'checkpoint' || e === 'done' || e === 'error' || e === 'log' || e === 'system' || e === 'alert';
}
