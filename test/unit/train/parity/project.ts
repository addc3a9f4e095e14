// A training project as the hidden end-to-end check writes one: a small model, adapter_config.json, an init_adapter
// folder with non-zero A and B, a `tokenized` JSONL data set and a peft-train.yaml; plus the reference run.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FixtureArch } from '../../../../src/core/fixtures/makeFixture';
import type { ModelInventory } from '../../../../src/core/hf/types';
import { readSafetensorsHeader, readTensorAsFloat32 } from '../../../../src/core/safetensors/read';
import { writeSafetensors } from '../../../../src/core/safetensors/write';
import { Rng } from '../../../../src/core/util/random';
import { PYTHON, tinyModel } from '../engineHelpers';

export const TRAINER_REF = path.resolve(__dirname, '../../../reference/trainer_ref.py');

/** One JSONL line of `format: tokenized`. */
export interface Row {
  input_ids: number[];
  labels?: number[];
}

export interface ParityCase {
  arch: FixtureArch;
  overrides?: Record<string, unknown>;
  targetModules: string[];
  r: number;
  alpha: number;
  rows: Row[];
  maxLength: number;
  microBatch: number;
  accumulation: number;
  steps: number;
  lr: number;
  weightDecay: number;
  maxGradNorm: number;
  loggingSteps?: number;
  /** Remove the tokenizer files: a model made with save_pretrained of the model alone (tokenized data needs none). */
  noTokenizer?: boolean;
  /** Write adapter_config.json as LoraConfig.save_pretrained does: every field, nulls and defaults included. */
  fullDump?: boolean;
  /** use_dora (the init adapter has no magnitudes: both sides start from ||W + s·B·A||). */
  useDora?: boolean;
  /** LoraConfig bias (default none). */
  bias?: 'none' | 'lora_only' | 'all';
  /** The init adapter also holds the magnitudes and biases (as PEFT saves them), perturbed from their starting values. */
  initExtras?: boolean;
  /** modules_to_save entries; init_adapter then holds each copy as base weight + N(0, 0.05²) noise. */
  modulesToSave?: string[];
  /** trainable_token_indices (a list: the input embedding); init_adapter holds the delta as W[idx] + N(0, 0.05²). */
  trainableTokens?: number[];
  /** lora_bias (a bias on every lora_B). */
  loraBias?: boolean;
}

/** What PEFT 0.17's LoraConfig(...).save_pretrained() writes for fields left at their defaults (hand-copied). */
const PEFT_SAVED_DEFAULTS = {
  alpha_pattern: {}, auto_mapping: null, base_model_name_or_path: null, bias: 'none', corda_config: null, eva_config: null,
  exclude_modules: null, fan_in_fan_out: false, inference_mode: false, init_lora_weights: true, layer_replication: null,
  layers_pattern: null, layers_to_transform: null, loftq_config: {}, lora_bias: false, megatron_config: null,
  megatron_core: 'megatron.core', modules_to_save: null, peft_type: 'LORA', peft_version: '0.17.1', qalora_group_size: 16,
  rank_pattern: {}, revision: null, target_parameters: null, task_type: 'CAUSAL_LM', trainable_token_indices: null,
  use_dora: false, use_qalora: false, use_rslora: false,
};

export interface Project {
  dir: string;
  recipe: string;
  modelDir: string;
  inventory: ModelInventory;
  /** PEFT keys of the adapter -> shape (A, B; DoRA magnitudes [out]; trained biases). */
  shapes: Map<string, number[]>;
  /** Elements of the trained base biases (part of the model's total already). */
  biasElements: number;
}

/**
 * Data rows of lengths 4..maxLen: a third without `labels` (train on every token), a third with a masked prompt,
 * a third with -100 scattered inside; token ids avoid 0..3 (special tokens of the fixture tokenizers).
 */
