// The training loop, one code path for the CLI and the worker: prepare the run, initialise or load LoRA,
// step the engine with the schedule's lr, log/eval/checkpoint, resume exactly, stop cleanly, fail loudly on NaN.
import { basename } from 'node:path';
import { InputError, errorMessage } from '../errors';
import { estimateMemory, type MemoryEstimate } from '../memory/estimate';
import { memoryOptionsFor } from '../memory/recipeEstimate';
import { checkMemoryFits } from '../memory/fit';
import { serializeAdapterConfig } from '../peft/save';
import { copiesMemoryShape } from '../peft/savedModules';
import { Rng } from '../util/random';
import type { DoneEvent, RunEvent, RunInfo, StepEvent } from '../../shared/protocol';
import { SequenceStream, nextStepBatches, totalStepsFor } from './data/stream';
import { defaultDeps } from './deps';
import { RunEvaluation } from './evaluation';
import type { EngineState, TrainEngine } from './engineApi';
import { initExtraParams } from './extraInit';
import { copyInitialValues, initLoraParams, loadAdapterParams, loraFactor } from './loraInit';
import { createRunDir, gitCommit, loadCheckpoint, RunFolder, type LoadedCheckpoint, type TrainerState } from './runFolder';
import { LrSchedule } from './schedule';
import { simulateSlowMachine, waitAtStepGate } from './stepGate';
import { configDir, graphCacheDir, moduleCounts, trainableCount, prepareRun, readRecipeFile, type DownloadProgress, type PreparedRun, type TrainerDeps } from './setup';
import { fsErrorToInput } from '../util/fsErrors';
import { RunMonitor } from './runMonitor';
import { cleanStaleTemp, liveOwner, ownerFields } from '../runs/runOwner';

export interface RunTrainingOptions {
  configFile: string;
  /** A run folder (continues from its latest checkpoint) or a checkpoints/step-N folder. */
  resume?: string;
  device?: string;
  signal?: AbortSignal;
  /** Start again in a run folder that exists but holds no checkpoint (a run killed before its first one). */
  restart?: boolean;
  onEvent: (e: RunEvent) => void;
  /** Collaborators; the real ones by default (tests pass the same real ones, maybe with a smaller engine). */
  deps?: TrainerDeps;
}

/** Raised after the error event has been emitted and recorded, so callers do not report it twice. */
export class TrainingFailed extends Error {
  constructor(override readonly cause: unknown, readonly event: RunEvent) {
    super(errorMessage(cause));
    this.name = 'TrainingFailed';
  }
}

const round = (x: number, digits: number): number => Number(x.toFixed(digits));

