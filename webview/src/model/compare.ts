// What Compare Runs shows besides the curves: the hyperparameters that differ between the runs (from each run.json's
// resolved recipe and adapter config), each run's best eval loss, and whether the runs share a base model. Pure.
import type { RunView } from '../../../src/shared/dashboard';

export interface ParamRow {
  /** Dotted key: `training.learning_rate`, `dataset.max_length`, `lora.r`. */
  key: string;
  /** One cell per run, as text ("–" when the run has no such key). */
  values: string[];
}

export interface BestEval {
  loss: number;
  step: number;
}

export interface CompareFacts {
  /** Only the keys whose values differ between the runs, recipe keys first, then the LoRA config's. */
  params: ParamRow[];
  /** Per run: its lowest eval loss and the step, undefined when it never evaluated. */
  best: (BestEval | undefined)[];
  /** Index of the run with the lowest best eval loss (undefined when none evaluated). */
  winner: number | undefined;
  /** The distinct base models, in run order; more than one earns a warning. */
  baseModels: string[];
}

/** Keys that name the run or its files rather than how it trains. */
const IGNORED = new Set(['run_name', 'output_dir', 'adapter_config', 'lora.base_model_name_or_path', 'lora.peft_version', 'lora.revision', 'lora.auto_mapping', 'lora.inference_mode']);

/** Leaves of a JSON object by dotted key; arrays and empty objects are leaves (compared as JSON). */
export function flatten(value: unknown, prefix = '', out = new Map<string, unknown>()): Map<string, unknown> {
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length > 0) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix === '' ? k : `${prefix}.${k}`, out);
  } else if (prefix !== '') {
    out.set(prefix, value);
  }
  return out;
}

function settings(run: RunView): Map<string, unknown> {
  const m = flatten(run.info?.recipe ?? {});
  for (const [k, v] of flatten(run.info?.adapter_config ?? {})) m.set(`lora.${k}`, v);
  return m;
}

const text = (v: unknown): string => (v === undefined ? '–' : typeof v === 'string' ? v : JSON.stringify(v));

export function bestEval(run: RunView): BestEval | undefined {
  let best: BestEval | undefined;
  for (const e of run.evals) if (Number.isFinite(e.eval_loss) && (best === undefined || e.eval_loss < best.loss)) best = { loss: e.eval_loss, step: e.step };
  return best;
}

export function compareFacts(runs: readonly RunView[]): CompareFacts {
  const all = runs.map(settings);
  const keys: string[] = [];
  for (const m of all) for (const k of m.keys()) if (!keys.includes(k)) keys.push(k);
  const params: ParamRow[] = [];
  for (const key of keys) {
    if (IGNORED.has(key)) continue;
    const values = all.map((m) => text(m.get(key)));
    if (new Set(values).size > 1) params.push({ key, values });
  }
  params.sort((a, b) => Number(a.key.startsWith('lora.')) - Number(b.key.startsWith('lora.')));
  const best = runs.map(bestEval);
  let winner: number | undefined;
  best.forEach((b, i) => {
    const w = winner === undefined ? undefined : best[winner];
    if (b !== undefined && (w === undefined || b.loss < w.loss)) winner = i;
  });
  const baseModels: string[] = [];
  for (const r of runs) {
    const m = r.info?.base_model ?? r.start?.base_model;
    if (m !== undefined && m !== '' && !baseModels.includes(m)) baseModels.push(m);
  }
  return { params, best, winner, baseModels };
}
