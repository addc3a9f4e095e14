// The best checkpoint and early stopping with the HF Trainer's rules, as pure functions over a scripted metric
// sequence: Trainer._determine_best_metric / _save_checkpoint and EarlyStoppingCallback (transformers 4.5x).

/** The recipe settings these rules read (training.*, names of HF TrainingArguments / EarlyStoppingCallback). */
export interface BestModelArgs {
  load_best_model_at_end: boolean;
  metric_for_best_model: string | null;
  greater_is_better: boolean | null;
  early_stopping_patience: number | null;
  early_stopping_threshold: number;
  eval_steps: number;
  save_steps: number;
}

/** The resolved rule: which metric (always `eval_…`), its direction, and early stopping. */
export interface BestModelRule {
  /** `eval_loss`, `eval_perplexity`, `eval_exact_match`, `eval_contains`; null = nothing tracked. */
  metric: string | null;
  greaterIsBetter: boolean;
  loadBestAtEnd: boolean;
  patience: number | null;
  threshold: number;
}

/** What trainer_state.json carries about it (TrainerState's fields, plus EarlyStoppingCallback's counter). */
export interface BestModelState {
  best_metric: number | null;
  best_global_step: number | null;
  best_model_checkpoint: string | null;
  early_stopping_patience_counter: number;
}

export const initialBestState = (): BestModelState => ({ best_metric: null, best_global_step: null, best_model_checkpoint: null, early_stopping_patience_counter: 0 });

/** HF's prefixing: `loss` → `eval_loss` (metric_to_check in _determine_best_metric and EarlyStoppingCallback). */
export function metricKey(name: string): string {
  return name.startsWith('eval_') ? name : `eval_${name}`;
}

/**
 * TrainingArguments.__post_init__: metric_for_best_model defaults to "loss" under load_best_model_at_end, and
 * greater_is_better to `not metric.endswith("loss")`. One deviation: perplexity is lower-is-better too (HF's
 * suffix rule would make it greater-is-better, which would pick the worst checkpoint).
 */
export function resolveBestModel(a: BestModelArgs): BestModelRule {
  const name = a.metric_for_best_model ?? (a.load_best_model_at_end ? 'loss' : null);
  const metric = name === null ? null : metricKey(name);
  const lowerIsBetter = metric !== null && (metric.endsWith('loss') || metric === 'eval_perplexity');
  return {
    metric,
    greaterIsBetter: a.greater_is_better ?? (metric !== null && !lowerIsBetter),
    loadBestAtEnd: a.load_best_model_at_end,
    patience: a.early_stopping_patience,
    threshold: a.early_stopping_threshold,
  };
}

export interface EvaluateOutcome {
  state: BestModelState;
  /** This evaluation set a new best metric (the checkpoint of this step, when one is written, is the best). */
  newBest: boolean;
  /** EarlyStoppingCallback asked to stop training. */
  stop: boolean;
}

/**
 * One evaluation with its metrics (`eval_loss`, …). As in HF, EarlyStoppingCallback.on_evaluate runs first
 * (inside Trainer.evaluate), against the best metric *before* this evaluation; then _determine_best_metric
 * updates best_metric / best_global_step with a strict comparison (a tie is not a new best; NaN never is).
 */
export function onEvaluate(rule: BestModelRule, state: BestModelState, step: number, metrics: Readonly<Record<string, number>>): EvaluateOutcome {
  const next = { ...state };
  if (rule.metric === null) return { state: next, newBest: false, stop: false };
  const value = metrics[rule.metric];
  if (value === undefined) return { state: next, newBest: false, stop: false };
  const better = (x: number, y: number): boolean => (rule.greaterIsBetter ? x > y : x < y);
  let stop = false;
  if (rule.patience !== null) {
    // EarlyStoppingCallback.check_metric_value
    const improved = next.best_metric === null || (better(value, next.best_metric) && Math.abs(value - next.best_metric) > rule.threshold);
    next.early_stopping_patience_counter = improved ? 0 : next.early_stopping_patience_counter + 1;
    stop = next.early_stopping_patience_counter >= rule.patience;
  }
  // Trainer._determine_best_metric: best_metric starts at ∓inf
  const best = next.best_metric ?? (rule.greaterIsBetter ? -Infinity : Infinity);
  let newBest = false;
  if (better(value, best)) {
    next.best_metric = value;
    next.best_global_step = step;
    newBest = true;
  } else if (next.best_metric === null) {
    next.best_metric = best;
  }
  return { state: next, newBest, stop };
}

/**
 * Trainer._save_checkpoint: after the checkpoint of `step` is written, best_model_checkpoint becomes the checkpoint
 * of best_global_step when that folder exists (the best evaluation may have had no checkpoint of its own).
 */
export function onCheckpoint(state: BestModelState, step: number, checkpointDir: (step: number) => string, exists: (dir: string) => boolean): BestModelState {
  if (state.best_global_step === null) return { ...state };
  const dir = checkpointDir(state.best_global_step);
  return state.best_global_step === step || exists(dir) ? { ...state, best_model_checkpoint: dir } : { ...state };
}

/** A cross-field problem of the recipe: the key at fault and a sentence saying what to do. */
export interface RecipeRuleProblem {
  path: string;
  message: string;
}

/**
 * The rules TrainingArguments and EarlyStoppingCallback enforce, for the recipe parser and the editor's validator:
 * load_best_model_at_end needs periodic evaluation and save_steps a round multiple of eval_steps; early stopping
 * needs load_best_model_at_end; the metric must be one the evaluation produces. `expected` is whether some eval
 * prompt has an expected answer (null: not known, e.g. a JSONL file the validator does not read).
 */
export function bestModelProblems(a: BestModelArgs, have: { evalData: boolean; evalPrompts: boolean; expected: boolean | null }): RecipeRuleProblem[] {
  const out: RecipeRuleProblem[] = [];
  if (a.load_best_model_at_end) {
    if (a.eval_steps <= 0) {
      out.push({ path: 'training.load_best_model_at_end', message: 'load_best_model_at_end needs periodic evaluation: set training.eval_steps > 0 and training.save_steps to a round multiple of it' });
    } else if (a.save_steps <= 0 || a.save_steps % a.eval_steps !== 0) {
      out.push({
        path: 'training.save_steps',
        message: `load_best_model_at_end requires the saving steps to be a round multiple of the evaluation steps, but training.save_steps is ${a.save_steps} and training.eval_steps is ${a.eval_steps} (e.g. save_steps: ${a.eval_steps})`,
      });
    }
  }
  if (a.early_stopping_patience !== null && !a.load_best_model_at_end) {
    out.push({ path: 'training.early_stopping_patience', message: 'early stopping requires training.load_best_model_at_end: true (as transformers\' EarlyStoppingCallback)' });
  }
  const rule = resolveBestModel(a);
  if (rule.metric !== null) {
    const at = a.metric_for_best_model !== null ? 'training.metric_for_best_model' : 'training.load_best_model_at_end';
    const name = a.metric_for_best_model ?? 'loss';
    if ((rule.metric === 'eval_loss' || rule.metric === 'eval_perplexity') && !have.evalData) {
      out.push({ path: at, message: `metric_for_best_model "${name}" is computed on dataset.eval, which is not set: add an evaluation data set or choose exact_match / contains with dataset.eval_prompts` });
    }
    if ((rule.metric === 'eval_exact_match' || rule.metric === 'eval_contains') && (!have.evalPrompts || have.expected === false)) {
      out.push({ path: at, message: `metric_for_best_model "${name}" scores dataset.eval_prompts against their expected answers: give eval_prompts with "expected"` });
    }
  }
  return out;
}
