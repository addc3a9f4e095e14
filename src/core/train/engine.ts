// The training engine (engineApi.ts TrainEngine): compiles the model's step/grad/apply/eval graphs once (cached on
// disk beside hard links to the weights), opens onnxruntime sessions lazily, and runs one optimizer step per call.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as ort from 'onnxruntime-node';
import { InputError, PeftStudioError, errorMessage } from '../errors';
import { type Graph, writeOnnx } from '../graph';
import {
  INPUT, type FloatDtype, type HostFeed, attentionBias, checkBatch, checkInputIds, countInputTokens, countLabelTokens,
  dropoutMasks, labelRows, positionFeed,
} from '../models/feeds';
import { magnitudeKey } from '../models/dora';
import { loraBiasKey, targetKeys } from '../models/lora';
import { GRAD_SCALER, LOSS_SCALE_INPUT, type LossScaleState, SCALAR_INPUT, adamwScalars, isSkippedNorm, updateLossScale } from '../models/optimizerFeeds';
import { OUTPUT, buildApplyGraph, buildEvalGraph, buildGradGraph, buildReadBackGraph, buildStepGraph, gradName, type ModelGraphOptions } from '../models/stepGraph';
import { DeviceState } from '../runtime/deviceState';
import { Rng } from '../util/random';
import { expAvgName, expAvgSqName, newName } from './adamw';
import type { Batch, EngineOptions, EngineState, StepResult, TrainEngine } from './engineApi';
import { type GraphFolder, cacheKey, graphPath, prepareGraphFolder } from './graphCache';
import { usePrepacking } from '../runtime/prepacking';
import { type QuantizedBase, ensureQuantizedBase } from '../quant/quantCache';
export { ortTuning, usePrepacking } from '../runtime/prepacking';

type Kind = 'step' | 'grad' | 'apply' | 'eval' | 'readBack';

function toTensor(f: HostFeed, dtype: FloatDtype): ort.Tensor {
  if (f.data instanceof BigInt64Array) return new ort.Tensor('int64', f.data, f.dims);
  return new ort.Tensor(dtype === 'float64' ? 'float64' : 'float32', f.data, f.dims);
}

/** `hostState`: bring the state back to the CPU after every WebGPU step (for measuring what keeping it there saves). */
export const engineTuning: { hostState: boolean } = { hostState: false };

/** ORT session options: all cores, full graph optimisation, no memory pattern, prepacking per `usePrepacking`. */
export function sessionOptions(
  opts: Pick<EngineOptions, 'device' | 'threads' | 'inventory'>,
  outputLocations: Record<string, ort.Tensor.DataLocation> = {},
): ort.InferenceSession.SessionOptions {
  return {
    ...(Object.keys(outputLocations).length > 0 ? { preferredOutputLocation: outputLocations } : {}),
    executionProviders: [opts.device],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: opts.threads ?? os.availableParallelism(),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    // ORT's memory pattern allocates the whole activation plan as one block from the second run on while its
    // arena keeps the first run's chunks: activations held twice (bench/train.bench.ts: peak 1508 → 941 MiB on
    // the 32M bench model with it off, at the same tokens/s). WebGPU turns it off by itself.
    enableMemPattern: false,
    logSeverityLevel: 3,
    extra: { session: { disable_prepacking: usePrepacking(opts.inventory) ? '0' : '1' } },
  };
}

const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** PEFT's default init (init_lora_weights=true): A ~ kaiming_uniform(a=√5) = U(±1/√in), B = 0; seeded. */
function defaultState(params: EngineParam[]): EngineState {
  const rng = new Rng(0);
  const state: EngineState = { params: new Map(), shapes: new Map(), expAvg: new Map(), expAvgSq: new Map(), step: 0 };
  for (const p of params) {
    const n = numel(p.shape);
    const v = new Float32Array(n);
    if (p.key.endsWith('.lora_A.weight')) {
      const bound = 1 / Math.sqrt(p.shape[1]!);
      rng.fillUniform(v, -bound, bound);
    }
    state.params.set(p.key, v);
    state.shapes.set(p.key, [...p.shape]);
    state.expAvg.set(p.key, new Float32Array(n));
    state.expAvgSq.set(p.key, new Float32Array(n));
  }
  return state;
}