export async function runTraining(opts: RunTrainingOptions): Promise<DoneEvent> {
  const deps = opts.deps ?? defaultDeps;
  let folder: RunFolder | null = null;
  let info: RunInfo | null = null;
  let lastGood: string | undefined;
  let currentStep: number | undefined;
  let engine: TrainEngine | null = null;
  let evaluation: RunEvaluation | null = null;
  const emit = (e: RunEvent): void => {
    folder?.appendEvent(e);
    opts.onEvent(e);
  };
  try {
    const recipe = readRecipeFile(opts.configFile);
    let resumed: LoadedCheckpoint | null = null;
    let runDir: string | undefined;
    let skippedCheckpoints: string[] = [];
    if (opts.resume !== undefined) {
      const r = loadCheckpoint(opts.resume);
      resumed = r.checkpoint;
      runDir = r.runDir;
      lastGood = resumed.dir;
      skippedCheckpoints = r.skipped;
      const owner = liveOwner(new RunFolder(runDir).readRunInfoSafe());
      if (owner !== null) {
        throw new InputError('run-busy', `a training process (pid ${owner}) is still running this run`, { file: runDir, hint: 'Stop it first (Stop Training, or kill that process), then resume' });
      }
    }
    // Everything that can be wrong with the inputs fails here, before a run folder exists.
    const prep = await prepareRun(recipe, opts.device, deps, opts.signal, downloadReporter(recipe.base_model, emit));
    const seen = resumed?.trainer.data.order.length;
    if (seen !== undefined && seen !== prep.train.sequences.length) {
      throw new InputError('resume-data-changed', `the training data changed since the checkpoint (${seen} sequences then, ${prep.train.sequences.length} now)`, {
        file: recipe.dataset.train,
        hint: 'An exact resume needs the same data, max_length and packing; start a new run instead',
      });
    }
    evaluation = new RunEvaluation(prep, resumed?.trainer);
    const evals = evaluation;
    const estimate = estimateRun(prep, recipe.training.per_device_train_batch_size);
    if (estimate !== null && prep.device === 'cpu' && process.env['PEFT_STUDIO_SKIP_MEMORY_CHECK'] !== '1') {
      const verdict = checkMemoryFits(estimate, deps.availableMemory());
      if (verdict.level === 'warning') prep.notes.push({ level: 'warning', message: verdict.message });
    }
    for (const message of skippedCheckpoints) prep.notes.push({ level: 'warning', message });
    runDir ??= createRunDir(recipe.output_dir, recipe.run_name, { model: recipe.base_model, r: prep.loraConfig.r }, opts.restart === true);
    for (const p of cleanStaleTemp(runDir)) prep.notes.push({ level: 'info', message: `removed ${p}, left by an interrupted write` });
    folder = new RunFolder(runDir);
    const spec = prep.inventory.spec;
    const adapterConfigJson = serializeAdapterConfig({ ...prep.loraConfig, target_modules: prep.targetModules }, recipe.base_model, {
      // What PeftModel.save_pretrained writes when task_type is null.
      autoMapping: { base_model_class: spec.architectures[0] ?? 'AutoModelForCausalLM', parent_library: `transformers.models.${spec.modelType}.modeling_${spec.modelType}` },
    });
    const t = recipe.training;
    const microBatch = t.per_device_train_batch_size;
    const plan = { microBatchSize: microBatch, accumulation: t.gradient_accumulation_steps, padTokenId: prep.tokenizer.padTokenId ?? prep.tokenizer.eosTokenId ?? 0 };
    const totalSteps = totalStepsFor(prep.train.sequences.length, microBatch * t.gradient_accumulation_steps, t.max_steps, t.num_train_epochs);
    const schedule = new LrSchedule({ type: t.lr_scheduler_type, learningRate: t.learning_rate, totalSteps, warmupSteps: t.warmup_steps, warmupRatio: t.warmup_ratio });
    const startedAt = new Date().toISOString();
    const previous = folder.readRunInfo();
    info = {
      name: previous?.name ?? runDir.split(/[\\/]/).pop()!,
      status: 'running',
      config_file: recipe.file,
      recipe,
      adapter_config: JSON.parse(adapterConfigJson) as unknown,
      base_model: recipe.base_model,
      device: prep.device,
      started_at: previous?.started_at ?? startedAt,
      max_steps: totalSteps,
      ...ownerFields(),
    };
    const commit = gitCommit(configDir(recipe));
    if (commit !== undefined) info.git_commit = commit;
    folder.writeRunInfo(info);

    const eng = await deps.createEngine({
      inventory: prep.inventory,
      targets: prep.targets,
      copies: prep.copies,
      loraDropout: prep.loraConfig.lora_dropout,
      optimizer: { beta1: t.adam_beta1, beta2: t.adam_beta2, eps: t.adam_epsilon, weightDecay: t.weight_decay, maxGradNorm: t.max_grad_norm },
      device: prep.device,
      precision: t.fp16 && prep.device !== 'cpu' ? 'fp16' : 'fp32',
      cacheDir: graphCacheDir(recipe),
      quantization: recipe.quantization,
      maxBatchSize: microBatch,
      maxSeqLen: recipe.dataset.max_length,
      dora: prep.loraConfig.use_dora,
      biases: prep.biases,
      loraBias: prep.loraConfig.lora_bias,
    });
    engine = eng;
    evals.attach(graphCacheDir(recipe), adapterConfigJson);
    await eng.setState(resumed !== null ? checkResumeState(resumed, eng) : await initialState(eng, prep));

    // As print_trainable_parameters: A, B, DoRA magnitudes, lora_B biases, modules_to_save copies and token deltas
    // are new parameters (they add to the total); trained base biases are the base's own.
    const variants = { dora: prep.loraConfig.use_dora, loraBias: prep.loraConfig.lora_bias, biases: prep.biases };
    const trainable = trainableCount(prep.targets, prep.copies, variants);
    const added = trainable - prep.biases.reduce((s, b) => s + b.shape.reduce((x, y) => x * y, 1), 0);
    emit({
      event: 'start',
      run_dir: runDir,
      run_name: info.name,
      trainable,
      total: prep.inventory.totalParameters + added,
      device: prep.device,
      device_reason: prep.deviceReason,
      base_model: recipe.base_model,
      max_steps: totalSteps,
      modules: moduleCounts(prep.targets, prep.copies, variants),
      ...(estimate !== null ? { memory_estimate_bytes: estimate.totalBytes } : {}),
      ...(resumed !== null ? { resumed_from_step: resumed.trainer.global_step } : {}),
      time: startedAt,
    });
    for (const n of prep.notes) emit({ event: 'log', ...n });

    const ts = resumed?.trainer;
    const stream = new SequenceStream(prep.train.sequences.length, recipe.dataset.shuffle, t.seed, ts?.data);
    const dropoutRng = ts !== undefined ? Rng.fromState(ts.rng) : new Rng(t.seed + 1);
    let totalTokens = ts?.total_tokens ?? 0;
    let lastLoss: number | null = ts?.last_loss ?? null;
    const elapsedBefore = ts?.elapsed_s ?? 0;
    const t0 = performance.now();
    const elapsed = (): number => elapsedBefore + (performance.now() - t0) / 1000;
    let window = { time: elapsed(), tokens: totalTokens };
    let step = ts?.global_step ?? 0;
    // Steps the LR scheduler has taken: as the HF Trainer, a step that the fp16 loss scaler skipped does not
    // advance the schedule (`if not optimizer_step_was_skipped: lr_scheduler.step()`); equal to `step` in fp32.
    let scheduled = ts?.scheduler_step ?? ts?.global_step ?? 0;
    const trainerState = (): TrainerState => ({
      format_version: 1,
      global_step: step,
      max_steps: totalSteps,
      epoch: round(stream.epochsDone, 6),
      data: stream.getState(),
      rng: dropoutRng.getState(),
      seed: t.seed,
      optimizer_step: step,
      scheduler_step: scheduled,
      total_tokens: totalTokens,
      elapsed_s: elapsed(),
      last_loss: lastLoss,
    });
    const checkpoint = async (): Promise<void> => {
      const state = await eng.getState();
      // The engine's count and fp16 loss scale: a skipped fp16 step does not advance AdamW (GradScaler).
      const best = evals.checkpointFields(step, runDir!);
      const saved = { ...trainerState(), optimizer_step: state.step, ...(state.lossScale !== undefined ? { loss_scale: state.lossScale } : {}), ...best.state };
      lastGood = folder!.writeCheckpoint(state, saved, adapterConfigJson);
      emit({ event: 'checkpoint', step, path: lastGood, ...best.event });
    };
    /** True when early stopping ends the run at this evaluation. */
    const evaluate = async (): Promise<boolean> => (evals.active ? evals.evaluate(step, eng, plan.padTokenId, emit) : false);

    let stopped = false;
    if (resumed !== null && step >= totalSteps) {
      emit({ event: 'log', level: 'info', message: `the run was already complete at step ${step} of ${totalSteps}: nothing to resume (the adapter is rewritten from the last checkpoint)` });
    }
    const runName = basename(runDir);
    const monitor = new RunMonitor({ recipeFile: recipe.file, device: prep.device, maxGradNorm: t.max_grad_norm, emit });
    while (step < totalSteps) {
      await waitAtStepGate(runName, step + 1, opts.signal);
      if (opts.signal?.aborted === true) {
        stopped = true;
        break;
      }
      const next = step + 1;
      currentStep = next;
      const { batches } = nextStepBatches(stream, prep.train.sequences, plan);
      const lr = schedule.lrAt(scheduled + 1);
      const stepStart = performance.now();
      const res = await eng.step(batches, lr, dropoutRng.nextUint32());
      await simulateSlowMachine(performance.now() - stepStart, opts.signal);
      if (!Number.isFinite(res.loss) || (res.skipped !== true && !Number.isFinite(res.gradNorm))) {
        monitor.nonFinite({ step: next, loss: res.loss, grad_norm: res.gradNorm, lr });
        const what = !Number.isFinite(res.loss) ? `the loss is ${res.loss}` : `the gradient norm is ${res.gradNorm}`;
        throw new InputError('non-finite', `training diverged at step ${next}: ${what} (lr ${lr})`, {
          hint: `Try a lower training.learning_rate, enable clipping with training.max_grad_norm (e.g. 1.0), and check the data${lastGood !== undefined ? `; the last good checkpoint is kept at ${lastGood}` : ''}`,
        });
      }
      step = next;
      if (res.skipped !== true) scheduled++;
      lastLoss = res.loss;
      totalTokens += res.inputTokens;
      if (step % t.logging_steps === 0 || step === totalSteps) {
        const now = elapsed();
        const rate = now > window.time ? (totalTokens - window.tokens) / (now - window.time) : 0;
        const perStep = (now - elapsedBefore) / (step - (ts?.global_step ?? 0));
        const rec: StepEvent = {
          event: 'step',
          step,
          epoch: round(stream.epochsDone, 4),
          loss: res.loss,
          lr,
          grad_norm: res.gradNorm,
          tokens: totalTokens,
          tokens_per_s: round(rate, 1),
          elapsed_s: round(now, 3),
          eta_s: round(perStep * (totalSteps - step), 1),
          rss_bytes: process.memoryUsage.rss(),
          ...(res.lossScale !== undefined ? { loss_scale: res.lossScale, ...(res.skipped === true ? { skipped: true } : {}) } : {}),
        };
        emit(rec);
        monitor.afterStep(rec, now, step === totalSteps);
        window =  { time: now, tokens: totalTokens };
      }
      const stopEarly = t.eval_steps > 0 && step % t.eval_steps === 0 && (await evaluate());
      if (t.save_steps > 0 && step % t.save_steps === 0 && step < totalSteps) await checkpoint();
      if (stopEarly) break;
    }
    currentStep = undefined;
    if (!stopped && !evals.earlyStopped && (t.eval_steps === 0 || step % t.eval_steps !== 0)) await evaluate();
    if (!(lastGood !== undefined && lastGood.endsWith(`step-${step}`))) await checkpoint();
    const adapterDir = folder.writeAdapter(evals.finalState(await eng.getState(), emit), adapterConfigJson);
    info = { ...info, status: stopped ? 'stopped' : 'completed', finished_at: new Date().toISOString(), last_step: step };
    folder.writeRunInfo(info);
    const done: DoneEvent = { event: 'done', run_dir: runDir, adapter_dir: adapterDir, final_loss: lastLoss ?? Number.NaN };
    if (stopped) done.stopped = true;
    Object.assign(done, evals.doneFields());
    emit(done);
    return done;
  } catch (caught) {
    const e = fsErrorToInput(caught);
    const ev: RunEvent = { event: 'error', message: errorMessage(e) };
    if (currentStep !== undefined) ev.step = currentStep;
    if (lastGood !== undefined) ev.checkpoint = lastGood;
    try {
      emit(ev);
      if (folder !== null && info !== null) {
        folder.writeRunInfo({ ...info, status: 'failed', finished_at: new Date().toISOString(), error: ev.message, ...(currentStep !== undefined ? { last_step: currentStep - 1 } : {}) });
      }
    } catch {
      // The original error matters more than a failure to record it.
    }
    throw new TrainingFailed(e, ev);
  } finally {
    await evaluation?.dispose();
    await engine?.dispose();
  }
}

