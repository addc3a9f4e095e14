// Test helpers for the engine suites: tiny fixture models, LoRA targets by module name, seeded adapters and
// padded batches, and the PyTorch reference (test/reference/torch_ref.py) run through /usr/bin/python3.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type FixtureArch, makeFixture } from '../../../src/core/fixtures/makeFixture';
import { loadModel } from '../../../src/core/hf/loadModel';
import type { ModelInventory } from '../../../src/core/hf/types';
import { dropoutInputName, dropoutMasks, dropoutScale } from '../../../src/core/models/feeds';
import { loraKey } from '../../../src/core/models/lora';
import { readSafetensorsHeader, readTensorAsFloat32 } from '../../../src/core/safetensors/read';
import { writeSafetensors } from '../../../src/core/safetensors/write';
import type { Batch, EngineState, LoraTarget, OptimizerOptions } from '../../../src/core/train/engineApi';
import { Rng } from '../../../src/core/util/random';

export const PYTHON = '/usr/bin/python3';
export const REFERENCE = path.resolve(__dirname, '../../reference/torch_ref.py');

export function tmpDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `peft-${tag}-`));
}

/**
 * A tiny fixture model whose 2-D weights (and biases) are scaled by `amplify` (fixtures use std 0.02, which makes
 * a 2-layer model nearly uniform; ×5 gives peaked attention and logits, so RoPE, masks and GQA matter to the loss).
 */
export async function tinyModel(arch: FixtureArch, dir: string, overrides?: Record<string, unknown>, tie?: boolean, amplify = 5): Promise<ModelInventory> {
  await makeFixture({ arch, outDir: dir, seed: 7, ...(overrides !== undefined ? { overrides } : {}), ...(tie !== undefined ? { tieWordEmbeddings: tie } : {}) });
  if (amplify !== 1) {
    const file = path.join(dir, 'model.safetensors');
    const h = readSafetensorsHeader(file);
    const tensors = [...h.tensors.values()].map((e) => {
      const data = readTensorAsFloat32(e);
      const isNormWeight = /(norm|ln_\w+|ln_f)\.weight$/.test(e.name);
      if (!isNormWeight && !e.name.endsWith('attn.bias')) for (let i = 0; i < data.length; i++) data[i] = data[i]! * amplify;
      return { name: e.name, dtype: 'F32' as const, shape: e.shape, data };
    });
    writeSafetensors(file, tensors);
  }
  return loadModel(dir);
}

/** LoRA targets for modules whose names end with one of `suffixes` (PEFT list semantics), r and alpha fixed. */
export function targetsFor(inv: ModelInventory, suffixes: string[], r: number, alpha: number): LoraTarget[] {
  const mods = inv.modules.filter((m) => (m.kind === 'linear' || m.kind === 'conv1d') && suffixes.some((s) => m.name === s || m.name.endsWith(`.${s}`)));
  if (mods.length === 0) throw new Error(`no module matches ${suffixes.join(', ')}`);
  return mods.map((module) => ({ module, r, alpha, scaling: alpha / r }));
}

/** A non-trivial adapter (A and B both non-zero), as an EngineState with zero moments. */
export function randomState(targets: LoraTarget[], seed: number, stdA = 0.2, stdB = 0.2): EngineState {
  const rng = new Rng(seed);
  const s: EngineState = { params: new Map(), shapes: new Map(), expAvg: new Map(), expAvgSq: new Map(), step: 0 };
  for (const t of targets) {
    for (const [which, shape, std] of [['A', [t.r, t.module.inFeatures], stdA], ['B', [t.module.outFeatures, t.r], stdB]] as const) {
      const key = loraKey(t.module.name, which);
      const v = new Float32Array(shape[0] * shape[1]);
      rng.fillNormal(v, 0, std);
      s.params.set(key, v);
      s.shapes.set(key, [...shape]);
      s.expAvg.set(key, new Float32Array(v.length));
      s.expAvgSq.set(key, new Float32Array(v.length));
    }
  }
  return s;
}

export function writeAdapter(file: string, s: EngineState): void {
  writeSafetensors(file, [...s.params].map(([name, data]) => ({ name, dtype: 'F32' as const, shape: s.shapes.get(name) as number[], data })));
}

export function readAdapter(file: string): Map<string, Float32Array> {
  const h = readSafetensorsHeader(file);
  return new Map([...h.tensors].map(([k, e]) => [k, readTensorAsFloat32(e)]));
}

/**
 * A batch of `rows` sequences of length `seqLen`, right-padded: row r has seqLen - r*padStep real tokens.
 * Labels equal the inputs at real positions (-100 at padding), optionally -100 on the first `promptLen` tokens.
 */