class OrtEngine implements TrainEngine {
  readonly parameterNames: readonly string[];
  readonly device: EngineOptions['device'];
  private readonly state: DeviceState;
  private readonly sessions = new Map<Kind, Promise<ort.InferenceSession>>();
  private readonly dtype: FloatDtype = 'float32';
  private readonly fp16: boolean;
  private lossScale: LossScaleState = { scale: GRAD_SCALER.initScale, growthTracker: 0 };

  constructor(
    private readonly opts: EngineOptions,
    private readonly folder: GraphFolder,
    private readonly params: EngineParam[],
    private readonly quant: QuantizedBase | undefined,
  ) {
    this.parameterNames = params.map((p) => p.key);
    this.device = opts.device;
    this.fp16 = opts.precision === 'fp16';
    // Only the WebGPU EP can leave outputs on the device in Node (CUDA outputs always come back: docs/ONNXRUNTIME.md).
    this.state = new DeviceState(params.map((p) => ({ ...p, expAvg: expAvgName(p.key), expAvgSq: expAvgSqName(p.key) })), opts.device === 'webgpu' && !engineTuning.hostState);
    this.state.upload(defaultState(params));
  }

  private graphOptions(): ModelGraphOptions {
    const o = this.opts;
    return {
      inventory: o.inventory, targets: o.targets, dropout: o.loraDropout, dtype: this.dtype, optimizer: o.optimizer, fp16: this.fp16, optimizerScalars: 'host',
      dora: o.dora === true, biases: o.biases ?? [], loraBias: o.loraBias === true, copies: o.copies ?? [], ...(this.quant !== undefined ? { quant: this.quant } : {}),
    };
  }

  private build(kind: Kind): Graph {
    switch (kind) {
      case 'step': return buildStepGraph(this.graphOptions());
      case 'grad': return buildGradGraph(this.graphOptions());
      case 'apply': return buildApplyGraph(this.params, this.opts.optimizer, this.dtype, 'host', this.fp16);
      case 'eval': return buildEvalGraph(this.graphOptions());
      case 'readBack': return buildReadBackGraph(this.params, this.dtype);
    }
  }

  /** Opens (once) the session of a graph, compiling and writing it first unless the cache has it. */
  session(kind: Kind): Promise<ort.InferenceSession> {
    let s = this.sessions.get(kind);
    if (s === undefined) {
      s = this.open(kind);
      this.sessions.set(kind, s);
    }
    return s;
  }

  private async open(kind: Kind): Promise<ort.InferenceSession> {
    const file = graphPath(this.folder, kind);
    if (!fs.existsSync(file)) {
      const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
      writeOnnx(this.build(kind), tmp);
      fs.renameSync(tmp, file);
    }
    const updates = kind === 'step' || kind === 'apply' ? this.state.outputLocations(newName) : {};
    try {
      return await ort.InferenceSession.create(file, sessionOptions(this.opts, updates));
    } catch (e) {
      throw new PeftStudioError('engine-session', `onnxruntime could not open the ${kind} graph on ${this.opts.device}: ${errorMessage(e)}`, {
        file,
        hint: this.opts.device === 'cpu' ? 'Delete the cache folder and retry' : 'Try device: cpu',
      });
    }
  }