/** The estimator's peak for this run (core/memory/recipeEstimate.ts's inputs: longest row of train and eval, micro-batch). */
function estimateRun(prep: PreparedRun, microBatch: number): MemoryEstimate | null {
  try {
    const rows = [...prep.train.sequences, ...(prep.eval?.sequences ?? [])];
    const seqLen = rows.reduce((m, q) => Math.max(m, q.inputIds.length), 1);
    const t = prep.recipe.training;
    const shape = { batchSize: microBatch, gradAccum: t.gradient_accumulation_steps, fp16: t.fp16, withEval: prep.eval !== null, seqLen, quantization: prep.recipe.quantization };
    const variants = { inventory: prep.inventory, targets: prep.targets, useDora: prep.loraConfig.use_dora, bias: prep.loraConfig.bias, loraBias: prep.loraConfig.lora_bias };
    const copies = copiesMemoryShape(prep.copies, prep.inventory);
    return estimateMemory(prep.inventory, prep.targets, { ...memoryOptionsFor(shape, prep.device, prep.loraConfig.lora_dropout, variants), ...(copies !== undefined ? { copies } : {}) });
  } catch {
    // The estimate is advice: a model shape it does not know must not stop training.
    return null;
  }
}

/** Fresh LoRA weights (PEFT init from the seed) or init_adapter's, with zero moments. */
async function initialState(engine: TrainEngine, prep: PreparedRun): Promise<EngineState> {
  const current = await engine.getState();
  const names = engine.parameterNames;
  const copyKeys = new Set(prep.copies.map((c) => c.key));
  const loraNames = names.filter((n) => loraFactor(n) !== 'other');
  const params =
    prep.recipe.init_adapter !== null
      ? loadAdapterParams(prep.recipe.init_adapter, [...loraNames, ...names.filter((n) => copyKeys.has(n))], current.shapes)
      : new Map([
        ...initLoraParams(loraNames, current.shapes, prep.loraConfig.init_lora_weights, new Rng(prep.recipe.training.seed)),
        ...copyInitialValues(prep.modelDir, prep.copies),
      ]);
  initExtraParams(params, { inventory: prep.inventory, targets: prep.targets, dora: prep.loraConfig.use_dora, biases: prep.biases, initAdapter: prep.recipe.init_adapter, loraBias: prep.loraConfig.lora_bias });
  const zeros = (): Map<string, Float32Array> => new Map(names.map((n) => [n, new Float32Array(params.get(n)!.length)]));
  return { params, shapes: current.shapes, expAvg: zeros(), expAvgSq: zeros(), step: 0 };
}