export function makeRows(rng: Rng, vocab: number, n: number, minLen: number, maxLen: number): Row[] {
  const rows: Row[] = [];
  for (let i = 0; i < n; i++) {
    const len = minLen + ((i * 5 + 3) % (maxLen - minLen + 1));
    const ids = Array.from({ length: len }, () => 4 + rng.int(vocab - 4));
    if (i % 3 === 0) rows.push({ input_ids: ids });
    else if (i % 3 === 1) rows.push({ input_ids: ids, labels: ids.map((t, j) => (j < 3 ? -100 : t)) });
    else rows.push({ input_ids: ids, labels: ids.map((t, j) => (j % 4 === 2 ? -100 : t)) });
  }
  return rows;
}

const yamlRecipe = (c: ParityCase, runName: string): string => `base_model: ./model
adapter_config: ./adapter_config.json
init_adapter: ./init_adapter
dataset:
  train: data/train.jsonl
  format: tokenized
  max_length: ${c.maxLength}
  packing: false
  shuffle: false
training:
  max_steps: ${c.steps}
  per_device_train_batch_size: ${c.microBatch}
  gradient_accumulation_steps: ${c.accumulation}
  learning_rate: ${c.lr}
  lr_scheduler_type: constant
  warmup_steps: 0
  weight_decay: ${c.weightDecay}
  adam_beta1: 0.9
  adam_beta2: 0.999
  adam_epsilon: 1.0e-8
  max_grad_norm: ${c.maxGradNorm}
  seed: 42
  logging_steps: ${c.loggingSteps ?? 1}
device: cpu
output_dir: runs
run_name: ${runName}
`;

