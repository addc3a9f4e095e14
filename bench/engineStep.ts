// Child process of train.bench.ts: runs our ONNX training engine (createEngine) for warm-up + timed LoRA steps on a
// fixture folder and prints one JSON line (step times, tokens/s, losses, peak RSS of this process alone).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadModel } from '../src/core/hf/loadModel';
import { parseLoraConfig } from '../src/core/peft/loraConfig';
import { resolveTargets } from '../src/core/peft/resolve';
import { createEngine } from '../src/core/train/engine';
import type { Batch, DeviceName } from '../src/core/train/engineApi';
import { median } from './benchLib';
import type { QuantizationConfig } from '../src/core/quant/blockQuant';
import { errorStack } from '../src/core/errors';
import { peakRssBytes } from '../src/core/util/peakRss';

/** What the parent passes (one JSON argument); the same fields drive bench/torch_lora_step.py. */
export interface EngineJob {
  modelDir: string;
  /** Int64 little-endian token file [batch, seq] shared with the torch run (same data → same first loss). */
  tokensFile: string;
  batch: number;
  seq: number;
  steps: number;
  warmup: number;
  threads: number;
  device: DeviceName;
  targets: 'qkvo' | 'all-linear';
  r: number;
  alpha: number;
  cacheDir: string;
  /** When set, ORT profiling is on for the engine's sessions and the trace is written with this prefix. */
  profilePrefix?: string;
  /** Extra ORT session options merged over the engine's (experiments: enableCpuMemArena, extra.session.*). */
  sessionOptions?: ort.InferenceSession.SessionOptions;
  /** A 4-bit base (bench/quant.bench.ts); absent = fp32. */
  quantization?: QuantizationConfig | null;
}

export interface EngineResult {
  engine: 'peft-studio-ort';
  device: DeviceName;
  threads: number;
  batch: number;
  seq: number;
  adaptedModules: number;
  trainableParams: number;
  /** createEngine (loads nothing yet: graphs compile and sessions open lazily in the first step). */
  setupS: number;
  /** The first step, session open included (graph compile too when the cache is cold). */
  firstStepS: number;
  stepS: number[];
  medianStepS: number;
  tokensPerS: number;
  /** Loss of the very first step (LoRA B = 0: the base model's loss, equal to torch's on the same tokens). */
  firstLoss: number;
  losses: number[];
  peakRssBytes: number;
  /** RSS after the last step, sessions still open (steady state: weights, arena, packed copies). */
  steadyRssBytes: number;
  profileFiles: string[];
}

const TARGETS = { qkvo: ['q_proj', 'k_proj', 'v_proj', 'o_proj'], 'all-linear': 'all-linear' } as const;

/**
 * Session experiments without touching the engine: wrap InferenceSession.create so every session the engine opens
 * gets `extra` options (enableProfiling, arena or prepacking switches), and keep the sessions (endProfiling() writes
 * `<prefix>_<date>.json`). `restore` puts the original create back (the wrapper must not outlive the job).
 */
function wrapSessions(extra: ort.InferenceSession.SessionOptions): { opened: ort.InferenceSession[]; restore: () => void } {
  const opened: ort.InferenceSession[] = [];
  const desc = Object.getOwnPropertyDescriptor(ort.InferenceSession, 'create');
  const original = ort.InferenceSession.create.bind(ort.InferenceSession) as (path: string, options?: ort.InferenceSession.SessionOptions) => Promise<ort.InferenceSession>;
  const patched = async (path: string, options?: ort.InferenceSession.SessionOptions): Promise<ort.InferenceSession> => {
    const merged: ort.InferenceSession.SessionOptions = { ...options, ...extra };
    if (options?.extra !== undefined && extra.extra !== undefined) merged.extra = { ...options.extra, ...extra.extra, session: { ...(options.extra['session'] as object), ...(extra.extra['session'] as object) } };
    const s = await original(path, merged);
    opened.push(s);
    return s;
  };
  Object.defineProperty(ort.InferenceSession, 'create', { value: patched, configurable: true, writable: true });
  const restore = (): void => {
    if (desc !== undefined) Object.defineProperty(ort.InferenceSession, 'create', desc);
  };
  return { opened, restore };
}