/** A checkpoint's tensors must be exactly the engine's (same adapter config as the run that wrote it). */
function checkResumeState(ck: LoadedCheckpoint, engine: TrainEngine): EngineState {
  for (const name of engine.parameterNames) {
    if (!ck.state.params.has(name)) {
      throw new InputError('resume-mismatch', 'the checkpoint has no tensor for this LoRA module', {
        file: ck.dir,
        tensor: name,
        hint: 'Resume with the same adapter_config.json the run was started with',
      });
    }
  }
  if (ck.state.params.size !== engine.parameterNames.length) {
    throw new InputError('resume-mismatch', 'the checkpoint has LoRA tensors the adapter config does not target', { file: ck.dir });
  }
  return ck.state;
}

/**
 * Turns hub download progress into `log` events (before a run folder exists they reach the CLI and the editor
 * only): one when a file starts, then at most one every 2 s, and one when it completes.
 */
export function downloadReporter(model: string, emit: (e: RunEvent) => void, now: () => number = () => performance.now()): (p: DownloadProgress) => void {
  const last = new Map<string, number>();
  const mib = (n: number): string => (n / 2 ** 20).toFixed(1);
  return (p) => {
    const t = now();
    const done = p.total !== null && p.bytes >= p.total;
    const prev = last.get(p.file);
    if (prev !== undefined && !done && t - prev < 2000) return;
    if (prev === Infinity) return;
    last.set(p.file, done ? Infinity : t);
    const of = p.total !== null ? ` / ${mib(p.total)} MiB (${p.total > 0 ? Math.floor((100 * p.bytes) / p.total) : 100}%)` : '';
    emit({ event: 'log', level: 'info', message: `downloading ${model}: ${p.file} ${mib(p.bytes)} MiB${of}` });
  };
}