  private batchFeeds(b: Batch, weight: number, dropoutSeed: number): Record<string, ort.Tensor> {
    checkBatch(b);
    const spec = this.opts.inventory.spec;
    checkInputIds(b, spec.vocabSize);
    const { index, targets, weights } = labelRows(b, weight, this.dtype, spec.vocabSize);
    const feeds: Record<string, ort.Tensor> = {
      [INPUT.inputIds]: new ort.Tensor('int64', b.inputIds, [b.batchSize, b.seqLen]),
      [INPUT.positionIds]: toTensor(positionFeed(b, spec, this.dtype), this.dtype),
      [INPUT.attentionBias]: toTensor(attentionBias(b, this.dtype), this.dtype),
      [INPUT.labelIndex]: toTensor(index, this.dtype),
      [INPUT.targets]: toTensor(targets, this.dtype),
      [INPUT.lossWeights]: toTensor(weights, this.dtype),
    };
    const window = spec.slidingWindow ?? null;
    if (window !== null) feeds[INPUT.slidingBias] = toTensor(attentionBias(b, this.dtype, window), this.dtype);
    for (const [name, m] of dropoutMasks(b, this.opts.targets, this.opts.loraDropout, dropoutSeed)) {
      feeds[name] = new ort.Tensor('uint8', m.data, m.dims);
    }
    if (this.fp16) feeds[LOSS_SCALE_INPUT] = new ort.Tensor('float32', Float32Array.of(this.lossScale.scale), []);
    return feeds;
  }

  /** Parameters, moments and AdamW's scalars for update t = step + 1 (float64 on the host, fed as float32). */
  private stateFeeds(feeds: Record<string, ort.Tensor>, lr: number): void {
    const scalar = (x: number): ort.Tensor => new ort.Tensor('float32', Float32Array.of(x), []);
    this.state.feed(feeds, true);
    const s = adamwScalars(this.opts.optimizer, lr, this.state.step + 1);
    feeds[SCALAR_INPUT.stepSize] = scalar(s.stepSize);
    feeds[SCALAR_INPUT.bc2Sqrt] = scalar(s.bc2Sqrt);
    feeds[SCALAR_INPUT.decay] = scalar(s.decay);
  }

  /** fp16: GradScaler.update() after a step; a step whose gradients held inf/nan left the state unchanged. */
  private afterStep(skipped: boolean): Pick<StepResult, 'skipped' | 'lossScale'> {
    if (!this.fp16) return {};
    const used = this.lossScale.scale;
    this.lossScale = updateLossScale(this.lossScale, skipped);
    return { skipped, lossScale: used };
  }

  private takeUpdates(out: ort.InferenceSession.OnnxValueMapType, skipped: boolean): void {
    const step = this.state.step;
    this.state.take(out, newName);
    if (skipped) this.state.step = step; // torch: a skipped optimizer.step() does not advance AdamW's step count
  }