export function randomBatch(rng: Rng, vocab: number, rows: number, seqLen: number, padStep = 2, promptLen = 0): Batch {
  const n = rows * seqLen;
  const inputIds = new BigInt64Array(n);
  const labels = new BigInt64Array(n);
  const attentionMask = new BigInt64Array(n);
  for (let r = 0; r < rows; r++) {
    const real = Math.max(2, seqLen - r * padStep);
    for (let t = 0; t < seqLen; t++) {
      const i = r * seqLen + t;
      const isReal = t < real;
      inputIds[i] = isReal ? BigInt(rng.int(vocab)) : 0n;
      attentionMask[i] = isReal ? 1n : 0n;
      labels[i] = isReal && t >= promptLen ? inputIds[i]! : -100n;
    }
  }
  return { batchSize: rows, seqLen, inputIds, labels, attentionMask };
}

function rowsOf(a: BigInt64Array, b: Batch): number[][] {
  return Array.from({ length: b.batchSize }, (_, r) => Array.from(a.subarray(r * b.seqLen, (r + 1) * b.seqLen), Number));
}

export function batchJson(b: Batch): Record<string, number[][]> {
  const out: Record<string, number[][]> = { input_ids: rowsOf(b.inputIds, b), labels: rowsOf(b.labels, b), attention_mask: rowsOf(b.attentionMask, b) };
  if (b.positionIds !== undefined) out['position_ids'] = rowsOf(b.positionIds, b);
  return out;
}

export interface ReferenceJob {
  inventory: ModelInventory;
  targets: LoraTarget[];
  initAdapter: string;
  optimizer: OptimizerOptions;
  steps: { lr: number; microBatches: Batch[]; dropoutSeed?: number }[];
  evalBatches?: Batch[];
  dtype?: 'float32' | 'float64';
  /** lora_dropout: the reference gets the masks the engine draws for each step's seed (one micro-batch per step). */
  dropout?: number;
  /** use_dora (magnitudes from the init adapter when it has them). */
  dora?: boolean;
}

/** The engine's dropout masks for a micro-batch, as nested lists [B][T][in] per module. */
function masksJson(b: Batch, targets: LoraTarget[], p: number, seed: number): Record<string, number[][][]> {
  const out: Record<string, number[][][]> = {};
  const masks = dropoutMasks(b, targets, p, seed);
  const noise = dropoutScale(p);
  for (const t of targets) {
    const m = Float32Array.from(masks.get(dropoutInputName(t.module.name))!.data, (k) => k * noise);
    const inF = t.module.inFeatures;
    out[t.module.name] = Array.from({ length: b.batchSize }, (_, r) => Array.from({ length: b.seqLen }, (_, s) => {
      const o = (r * b.seqLen + s) * inF;
      return Array.from(m.subarray(o, o + inF));
    }));
  }
  return out;
}

export interface ReferenceResult {
  steps: { loss: number; grad_norm: number; label_tokens: number }[];
  eval: { loss_sum: number; label_tokens: number }[];
  adapter: Map<string, Float32Array>;
}

/** Runs torch_ref.py; fails loudly when /usr/bin/python3 has no torch (CI installs python3-torch). */
export function runReference(job: ReferenceJob, dir: string): ReferenceResult {
  const probe = spawnSync(PYTHON, ['-c', 'import torch, numpy'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    throw new Error(`the PyTorch reference needs ${PYTHON} with torch and numpy (apt-get install python3-torch; scripts/setup-system.sh): ${probe.stderr || probe.error?.message}`);
  }
  const jobFile = path.join(dir, 'job.json');
  const outFile = path.join(dir, 'out.json');
  const adapterOut = path.join(dir, 'ref_adapter.safetensors');
  fs.writeFileSync(jobFile, JSON.stringify({
    model_dir: job.inventory.dir,
    dtype: job.dtype ?? 'float32',
    threads: 1,
    modules: job.targets.map((t) => ({ name: t.module.name, r: t.r, alpha: t.alpha, scaling: t.scaling })),
    init_adapter: job.initAdapter,
    optimizer: { beta1: job.optimizer.beta1, beta2: job.optimizer.beta2, eps: job.optimizer.eps, weight_decay: job.optimizer.weightDecay, max_grad_norm: job.optimizer.maxGradNorm },
    steps: job.steps.map((s) => ({
      lr: s.lr,
      micro_batches: s.microBatches.map((b) => ({
        ...batchJson(b),
        ...(job.dropout !== undefined && job.dropout > 0 ? { dropout_masks: masksJson(b, job.targets, job.dropout, s.dropoutSeed ?? 0) } : {}),
      })),
    })),
    eval_batches: (job.evalBatches ?? []).map(batchJson),
    output_adapter: adapterOut,
    ...(job.dora === true ? { use_dora: true } : {}),
  }));
  const res = spawnSync(PYTHON, [REFERENCE, jobFile, outFile], { encoding: 'utf8', timeout: 120_000 });
  if (res.status !== 0) throw new Error(`torch_ref.py failed (${res.status}): ${res.stderr}`);
  const out = JSON.parse(fs.readFileSync(outFile, 'utf8')) as Omit<ReferenceResult, 'adapter'>;
  return { ...out, adapter: readAdapter(adapterOut) };
}

/** max |a-b| / max(|b|) over all elements: a scale-aware error for whole tensors. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / Math.max(den, 1e-30);
}
