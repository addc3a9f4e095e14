// The training engine (engineApi.ts TrainEngine): compiles the model's step/grad/apply/eval graphs once (cached on
// disk beside hard links to the weights), opens onnxruntime sessions lazily, and runs one optimizer step per call.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as ort from 'onnxruntime-node';
import { InputError, PeftStudioError, errorMessage } from '../errors';
import { type Graph, writeOnnx } from '../graph';
import {
  INPUT, type FloatDtype, type HostFeed, attentionBias, checkBatch, checkInputIds, countInputTokens, countLabelTokens,
  dropoutMasks, labelRows, positionIds,
} from '../models/feeds';
import { loraKey } from '../models/lora';
import { OUTPUT, buildApplyGraph, buildEvalGraph, buildGradGraph, buildStepGraph, gradName, type ModelGraphOptions } from '../models/stepGraph';
import { Rng } from '../util/random';
import { ADAMW_INPUT, expAvgName, expAvgSqName, newName } from './adamw';
import type { Batch, EngineOptions, EngineState, StepResult, TrainEngine } from './engineApi';
import { type GraphFolder, cacheKey, graphPath, prepareGraphFolder } from './graphCache';

type Kind = 'step' | 'grad' | 'apply' | 'eval';

function toTensor(f: HostFeed, dtype: FloatDtype): ort.Tensor {
  if (f.data instanceof BigInt64Array) return new ort.Tensor('int64', f.data, f.dims);
  return new ort.Tensor(dtype === 'float64' ? 'float64' : 'float32', f.data, f.dims);
}

/**
 * Process-wide ORT tuning. MLAS prepacking keeps a packed copy of every constant GEMM operand per session (FACTS.md:
 * +1× the weights for each open graph) and was ~15% faster here (bench/train.bench.ts, 32M-param llama, 2 threads:
 * 181 vs 157 tok/s, RSS 611 vs 501 MiB). 'auto' prepacks only when that copy is cheap: weights ≤ 1 GiB and ≤ 10% of RAM.
 */
export const ortTuning: { prepacking: 'auto' | boolean } = { prepacking: 'auto' };

/** Bytes of the base weights once cast to fp32 (what a prepacked copy costs). */
function fp32WeightBytes(inventory: EngineOptions['inventory']): number {
  return inventory.totalParameters * 4;
}

export function usePrepacking(inventory: EngineOptions['inventory']): boolean {
  if (ortTuning.prepacking !== 'auto') return ortTuning.prepacking;
  const bytes = fp32WeightBytes(inventory);
  return bytes <= 2 ** 30 && bytes <= os.totalmem() * 0.1;
}

/** ORT session options: all cores, full graph optimisation, prepacking per `usePrepacking`. */
export function sessionOptions(opts: Pick<EngineOptions, 'device' | 'threads' | 'inventory'>): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: [opts.device],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: opts.threads ?? os.availableParallelism(),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    logSeverityLevel: 3,
    extra: { session: { disable_prepacking: usePrepacking(opts.inventory) ? '0' : '1' } },
  };
}