  async step(microBatches: Batch[], lr: number, dropoutSeed: number): Promise<StepResult> {
    if (microBatches.length === 0) throw new InputError('engine-no-batch', 'a step needs at least one micro-batch');
    if (!Number.isFinite(lr)) throw new InputError('engine-bad-lr', 'learning rate is not a finite number', { actual: String(lr) });
    const labelTokens = microBatches.reduce((s, b) => s + countLabelTokens(b), 0);
    const inputTokens = microBatches.reduce((s, b) => s + countInputTokens(b), 0);
    // Token-weighted mean over the whole step (Trainer: loss_sum / num_items_in_batch); no label tokens → loss 0.
    const weight = 1 / Math.max(labelTokens, 1);
    const scalarOf = (out: ort.InferenceSession.OnnxValueMapType, name: string): number => Number((out[name]?.data as Float32Array)[0]);
    if (microBatches.length === 1) {
      const feeds = this.batchFeeds(microBatches[0]!, weight, dropoutSeed);
      this.stateFeeds(feeds, lr);
      const out = await (await this.session('step')).run(feeds);
      const gradNorm = scalarOf(out, OUTPUT.gradNorm);
      const skipped = this.fp16 && (isSkippedNorm(gradNorm) || scalarOf(out, OUTPUT.foundInf) !== 0);
      this.takeUpdates(out, skipped);
      return { loss: scalarOf(out, OUTPUT.loss), gradNorm, labelTokens, inputTokens, ...this.afterStep(skipped) };
    }
    // Gradient accumulation: one grad run per micro-batch, gradients summed in fp32 (as torch's .grad +=), then apply.
    const grad = await this.session('grad');
    const acc = new Map(this.params.map((p) => [p.key, new Float32Array(numel(p.shape))]));
    let loss = 0;
    let saturated = false;
    for (let i = 0; i < microBatches.length; i++) {
      const feeds = this.batchFeeds(microBatches[i]!, weight, dropoutSeed + i * 0x9e3779b1);
      this.state.feed(feeds, false);
      const out = await grad.run(feeds);
      loss += scalarOf(out, OUTPUT.loss);
      if (this.fp16 && scalarOf(out, OUTPUT.gradsFinite) === 0) saturated = true;
      for (const p of this.params) {
        const a = acc.get(p.key) as Float32Array;
        const gd = out[gradName(p.key)]?.data as Float32Array;
        for (let j = 0; j < a.length; j++) a[j] = a[j]! + gd[j]!;
      }
    }
    const feeds: Record<string, ort.Tensor> = {};
    this.stateFeeds(feeds, lr);
    for (const p of this.params) feeds[gradName(p.key)] = new ort.Tensor('float32', acc.get(p.key) as Float32Array, p.shape);
    const out = await (await this.session('apply')).run(feeds);
    const gradNorm = scalarOf(out, OUTPUT.gradNorm);
    const skipped = this.fp16 && (saturated || isSkippedNorm(gradNorm) || scalarOf(out, OUTPUT.foundInf) !== 0);
    if (skipped) {
      // A saturated micro-batch: the apply graph updated with wrong gradients; keep the old state (GradScaler skip).
      for (const t of Object.values(out)) if (t.location === 'gpu-buffer') t.dispose();
      return { loss, gradNorm, labelTokens, inputTokens, ...this.afterStep(true) };
    }
    this.takeUpdates(out, false);
    return { loss, gradNorm, labelTokens, inputTokens, ...this.afterStep(false) };
  }

  async evalLoss(batch: Batch): Promise<{ lossSum: number; labelTokens: number }> {
    const feeds = this.batchFeeds(batch, 1, 0);
    delete feeds[LOSS_SCALE_INPUT];
    this.state.feed(feeds, false);
    const out = await (await this.session('eval')).run(feeds);
    return { lossSum: Number((out[OUTPUT.loss]?.data as Float32Array)[0]), labelTokens: countLabelTokens(batch) };
  }

  /** Host copies of the state: downloads the GPU-resident tensors (checkpoints, the final adapter). */
  async getState(): Promise<EngineState> {
    const s = await this.state.download(async (feeds) => (await this.session('readBack')).run(feeds));
    if (this.fp16) s.lossScale = { ...this.lossScale };
    return s;
  }

  async setState(state: EngineState): Promise<void> {
    await Promise.resolve();
    this.state.upload(state);
    if (this.fp16) this.lossScale = state.lossScale !== undefined ? { ...state.lossScale } : { scale: GRAD_SCALER.initScale, growthTracker: 0 };
  }

  /** Where the trainable state lives between steps ('gpu-buffer' on WebGPU after the first step). */
  stateLocation(): string {
    return this.state.location();
  }

  async dispose(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    this.state.release();
    for (const s of all) {
      try {
        await (await s).release();
      } catch {
        // a session that failed to open has nothing to release
      }
    }
  }
}

interface EngineParam {
  key: string;
  shape: number[];
  noDecay?: boolean;
}


/**
 * The trainable tensors, in the graphs' order: per target A, B (lora_embedding_A/B for an embedding) and the DoRA
 * magnitude, then the biases, then the modules_to_save copies and token deltas.
 */