function readTokens(file: string, n: number): BigInt64Array {
  const buf = fs.readFileSync(file);
  if (buf.byteLength !== n * 8) throw new Error(`${file}: expected ${n} int64 tokens, got ${buf.byteLength} bytes`);
  const out = new BigInt64Array(n);
  for (let i = 0; i < n; i++) out[i] = buf.readBigInt64LE(i * 8);
  return out;
}

export async function runEngineJob(job: EngineJob): Promise<EngineResult> {
  const extra: ort.InferenceSession.SessionOptions = { ...(job.sessionOptions ?? {}) };
  if (job.profilePrefix !== undefined) Object.assign(extra, { enableProfiling: true, profileFilePrefix: job.profilePrefix });
  const wrapped = Object.keys(extra).length > 0 ? wrapSessions(extra) : null;
  try {
    return await runSteps(job, job.profilePrefix !== undefined ? (wrapped?.opened ?? null) : null);
  } finally {
    wrapped?.restore();
  }
}

async function runSteps(job: EngineJob, profiled: ort.InferenceSession[] | null): Promise<EngineResult> {
  const inventory = loadModel(job.modelDir);
  const cfg = parseLoraConfig({ peft_type: 'LORA', task_type: 'CAUSAL_LM', r: job.r, lora_alpha: job.alpha, lora_dropout: 0, target_modules: TARGETS[job.targets] });
  const { targets } = resolveTargets(cfg, inventory);
  const n = job.batch * job.seq;
  const ids = readTokens(job.tokensFile, n);
  const batch: Batch = { batchSize: job.batch, seqLen: job.seq, inputIds: ids, labels: ids, attentionMask: new BigInt64Array(n).fill(1n) };
  const t0 = performance.now();
  const engine = await createEngine({
    inventory, targets, loraDropout: 0, device: job.device, precision: 'fp32', cacheDir: job.cacheDir, threads: job.threads,
    maxBatchSize: job.batch, maxSeqLen: job.seq, quantization: job.quantization ?? null,
    optimizer: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 1 },
  });
  const stepS: number[] = [];
  const losses: number[] = [];
  let setupS = 0;
  let firstLoss = NaN;
  let firstStepS = NaN;
  let steadyRssBytes = 0;
  try {
    for (let i = 0; i < job.warmup + job.steps; i++) {
      const s0 = performance.now();
      const r = await engine.step([batch], 2e-4, i);
      const dt = (performance.now() - s0) / 1000;
      if (i === 0) {
        setupS = (s0 - t0) / 1000;
        firstStepS = dt;
        firstLoss = r.loss;
      }
      if (i >= job.warmup) {
        stepS.push(dt);
        losses.push(r.loss);
      }
    }
    steadyRssBytes = process.memoryUsage.rss();
    if (profiled !== null) for (const s of profiled) s.endProfiling();
  } finally {
    await engine.dispose();
  }
  const trainable = targets.reduce((s, t) => s + t.r * (t.module.inFeatures + t.module.outFeatures), 0);
  const total = stepS.reduce((a, b) => a + b, 0);
  const prefix = job.profilePrefix;
  const profileFiles = prefix === undefined ? [] : fs.readdirSync(path.dirname(prefix))
    .map((f) => path.join(path.dirname(prefix), f)).filter((f) => f.startsWith(`${prefix}_`) && f.endsWith('.json'));
  return {
    engine: 'peft-studio-ort', device: job.device, threads: job.threads, batch: job.batch, seq: job.seq,
    adaptedModules: targets.length, trainableParams: trainable, setupS, firstStepS, stepS,
    medianStepS: median(stepS),
    tokensPerS: (n * stepS.length) / total,
    firstLoss,
    losses,
    peakRssBytes: peakRssBytes(),
    steadyRssBytes,
    profileFiles,
  };
}

if (require.main === module) {
  const arg = process.argv[2];
  if (arg === undefined) {
    process.stderr.write('usage: engineStep <job.json>\n');
    process.exit(2);
  }
  runEngineJob(JSON.parse(fs.readFileSync(arg, 'utf8')) as EngineJob).then(
    (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
    (e: unknown) => {
      process.stderr.write(`${errorStack(e)}\n`);
      process.exit(1);
    },
  );
}
