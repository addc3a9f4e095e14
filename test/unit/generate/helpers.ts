// Test helpers for the generation suites: a PEFT adapter folder for a fixture model, and greedy generation by the
// PyTorch reference (test/reference/torch_ref.py, mode "generate": full recomputation, no KV cache).
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Generator } from '../../../src/core/generate/generator';
import type { GenerateResult } from '../../../src/core/generate/types';
import type { ModelInventory } from '../../../src/core/hf/types';
import { openCheckpoint } from '../../../src/core/safetensors/checkpoint';
import { readSafetensorsHeader, readTensorAsFloat32 } from '../../../src/core/safetensors/read';
import { writeSafetensors } from '../../../src/core/safetensors/write';
import { Rng } from '../../../src/core/util/random';
import type { LoraTarget } from '../../../src/core/train/engineApi';
import { PYTHON, REFERENCE, randomState, targetsFor, writeAdapter } from '../train/engineHelpers';

export interface AdapterFolder {
  dir: string;
  targets: LoraTarget[];
  /** modules_to_save tensors of the adapter: PEFT key and the HF parameter they replace. */
  copies?: { key: string; param: string }[];
  /** trainable_token_indices deltas: PEFT key, the wrapped module and its token rows. */
  tokens?: { key: string; module: string; rows: number[] }[];
}

/** adapter_config.json + adapter_model.safetensors with non-zero A and B on modules ending with `suffixes`. */
export function writeAdapterFolder(dir: string, inv: ModelInventory, suffixes: string[], r = 4, alpha = 8, seed = 3): AdapterFolder {
  fs.mkdirSync(dir, { recursive: true });
  const targets = targetsFor(inv, suffixes, r, alpha);
  writeAdapter(path.join(dir, 'adapter_model.safetensors'), randomState(targets, seed));
  fs.writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify({
    peft_type: 'LORA', task_type: 'CAUSAL_LM', r, lora_alpha: alpha, target_modules: suffixes, base_model_name_or_path: inv.dir,
  }));
  return { dir, targets };
}

export interface RefGeneration {
  token_ids: number[];
  logprobs: number[];
}

/** Greedy generations of the reference: for each adapter (null = base), for each prompt. */
export function referenceGenerate(inv: ModelInventory, prompts: number[][], maxNewTokens: number, adapters: (AdapterFolder | null)[], work: string): RefGeneration[] {
  const job = path.join(work, 'gen-job.json');
  const out = path.join(work, 'gen-out.json');
  fs.writeFileSync(job, JSON.stringify({
    mode: 'generate', model_dir: inv.dir, dtype: 'float32', threads: 1, prompts, max_new_tokens: maxNewTokens,
    adapters: adapters.map((a) => (a === null ? null : {
      path: path.join(a.dir, 'adapter_model.safetensors'), modules: a.targets.map((t) => ({ name: t.module.name, scaling: t.scaling })), copies: a.copies ?? [], tokens: a.tokens ?? [],
    })),
  }));
  const res = spawnSync(PYTHON, [REFERENCE, job, out], { encoding: 'utf8', timeout: 120_000 });
  if (res.status !== 0) throw new Error(`torch_ref.py failed (${res.status}): ${res.stderr || res.error?.message}`);
  return (JSON.parse(fs.readFileSync(out, 'utf8')) as { generations: RefGeneration[] }).generations;
}

/** Greedy generation with the base model and with adapter `adapterDir` on `prompt` (one Generator, disposed). */
export async function generateBaseAndTuned(modelDir: string, adapterDir: string, prompt: number[], maxNewTokens: number, cacheDir: string): Promise<{ base: GenerateResult; tuned: GenerateResult }> {
  const gen = await Generator.open(modelDir, { adapters: [adapterDir], cacheDir, threads: 1 });
  try {
    const base = await gen.generate({ inputIds: prompt, maxNewTokens, ignoreEos: true });
    const tuned = await gen.generate({ inputIds: prompt, maxNewTokens, ignoreEos: true, adapter: gen.adapterIds[0]! });
    return { base, tuned };
  } finally {
    await gen.dispose();
  }
}

/** The generation's tokens equal the reference's and its logprobs are within 1e-4. */
export function assertMatchesReference(got: GenerateResult, ref: RefGeneration, label: string): void {
  assert.deepEqual(got.tokenIds, ref.token_ids, `${label} tokens`);
  const err = Math.max(...got.logprobs.map((lp, j) => Math.abs(lp - ref.logprobs[j]!)));
  assert.ok(err < 1e-4, `${label} logprob error ${err}`);
}

/** Greedy generation from a merged model folder (no adapter). */
export async function generateMerged(modelDir: string, prompt: number[], maxNewTokens: number, cacheDir: string): Promise<number[]> {
  const gen = await Generator.open(modelDir, { cacheDir, threads: 1 });
  try {
    return (await gen.generate({ inputIds: prompt, maxNewTokens, ignoreEos: true })).tokenIds;
  } finally {
    await gen.dispose();
  }
}