function engineParams(opts: EngineOptions): EngineParam[] {
  const lora = opts.targets.flatMap((t) => {
    const [a, b] = targetKeys(t);
    const linear = t.module.kind !== 'embedding';
    return [
      { key: a, shape: [t.r, t.module.inFeatures] },
      { key: b, shape: [t.module.outFeatures, t.r] },
      ...(opts.dora === true && linear ? [{ key: magnitudeKey(t.module.name), shape: [t.module.outFeatures] }] : []),
      ...(opts.loraBias === true && linear ? [{ key: loraBiasKey(t.module.name), shape: [t.module.outFeatures], noDecay: true }] : []),
    ];
  });
  const biases = (opts.biases ?? []).map((b) => ({ key: b.key, shape: [...b.shape], noDecay: true }));
  const copies = (opts.copies ?? []).map((c) => ({ key: c.key, shape: [...c.shape], ...(c.decay ? {} : { noDecay: true }) }));
  return [...lora, ...biases, ...copies];
}

/** Creates the engine for a model + LoRA targets; graphs compile on first use (step/grad/apply/eval). */
export function createEngine(opts: EngineOptions): Promise<TrainEngine> {
  if (opts.precision === 'fp16' && opts.device === 'cpu') {
    return Promise.reject(new InputError('engine-fp16', 'fp16 training needs a GPU device: onnxruntime\'s CPU provider has no fp16 MatMul', {
      hint: 'Use precision fp32 (training.fp16: false) on the CPU, or device: webgpu / cuda',
    }));
  }
  if (opts.targets.length === 0) {
    return Promise.reject(new InputError('engine-no-targets', 'no LoRA targets: nothing to train', { hint: 'Check target_modules in adapter_config.json' }));
  }
  const odd = opts.targets.find((t) => t.module.kind !== 'linear' && t.module.kind !== 'conv1d' && t.module.kind !== 'embedding');
  if (odd !== undefined) {
    return Promise.reject(new InputError('engine-unsupported-target', `LoRA on ${odd.module.kind} layers is not supported by the training engine yet`, {
      tensor: odd.module.name, hint: 'Target Linear/Conv1D layers (e.g. q_proj, v_proj, c_attn) or embeddings; exclude norms',
    }));
  }
  if (!(opts.loraDropout >= 0 && opts.loraDropout < 1)) {
    return Promise.reject(new InputError('engine-bad-dropout', 'lora_dropout must be in [0, 1)', { actual: String(opts.loraDropout) }));
  }
  const params = engineParams(opts);
  const key = cacheKey(opts.inventory, {
    ...((opts.copies ?? []).length > 0 ? { copies: (opts.copies ?? []).map((c) => [c.key, c.param, c.shape, c.decay, c.tokens ?? null]) } : {}),
    targets: opts.targets.map((t) => [t.module.name, t.r, t.scaling, t.module.inFeatures, t.module.outFeatures]),
    dropout: opts.loraDropout,
    optimizer: opts.optimizer,
    precision: opts.precision,
    ...(opts.dora === true ? { dora: true } : {}),
    ...(opts.loraBias === true ? { loraBias: true } : {}),
    ...((opts.biases ?? []).length > 0 ? { biases: opts.biases!.map((b) => b.key) } : {}),
    ...(opts.quantization != null ? { quantization: opts.quantization } : {}),
  });
  let quant: QuantizedBase | undefined;
  try {
    quant = opts.quantization != null ? ensureQuantizedBase(opts.inventory, opts.quantization, opts.cacheDir) : undefined;
  } catch (e) {
    return Promise.reject(e);
  }
  const folder = prepareGraphFolder(opts.cacheDir, opts.inventory, key, quant !== undefined ? [quant.file] : []);
  return Promise.resolve(new OrtEngine(opts, folder, params, quant));
}