/** Writes the whole project into `dir`; returns the recipe path. The init adapter is seeded N(0, 0.2²) in A and B. */
export async function writeProject(dir: string, c: ParityCase, seed: number): Promise<Project> {
  const modelDir = path.join(dir, 'model');
  const inventory = await tinyModel(c.arch, modelDir, c.overrides);
  if (c.noTokenizer === true) for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) fs.rmSync(path.join(modelDir, f));
  const adapterConfig = {
    ...(c.fullDump === true ? PEFT_SAVED_DEFAULTS : {}),
    peft_type: 'LORA', task_type: 'CAUSAL_LM', r: c.r, lora_alpha: c.alpha, lora_dropout: 0.0, target_modules: c.targetModules, bias: c.bias ?? 'none',
    ...(c.useDora === true ? { use_dora: true } : {}),
    ...(c.modulesToSave !== undefined ? { modules_to_save: c.modulesToSave } : {}),
    ...(c.trainableTokens !== undefined ? { trainable_token_indices: c.trainableTokens } : {}),
    ...(c.loraBias === true ? { lora_bias: true } : {}),
  };
  fs.writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify(adapterConfig, null, 2));
  const mods = inventory.modules.filter((m) => (m.kind === 'linear' || m.kind === 'conv1d' || m.kind === 'embedding') && c.targetModules.some((t) => m.name === t || m.name.endsWith(`.${t}`)));
  const shapes = new Map<string, number[]>();
  const rng = new Rng(seed);
  const tensors = mods.flatMap((m) => {
    const a: [number, number] = [c.r, m.inFeatures];
    const b: [number, number] = [m.outFeatures, c.r];
    const key = `base_model.model.${m.name}`;
    // PEFT's keys: lora_A.weight / lora_B.weight, or (embeddings, nn.Parameter) lora_embedding_A / lora_embedding_B.
    const names = m.kind === 'embedding' ? [`${key}.lora_embedding_A`, `${key}.lora_embedding_B`] : [`${key}.lora_A.weight`, `${key}.lora_B.weight`];
    return ([[names[0]!, a], [names[1]!, b]] as const).map(([name, shape]) => {
      shapes.set(name, shape);
      const data = new Float32Array(shape[0] * shape[1]);
      rng.fillNormal(data, 0, 0.2);
      return { name, dtype: 'F32' as const, shape: [...shape], data };
    });
  });
  if (c.useDora === true) for (const m of mods) shapes.set(`base_model.model.${m.name}.lora_magnitude_vector`, [m.outFeatures]);
  if (c.loraBias === true) for (const m of mods) shapes.set(`base_model.model.${m.name}.lora_B.bias`, [m.outFeatures]);
  // PEFT's keys of trained biases: <module>.base_layer.bias where LoRA wraps the module, the parameter's name elsewhere.
  let biasElements = 0;
  const adapted = new Set(mods.map((m) => m.name));
  const biasParams = c.bias === 'all' ? inventory.parameters.filter((q) => q.name.endsWith('.bias'))
    : c.bias === 'lora_only' ? inventory.parameters.filter((q) => q.name.endsWith('.bias') && adapted.has(q.name.slice(0, -5))) : [];
  for (const q of biasParams) {
    const mod = q.name.slice(0, -5);
    shapes.set(`base_model.model.${adapted.has(mod) ? `${mod}.base_layer.bias` : q.name}`, q.shape);
    biasElements += q.shape.reduce((x, y) => x * y, 1);
  }
  if (c.initExtras === true) {
    // Magnitudes and biases as a PEFT save would hold them: positive norms-sized vectors, biases near the base's.
    const base = new Map([...readSafetensorsHeader(path.join(modelDir, 'model.safetensors')).tensors].map(([k, e]) => [k, e]));
    for (const [key, shape] of shapes) {
      if (!key.endsWith('.lora_magnitude_vector') && !key.endsWith('.bias')) continue;
      const data = new Float32Array(shape.reduce((x, y) => x * y, 1));
      if (key.endsWith('.lora_magnitude_vector')) for (let i = 0; i < data.length; i++) data[i] = 0.5 + rng.uniform();
      else {
        const name = key.slice('base_model.model.'.length).replace('.base_layer.bias', '.bias');
        const e = base.get(name) ?? base.get(name.replace(/^transformer\./, ''));
        const b0 = e !== undefined ? readTensorAsFloat32(e) : new Float32Array(data.length);
        for (let i = 0; i < data.length; i++) data[i] = b0[i]! + 0.05 * (rng.uniform() - 0.5);
      }
      tensors.push({ name: key, dtype: 'F32' as const, shape: [...shape], data });
    }
  }
  tensors.push(...copyTensors(inventory, c.modulesToSave ?? [], shapes, rng));
  if (c.trainableTokens !== undefined) tensors.push(tokenDelta(inventory, c.trainableTokens, shapes, rng));
  fs.mkdirSync(path.join(dir, 'init_adapter'), { recursive: true });
  writeSafetensors(path.join(dir, 'init_adapter', 'adapter_model.safetensors'), tensors, { format: 'pt' });
  fs.writeFileSync(path.join(dir, 'init_adapter', 'adapter_config.json'), JSON.stringify({ ...adapterConfig, base_model_name_or_path: modelDir }, null, 2));
  fs.mkdirSync(path.join(dir, 'data'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'data', 'train.jsonl'), c.rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  const recipe = path.join(dir, 'peft-train.yaml');
  fs.writeFileSync(recipe, yamlRecipe(c, 'parity'));
  return { dir, recipe, modelDir, inventory, shapes, biasElements };
}

/** modules_to_save copies (PEFT endswith matching over the leaf modules here) as base + noise, in PEFT's saved keys. */
function copyTensors(inv: ModelInventory, entries: string[], shapes: Map<string, number[]>, rng: Rng): { name: string; dtype: 'F32'; shape: number[]; data: Float32Array<ArrayBuffer> }[] {
  const base = new Map([...readSafetensorsHeader(path.join(inv.dir, 'model.safetensors')).tensors]);
  const out: { name: string; dtype: 'F32'; shape: number[]; data: Float32Array<ArrayBuffer> }[] = [];
  for (const m of inv.modules.filter((x) => entries.some((e) => x.name.endsWith(e)))) {
    for (const [part, src] of [['weight', m.weightKey], ['bias', m.biasKey]] as const) {
      if (src === null) continue;
      const e = base.get(src)!;
      const data = Float32Array.from(readTensorAsFloat32(e));
      const noise = new Float32Array(data.length);
      rng.fillNormal(noise, 0, 0.05);
      for (let i = 0; i < data.length; i++) data[i] = data[i]! + noise[i]!;
      const name = `base_model.model.${m.name}.${part}`;
      shapes.set(name, [...e.shape]);
      out.push({ name, dtype: 'F32', shape: [...e.shape], data });
    }
  }
  return out;
}