/** PEFT's default init (init_lora_weights=true): A ~ kaiming_uniform(a=√5) = U(±1/√in), B = 0; seeded. */
function defaultState(params: { key: string; shape: number[] }[]): EngineState {
  const rng = new Rng(0);
  const state: EngineState = { params: new Map(), shapes: new Map(), expAvg: new Map(), expAvgSq: new Map(), step: 0 };
  for (const p of params) {
    const n = p.shape[0]! * p.shape[1]!;
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
  private state: EngineState;
  private readonly sessions = new Map<Kind, Promise<ort.InferenceSession>>();
  private readonly dtype: FloatDtype = 'float32';

  constructor(
    private readonly opts: EngineOptions,
    private readonly folder: GraphFolder,
    private readonly params: { key: string; shape: number[] }[],
  ) {
    this.parameterNames = params.map((p) => p.key);
    this.device = opts.device;
    this.state = defaultState(params);
  }

  private graphOptions(): ModelGraphOptions {
    const o = this.opts;
    return { inventory: o.inventory, targets: o.targets, dropout: o.loraDropout, dtype: this.dtype, optimizer: o.optimizer };
  }

  private build(kind: Kind): Graph {
    switch (kind) {
      case 'step': return buildStepGraph(this.graphOptions());
      case 'grad': return buildGradGraph(this.graphOptions());
      case 'apply': return buildApplyGraph(this.params, this.opts.optimizer, this.dtype);
      case 'eval': return buildEvalGraph(this.graphOptions());
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
    try {
      return await ort.InferenceSession.create(file, sessionOptions(this.opts));
    } catch (e) {
      throw new PeftStudioError('engine.session', `onnxruntime could not open the ${kind} graph on ${this.opts.device}: ${errorMessage(e)}`, {
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
      [INPUT.positionIds]: new ort.Tensor('int64', positionIds(b), [b.batchSize, b.seqLen]),
      [INPUT.attentionBias]: toTensor(attentionBias(b, this.dtype), this.dtype),
      [INPUT.labelIndex]: toTensor(index, this.dtype),
      [INPUT.targets]: toTensor(targets, this.dtype),
      [INPUT.lossWeights]: toTensor(weights, this.dtype),
    };
    for (const [name, m] of dropoutMasks(b, this.opts.targets, this.opts.loraDropout, dropoutSeed)) {
      feeds[name] = new ort.Tensor('uint8', m.data, m.dims);
    }
    return feeds;
  }

  private paramFeeds(feeds: Record<string, ort.Tensor>): void {
    for (const p of this.params) feeds[p.key] = new ort.Tensor('float32', this.state.params.get(p.key) as Float32Array, p.shape);
  }

  /** Parameters, moments, lr and the 1-based step number t of the update about to happen. */
  private stateFeeds(feeds: Record<string, ort.Tensor>, lr: number): void {
    const scalar = (x: number): ort.Tensor => new ort.Tensor('float64', Float64Array.of(x), []);
    this.paramFeeds(feeds);
    for (const p of this.params) {
      const shape = p.shape;
      feeds[expAvgName(p.key)] = new ort.Tensor('float32', this.state.expAvg.get(p.key) as Float32Array, shape);
      feeds[expAvgSqName(p.key)] = new ort.Tensor('float32', this.state.expAvgSq.get(p.key) as Float32Array, shape);
    }
    feeds[ADAMW_INPUT.lr] = scalar(lr);
    feeds[ADAMW_INPUT.step] = scalar(this.state.step + 1);
  }

  private takeUpdates(out: ort.InferenceSession.OnnxValueMapType): void {
    const f32 = (name: string): Float32Array => {
      const t = out[name];
      if (t === undefined) throw new PeftStudioError('engine.output', 'missing graph output', { tensor: name });
      return Float32Array.from(t.data as Float32Array);
    };
    for (const p of this.params) {
      this.state.params.set(p.key, f32(newName(p.key)));
      this.state.expAvg.set(p.key, f32(newName(expAvgName(p.key))));
      this.state.expAvgSq.set(p.key, f32(newName(expAvgSqName(p.key))));
    }
    this.state.step += 1;
  }

  async step(microBatches: Batch[], lr: number, dropoutSeed: number): Promise<StepResult> {
    if (microBatches.length === 0) throw new InputError('engine.noBatch', 'a step needs at least one micro-batch');
    if (!Number.isFinite(lr)) throw new InputError('engine.badLr', 'learning rate is not a finite number', { actual: String(lr) });
    const labelTokens = microBatches.reduce((s, b) => s + countLabelTokens(b), 0);
    const inputTokens = microBatches.reduce((s, b) => s + countInputTokens(b), 0);
    // Token-weighted mean over the whole step (Trainer: loss_sum / num_items_in_batch); no label tokens → loss 0.
    const weight = 1 / Math.max(labelTokens, 1);
    const scalarOf = (out: ort.InferenceSession.OnnxValueMapType, name: string): number => Number((out[name]?.data as Float32Array)[0]);
    if (microBatches.length === 1) {
      const feeds = this.batchFeeds(microBatches[0]!, weight, dropoutSeed);
      this.stateFeeds(feeds, lr);
      const out = await (await this.session('step')).run(feeds);
      this.takeUpdates(out);
      return { loss: scalarOf(out, OUTPUT.loss), gradNorm: scalarOf(out, OUTPUT.gradNorm), labelTokens, inputTokens };
    }
    // Gradient accumulation: one grad run per micro-batch, gradients summed in fp32 (as torch's .grad +=), then apply.
    const grad = await this.session('grad');
    const acc = new Map(this.params.map((p) => [p.key, new Float32Array(p.shape[0]! * p.shape[1]!)]));
    let loss = 0;
    for (let i = 0; i < microBatches.length; i++) {
      const feeds = this.batchFeeds(microBatches[i]!, weight, dropoutSeed + i * 0x9e3779b1);
      this.paramFeeds(feeds);
      const out = await grad.run(feeds);
      loss += scalarOf(out, OUTPUT.loss);
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
    this.takeUpdates(out);
    return { loss, gradNorm: scalarOf(out, OUTPUT.gradNorm), labelTokens, inputTokens };
  }

  async evalLoss(batch: Batch): Promise<{ lossSum: number; labelTokens: number }> {
    const feeds = this.batchFeeds(batch, 1, 0);
    this.paramFeeds(feeds);
    const out = await (await this.session('eval')).run(feeds);
    return { lossSum: Number((out[OUTPUT.loss]?.data as Float32Array)[0]), labelTokens: countLabelTokens(batch) };
  }

  getState(): Promise<EngineState> {
    const copy = (m: Map<string, Float32Array>): Map<string, Float32Array> => new Map([...m].map(([k, v]) => [k, Float32Array.from(v)]));
    const s = this.state;
    return Promise.resolve({ params: copy(s.params), shapes: new Map([...s.shapes].map(([k, v]) => [k, [...v]])), expAvg: copy(s.expAvg), expAvgSq: copy(s.expAvgSq), step: s.step });
  }

  async setState(state: EngineState): Promise<void> {
    await Promise.resolve();
    const take = (m: Map<string, Float32Array>, what: string, key: string, n: number): Float32Array => {
      const v = m.get(key);
      if (v === undefined) throw new InputError('engine.stateMissing', `state has no ${what} for a trainable tensor`, { tensor: key });
      if (v.length !== n) throw new InputError('engine.stateShape', `${what} has the wrong size`, { tensor: key, expected: String(n), actual: String(v.length) });
      return Float32Array.from(v);
    };
    const next: EngineState = { params: new Map(), shapes: new Map(), expAvg: new Map(), expAvgSq: new Map(), step: state.step };
    for (const p of this.params) {
      const n = p.shape[0]! * p.shape[1]!;
      next.params.set(p.key, take(state.params, 'parameter', p.key, n));
      next.expAvg.set(p.key, state.expAvg.has(p.key) ? take(state.expAvg, 'exp_avg', p.key, n) : new Float32Array(n));
      next.expAvgSq.set(p.key, state.expAvgSq.has(p.key) ? take(state.expAvgSq, 'exp_avg_sq', p.key, n) : new Float32Array(n));
      next.shapes.set(p.key, [...p.shape]);
    }
    this.state = next;
  }

  async dispose(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of all) {
      try {
        await (await s).release();
      } catch {
        // a session that failed to open has nothing to release
      }
    }
  }
}

/** Creates the engine for a model + LoRA targets; graphs compile on first use (step/grad/apply/eval). */
export function createEngine(opts: EngineOptions): Promise<TrainEngine> {
  if (opts.precision === 'fp16') {
    return Promise.reject(new InputError('engine.fp16', 'fp16 training is not supported yet', { hint: 'Use precision fp32' }));
  }
  if (opts.targets.length === 0) {
    return Promise.reject(new InputError('engine.noTargets', 'no LoRA targets: nothing to train', { hint: 'Check target_modules in adapter_config.json' }));
  }
  const odd = opts.targets.find((t) => t.module.kind !== 'linear' && t.module.kind !== 'conv1d');
  if (odd !== undefined) {
    return Promise.reject(new InputError('engine.unsupportedTarget', `LoRA on ${odd.module.kind} layers is not supported by the training engine yet`, {
      tensor: odd.module.name, hint: 'Target Linear/Conv1D layers (e.g. q_proj, v_proj, c_attn); exclude embeddings and norms',
    }));
  }
  if (!(opts.loraDropout >= 0 && opts.loraDropout < 1)) {
    return Promise.reject(new InputError('engine.badDropout', 'lora_dropout must be in [0, 1)', { actual: String(opts.loraDropout) }));
  }
  const params = opts.targets.flatMap((t) => [
    { key: loraKey(t.module.name, 'A'), shape: [t.r, t.module.inFeatures] },
    { key: loraKey(t.module.name, 'B'), shape: [t.module.outFeatures, t.r] },
  ]);
  const key = cacheKey(opts.inventory, {
    targets: opts.targets.map((t) => [t.module.name, t.r, t.scaling, t.module.inFeatures, t.module.outFeatures]),
    dropout: opts.loraDropout,
    optimizer: opts.optimizer,
    precision: opts.precision,
  });
  const folder = prepareGraphFolder(opts.cacheDir, opts.inventory, key);
  return Promise.resolve(new OrtEngine(opts, folder, params));
}
