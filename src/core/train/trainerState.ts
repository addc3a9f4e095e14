// trainer_state.json of a checkpoint, checked field by field before any value is used: a step becomes a folder
// name and an index, so a damaged or crafted file must be refused here, naming the file and the field.
import { InputError } from '../errors';
import { asStepNumber } from '../util/safePath';
import type { StreamState } from './data/stream';
import { parseJsonText } from '../util/safeJson';

/** trainer_state.json: everything besides tensors that an exact resume needs. */
export interface TrainerState {
  format_version: 1;
  global_step: number;
  max_steps: number;
  /** Epochs consumed (fractional). */
  epoch: number;
  /** Data order: epoch, cursor and the current epoch's permutation. */
  data: StreamState;
  /** State of the Rng that draws per-step dropout seeds. */
  rng: number[];
  seed: number;
  /** Optimizer steps taken (AdamW bias correction). */
  optimizer_step: number;
  /** LR-scheduler steps taken (fp16 steps skipped by the loss scaler do not count); absent in older checkpoints. */
  scheduler_step?: number;
  total_tokens: number;
  elapsed_s: number;
  last_loss: number | null;
  /** fp16 runs: GradScaler's state (engineApi EngineState.lossScale). */
  loss_scale?: { scale: number; growthTracker: number };
  /** With metric_for_best_model, HF TrainerState's fields: the best metric so far, its step and checkpoint. */
  best_metric?: number | null;
  best_global_step?: number | null;
  best_model_checkpoint?: string | null;
  /** With early stopping, as HF saves EarlyStoppingCallback's state. */
  stateful_callbacks?: { EarlyStoppingCallback: { args: { early_stopping_patience: number; early_stopping_threshold: number }; attributes: { early_stopping_patience_counter: number } } };
}

/** Parses and checks trainer_state.json text; every problem is an InputError naming `file` and the field. */
export function parseTrainerState(text: string, file: string): TrainerState {
  let raw: unknown;
  try {
    raw = parseJsonText(text, file, 'the trainer state');
  } catch (e) {
    throw new InputError('checkpoint-damaged', `the trainer state is not valid JSON (${e instanceof InputError ? e.detail : 'parse error'})`, {
      file,
      hint: 'The checkpoint is damaged; resume from an earlier one (checkpoints/step-N) or start a new run',
    });
  }
  const bad = (field: string, expected: string): never => {
    throw new InputError('checkpoint-damaged', `"${field}" in the trainer state is not valid`, {
      file,
      expected,
      hint: 'The checkpoint is damaged or was edited; resume from an earlier one (checkpoints/step-N) or start a new run',
    });
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return bad('(top level)', 'a JSON object');
  const o = raw as Record<string, unknown>;
  const step = (k: string): number => asStepNumber(o[k]) ?? bad(k, 'a non-negative integer');
  const num = (k: string, min = 0): number => {
    const v = o[k];
    return typeof v === 'number' && Number.isFinite(v) && v >= min ? v : bad(k, `a finite number >= ${min}`);
  };
  if (o['format_version'] !== 1) bad('format_version', '1');
  const maxSteps = o['max_steps'];
  if (typeof maxSteps !== 'number' || !Number.isSafeInteger(maxSteps) || maxSteps < -1) bad('max_steps', 'an integer >= -1');
  const data = o['data'];
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return bad('data', 'an object with epoch, cursor and order');
  const d = data as Record<string, unknown>;
  const order = d['order'];
  if (!Array.isArray(order)) return bad('data.order', 'a list of example indices');
  const n = order.length;
  for (const i of order) if (asStepNumber(i) === null || (i as number) >= n) bad('data.order', `a permutation of 0..${n - 1}`);
  const epoch = asStepNumber(d['epoch']) ?? bad('data.epoch', 'a non-negative integer');
  const cursor = asStepNumber(d['cursor']);
  if (cursor === null || cursor > n) bad('data.cursor', `an integer from 0 to ${n}`);
  const rng = o['rng'];
  if (!Array.isArray(rng) || rng.length !== 4 || !rng.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= 0xffffffff)) {
    bad('rng', 'four unsigned 32-bit integers');
  }
  if ((rng as number[]).every((w) => w === 0)) bad('rng', 'four unsigned 32-bit integers, not all zero');
  const lastLoss = o['last_loss'];
  if (lastLoss !== null && (typeof lastLoss !== 'number' || !Number.isFinite(lastLoss))) bad('last_loss', 'a finite number or null');
  const seed = o['seed'];
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed)) bad('seed', 'an integer');
  const state: TrainerState = {
    format_version: 1,
    global_step: step('global_step'),
    max_steps: maxSteps as number,
    epoch: num('epoch'),
    data: { epoch, cursor: cursor!, order: order as number[] },
    rng: rng as number[],
    seed: seed as number,
    optimizer_step: step('optimizer_step'),
    total_tokens: num('total_tokens'),
    elapsed_s: num('elapsed_s'),
    last_loss: lastLoss as number | null,
  };
  if (o['scheduler_step'] !== undefined) state.scheduler_step = step('scheduler_step');
  const ls = o['loss_scale'];
  if (ls !== undefined) {
    const l = ls as Record<string, unknown> | null;
    if (typeof l !== 'object' || l === null || typeof l['scale'] !== 'number' || !(l['scale'] > 0) || !Number.isFinite(l['scale']) ||
      typeof l['growthTracker'] !== 'number' || !Number.isSafeInteger(l['growthTracker'])) {
      bad('loss_scale', '{"scale": a positive number, "growthTracker": an integer}');
    }
    state.loss_scale = { scale: l!['scale'] as number, growthTracker: l!['growthTracker'] as number };
  }
  parseBestFields(o, state, bad);
  return state;
}