/** The TrainableTokens delta of the input embedding: its rows `idx` + noise, under PEFT's saved key. */
function tokenDelta(inv: ModelInventory, idx: number[], shapes: Map<string, number[]>, rng: Rng): { name: string; dtype: 'F32'; shape: number[]; data: Float32Array<ArrayBuffer> } {
  const m = inv.modules.find((x) => x.kind === 'embedding')!;
  const w = readTensorAsFloat32(readSafetensorsHeader(path.join(inv.dir, 'model.safetensors')).tensors.get(m.weightKey)!);
  const dim = m.outFeatures;
  const data = new Float32Array(idx.length * dim);
  idx.forEach((r, j) => data.set(w.subarray(r * dim, (r + 1) * dim), j * dim));
  const noise = new Float32Array(data.length);
  rng.fillNormal(noise, 0, 0.05);
  for (let i = 0; i < data.length; i++) data[i] = data[i]! + noise[i]!;
  const name = `base_model.model.${m.name}.token_adapter.trainable_tokens_delta`;
  shapes.set(name, [idx.length, dim]);
  return { name, dtype: 'F32', shape: [idx.length, dim], data };
}

/** Another recipe beside the first (same model, data, adapters) with a different logging_steps and run_name. */
export function writeVariant(p: Project, c: ParityCase, file: string, runName: string): string {
  const recipe = path.join(p.dir, file);
  fs.writeFileSync(recipe, yamlRecipe(c, runName));
  return recipe;
}

export interface RefStep {
  loss: number;
  grad_norm: number;
  label_tokens: number;
  lr: number;
  epoch: number;
  examples: number[];
}

export interface RefRun {
  steps: RefStep[];
  adapter: Map<string, Float32Array>;
  modules: { name: string; r: number; alpha: number; scaling: number }[];
}

/** Runs test/reference/trainer_ref.py on the recipe (PyTorch, fp32). */
export function runTrainerRef(p: Project): RefRun {
  const out = path.join(p.dir, 'ref.json');
  const adapter = path.join(p.dir, 'ref_adapter.safetensors');
  const r = spawnSync(PYTHON, [TRAINER_REF, p.recipe, out, '--output-adapter', adapter], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '2' } });
  if (r.status !== 0) throw new Error(`trainer_ref.py failed (${r.status}): ${r.stderr}`);
  const json = JSON.parse(fs.readFileSync(out, 'utf8')) as { steps: RefStep[]; modules: RefRun['modules'] };
  return { steps: json.steps, modules: json.modules, adapter: readAll(adapter) };
}

export function readAll(file: string): Map<string, Float32Array> {
  return new Map([...readSafetensorsHeader(file).tensors].map(([k, e]) => [k, readTensorAsFloat32(e)]));
}

/** max |a - b| / max |b| over one tensor. */
export function maxRelToPeak(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let peak = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    peak = Math.max(peak, Math.abs(b[i]!));
  }
  return diff / peak;
}

/** Largest elementwise |a - b| / (|b| + atol): numpy allclose's rtol needed with that atol. */
export function elementwiseRtol(a: Float32Array, b: Float32Array, atol: number): number {
  let worst = 0;
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, (Math.abs(a[i]! - b[i]!) - atol) / Math.abs(b[i]!));
  return Math.max(0, worst);
}
