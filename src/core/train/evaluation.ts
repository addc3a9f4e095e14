// One evaluation of a run: eval loss and perplexity on dataset.eval, the eval prompts' answers, then the HF rules for
// the best checkpoint and early stopping (bestModel.ts); also what checkpoints and the final adapter record of it.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../errors';
import type { CheckpointEvent, DoneEvent, RunEvent } from '../../shared/protocol';
import { collate } from './data/collate';
import type { EngineState, TrainEngine } from './engineApi';
import { bestModelProblems, initialBestState, onCheckpoint, onEvaluate, resolveBestModel, type BestModelRule, type BestModelState } from './bestModel';
import { EvalPromptRunner, loadEvalPrompts, type EvalPrompt } from './evalPrompts';
import { loadAdapterParams } from './loraInit';
import type { PreparedRun } from './setup';
import type { TrainerState } from './trainerState';

export class RunEvaluation {
  readonly rule: BestModelRule;
  private best: BestModelState;
  private runner: EvalPromptRunner | null = null;
  private readonly prompts: EvalPrompt[];
  /** Early stopping asked the run to end. */
  earlyStopped = false;

  /** Reads the eval prompts and checks the rules against what the evaluation will produce (before a run folder exists). */
  constructor(private readonly prep: PreparedRun, resumed: TrainerState | undefined) {
    const r = prep.recipe;
    this.prompts = loadEvalPrompts(r.dataset.eval_prompts, r.file);
    const problems = bestModelProblems(r.training, { evalData: prep.eval !== null, evalPrompts: this.prompts.length > 0, expected: this.prompts.some((p) => p.expected !== undefined) });
    if (problems.length > 0) throw new InputError('recipe-value', problems[0]!.message, { file: r.file });
    if (this.prompts.length > 0 && !existsSync(join(prep.modelDir, 'tokenizer.json'))) {
      throw new InputError('recipe-value', 'dataset.eval_prompts needs the model\'s tokenizer (tokenizer.json) to turn the prompts into tokens and the answers into text', { file: prep.modelDir });
    }
    this.rule = resolveBestModel(r.training);
    this.best = initialBestState();
    if (resumed !== undefined) {
      this.best = {
        best_metric: resumed.best_metric ?? null,
        best_global_step: resumed.best_global_step ?? null,
        best_model_checkpoint: resumed.best_model_checkpoint ?? null,
        early_stopping_patience_counter: resumed.stateful_callbacks?.EarlyStoppingCallback.attributes.early_stopping_patience_counter ?? 0,
      };
    }
  }

  /** Whether an evaluation produces anything (an eval data set or eval prompts). */
  get active(): boolean {
    return this.prep.eval !== null || this.prompts.length > 0;
  }

  /** Opens the eval-prompt answering (the Generator opens at the first evaluation). */
  attach(cacheDir: string, adapterConfigJson: string): void {
    if (this.prompts.length === 0) return;
    const t = this.prep.recipe.training;
    this.runner = new EvalPromptRunner({
      modelDir: this.prep.modelDir, device: this.prep.device, cacheDir, targets: this.prep.targets, prompts: this.prompts,
      format: this.prep.train.format, maxNewTokens: t.eval_max_new_tokens, adapterConfigJson, quantization: this.prep.recipe.quantization,
    });
  }

  /** Evaluates at `step`, emitting `eval` and `eval_generation`; true when early stopping ends the run here. */
  async evaluate(step: number, engine: TrainEngine, padTokenId: number, emit: (e: RunEvent) => void): Promise<boolean> {
    const metrics: Record<string, number> = {};
    if (this.prep.eval !== null) {
      const loss = await evalLoss(engine, this.prep, this.prep.recipe.training.per_device_train_batch_size, padTokenId);
      metrics['eval_loss'] = loss;
      metrics['eval_perplexity'] = Math.exp(loss);
      emit({ event: 'eval', step, eval_loss: loss, eval_perplexity: metrics['eval_perplexity'] });
    }
    if (this.runner !== null) {
      const ev = await this.runner.run(step, await engine.getState());
      if (ev.exact_match !== undefined) metrics['eval_exact_match'] = ev.exact_match;
      if (ev.contains !== undefined) metrics['eval_contains'] = ev.contains;
      emit(ev);
    }
    const out = onEvaluate(this.rule, this.best, step, metrics);
    this.best = out.state;
    if (out.stop) {
      this.earlyStopped = true;
      emit({ event: 'log', level: 'info', message: `early stopping at step ${step}: ${this.rule.metric} did not improve by more than ${this.rule.threshold} in ${this.rule.patience} evaluation(s) (best ${this.best.best_metric} at step ${this.best.best_global_step})` });
    }
    return out.stop;
  }

  /** Before the checkpoint of `step` is written: trainer_state.json's best fields (HF's _save_checkpoint), and the event's. */
  checkpointFields(step: number, runDir: string): { state: Partial<TrainerState>; event: Partial<CheckpointEvent> } {
    if (this.rule.metric === null) return { state: {}, event: {} };
    this.best = onCheckpoint(this.best, step, (s) => join(runDir, 'checkpoints', `step-${s}`), existsSync);
    const b = this.best;
    const state: Partial<TrainerState> = {
      best_metric: b.best_metric !== null && Number.isFinite(b.best_metric) ? b.best_metric : null,
      best_global_step: b.best_global_step,
      best_model_checkpoint: b.best_model_checkpoint,
    };
    if (this.rule.patience !== null) {
      state.stateful_callbacks = { EarlyStoppingCallback: { args: { early_stopping_patience: this.rule.patience, early_stopping_threshold: this.rule.threshold }, attributes: { early_stopping_patience_counter: b.early_stopping_patience_counter } } };
    }
    return { state, event: b.best_model_checkpoint !== null ? { best_model_checkpoint: b.best_model_checkpoint } : {} };
  }

  /** The state whose LoRA tensors become the final adapter: the best checkpoint's with load_best_model_at_end (HF's _load_best_model). */
  finalState(state: EngineState, emit: (e: RunEvent) => void): EngineState {
    const dir = this.best.best_model_checkpoint;
    if (!this.rule.loadBestAtEnd || dir === null || !existsSync(dir)) return state;
    emit({ event: 'log', level: 'info', message: `load_best_model_at_end: the adapter is the best checkpoint ${dir} (${this.rule.metric} ${this.best.best_metric})` });
    return { ...state, params: loadAdapterParams(dir, [...state.params.keys()], state.shapes) };
  }

  /** The done record's fields about the best checkpoint and early stopping. */
  doneFields(): Partial<DoneEvent> {
    const b = this.best;
    return {
      ...(this.earlyStopped ? { early_stopped: true } : {}),
      ...(b.best_model_checkpoint !== null ? { best_model_checkpoint: b.best_model_checkpoint } : {}),
      ...(b.best_model_checkpoint !== null && b.best_metric !== null && Number.isFinite(b.best_metric) ? { best_metric: b.best_metric } : {}),
    };
  }

  async dispose(): Promise<void> {
    await this.runner?.dispose();
  }
}

/** Mean loss over every label token of the eval set (micro-batches in file order). */
async function evalLoss(engine: TrainEngine, prep: PreparedRun, batchSize: number, padTokenId: number): Promise<number> {
  const seqs = prep.eval!.sequences;
  let sum = 0;
  let count = 0;
  for (let i = 0; i < seqs.length; i += batchSize) {
    const r = await engine.evalLoss(collate(seqs.slice(i, i + batchSize), padTokenId));
    sum += r.lossSum;
    count += r.labelTokens;
  }
  return count > 0 ? sum / count : Number.NaN;
}