/** The optional best-checkpoint fields (HF's names); JSON has no infinity, so HF's ±inf start value reads as null. */
function parseBestFields(o: Record<string, unknown>, state: TrainerState, bad: (field: string, expected: string) => never): void {
  if (o['best_metric'] !== undefined) {
    const v = o['best_metric'];
    if (v !== null && (typeof v !== 'number' || Number.isNaN(v))) bad('best_metric', 'a number or null');
    state.best_metric = v as number | null;
  }
  if (o['best_global_step'] !== undefined) state.best_global_step = o['best_global_step'] === null ? null : (asStepNumber(o['best_global_step']) ?? bad('best_global_step', 'a non-negative integer or null'));
  if (o['best_model_checkpoint'] !== undefined) {
    const v = o['best_model_checkpoint'];
    if (v !== null && typeof v !== 'string') bad('best_model_checkpoint', 'a folder path or null');
    state.best_model_checkpoint = v as string | null;
  }
  const cb = o['stateful_callbacks'];
  if (cb !== undefined) {
    const es = (cb as Record<string, unknown> | null)?.['EarlyStoppingCallback'] as Record<string, unknown> | undefined;
    const args = es?.['args'] as Record<string, unknown> | undefined;
    const counter = (es?.['attributes'] as Record<string, unknown> | undefined)?.['early_stopping_patience_counter'];
    const patience = args?.['early_stopping_patience'];
    const threshold = args?.['early_stopping_threshold'];
    if (asStepNumber(counter) === null || typeof patience !== 'number' || typeof threshold !== 'number' || !Number.isFinite(threshold)) {
      bad('stateful_callbacks', '{"EarlyStoppingCallback": {"args": {early_stopping_patience, early_stopping_threshold}, "attributes": {early_stopping_patience_counter}}}');
    }
    state.stateful_callbacks = { EarlyStoppingCallback: { args: { early_stopping_patience: patience as number, early_stopping_threshold: threshold as number }, attributes: { early_stopping_patience_counter: counter as number } } };
  }
}