/** Adds modules_to_save copies (base + N(0, 0.3²)) of `modules` to an adapter folder; returns their PEFT keys → HF names. */
export function addCopies(a: AdapterFolder, inv: ModelInventory, entries: string[], modules: string[]): Map<string, string> {
  const file = path.join(a.dir, 'adapter_model.safetensors');
  const tensors = [...readSafetensorsHeader(file).tensors.values()].map((e) => ({ name: e.name, dtype: 'F32' as const, shape: [...e.shape], data: Float32Array.from(readTensorAsFloat32(e)) }));
  const base = openCheckpoint(inv.dir).tensors;
  const rng = new Rng(5);
  const keys = new Map<string, string>();
  for (const name of modules) {
    const m = inv.modules.find((x) => x.name === name)!;
    const e = base.get(m.weightKey)!;
    const data = Float32Array.from(readTensorAsFloat32(e));
    const noise = new Float32Array(data.length);
    rng.fillNormal(noise, 0, 0.3);
    for (let i = 0; i < data.length; i++) data[i] = data[i]! + noise[i]!;
    const key = `base_model.model.${name}.weight`;
    tensors.push({ name: key, dtype: 'F32', shape: [...e.shape], data });
    keys.set(key, `${name}.weight`);
    if (m.hasBias && m.biasKey !== null) {
      // PEFT saves the whole module: its bias too.
      const bias = Float32Array.from(readTensorAsFloat32(base.get(m.biasKey)!));
      const bn = new Float32Array(bias.length);
      rng.fillNormal(bn, 0, 0.3);
      tensors.push({ name: `base_model.model.${name}.bias`, dtype: 'F32', shape: [bias.length], data: bias.map((x, i) => x + bn[i]!) });
      keys.set(`base_model.model.${name}.bias`, `${name}.bias`);
    }
  }
  writeSafetensors(file, tensors, { format: 'pt' });
  const cfgFile = path.join(a.dir, 'adapter_config.json');
  fs.writeFileSync(cfgFile, JSON.stringify({ ...JSON.parse(fs.readFileSync(cfgFile, 'utf8')) as object, modules_to_save: entries }));
  return keys;
}

/** addCopies, with the copies recorded on the folder for the reference. */
export function withCopies(a: AdapterFolder, inv: ModelInventory, entries: string[], modules: string[]): AdapterFolder {
  return { ...a, copies: [...(a.copies ?? []), ...[...addCopies(a, inv, entries, modules)].map(([key, param]) => ({ key, param }))] };
}

/** Adds trainable_token_indices rows of `module` (N(0, 1) values) to an adapter folder, for the adapter and the reference. */
export function addTrainableTokens(a: AdapterFolder, inv: ModelInventory, module: string, rows: number[], seed: number): AdapterFolder {
  const H = inv.spec.hiddenSize;
  const delta = new Float32Array(rows.length * H);
  new Rng(seed).fillNormal(delta, 0, 1);
  const key = `base_model.model.${module}.token_adapter.trainable_tokens_delta`;
  appendTensors(a, [{ name: key, shape: [rows.length, H], data: delta }], { trainable_token_indices: rows });
  return { ...a, tokens: [...(a.tokens ?? []), { key, module, rows }] };
}

/** Trains the biases of `modules` (base + N(0, 0.3²)) as bias "all" saves them: base_model.model.<module>.bias. */
export function addTrainedBiases(a: AdapterFolder, inv: ModelInventory, modules: string[], seed: number): AdapterFolder {
  const base = openCheckpoint(inv.dir).tensors;
  const rng = new Rng(seed);
  appendTensors(a, modules.map((name) => {
    const m = inv.modules.find((x) => x.name === name)!;
    const data = Float32Array.from(readTensorAsFloat32(base.get(m.biasKey!)!));
    const noise = new Float32Array(data.length);
    rng.fillNormal(noise, 0, 0.3);
    return { name: `base_model.model.${name}.bias`, shape: [data.length], data: data.map((x, i) => x + noise[i]!) };
  }), { bias: 'all' });
  return a;
}

/** Adds LoRA on embedding `module` (lora_embedding_A [r, V], lora_embedding_B [H, r], both N(0, 1)) to an adapter folder. */
export function addEmbeddingLora(a: AdapterFolder, inv: ModelInventory, module: string, r: number, alpha: number, seed: number): AdapterFolder {
  const m = inv.modules.find((x) => x.name === module)!;
  const rng = new Rng(seed);
  const A = new Float32Array(r * m.inFeatures);
  const B = new Float32Array(m.outFeatures * r);
  rng.fillNormal(A, 0, 1);
  rng.fillNormal(B, 0, 1);
  const cfg = JSON.parse(fs.readFileSync(path.join(a.dir, 'adapter_config.json'), 'utf8')) as { target_modules: string[] };
  appendTensors(a, [
    { name: `base_model.model.${module}.lora_embedding_A`, shape: [r, m.inFeatures], data: A },
    { name: `base_model.model.${module}.lora_embedding_B`, shape: [m.outFeatures, r], data: B },
  ], { target_modules: [...cfg.target_modules, module.split('.').pop()!] });
  return { ...a, targets: [...a.targets, { module: m, r, alpha, scaling: alpha / r }] };
}

/** Appends tensors to the folder's adapter_model.safetensors and merges `config` into its adapter_config.json. */
function appendTensors(a: AdapterFolder, add: { name: string; shape: number[]; data: Float32Array }[], config: Record<string, unknown>): void {
  const file = path.join(a.dir, 'adapter_model.safetensors');
  const tensors = [...readSafetensorsHeader(file).tensors.values()].map((e) => ({ name: e.name, dtype: 'F32' as const, shape: [...e.shape], data: Float32Array.from(readTensorAsFloat32(e)) }));
  writeSafetensors(file, [...tensors, ...add.map((t) => ({ ...t, dtype: 'F32' as const }))], { format: 'pt' });
  const cfgFile = path.join(a.dir, 'adapter_config.json');
  fs.writeFileSync(cfgFile, JSON.stringify({ ...JSON.parse(fs.readFileSync(cfgFile, 'utf8')) as object, ...config }));
}
