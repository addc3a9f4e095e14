// A saved PEFT LoRA adapter (adapter_config.json + adapter_model.safetensors) matched to its base model: which weight
// each A/B pair adapts, with PEFT's per-module scaling (rank_pattern, alpha_pattern, use_rslora), and W + s·B·A.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError, withFile } from '../errors';
import type { ModelInventory, ModuleInfo } from '../hf/types';
import { readAdapterConfigFile } from '../peft/adapterFile';
import type { LoraConfig } from '../peft/loraConfig';
import { resolveTargets } from '../peft/resolve';
import { savedModuleParams, tokenDeltaParams, type SavedModuleParam } from '../peft/savedModules';
import { targetKeys } from '../models/lora';
import { openCheckpoint } from '../safetensors/checkpoint';
import { readTensorAsFloat32 } from '../safetensors/read';
import type { TensorEntry } from '../safetensors/types';
import { magnitudeKey, scaleMergedRows } from '../models/dora';
import { loraBiasKey } from '../models/lora';

export interface AdapterModule {
  module: ModuleInfo;
  r: number;
  alpha: number;
  /** alpha / r, or alpha / sqrt(r) with use_rslora (PEFT). */
  scaling: number;
  /** lora_A.weight [r, in] and lora_B.weight [out, r] in the adapter file (read on demand). */
  aEntry: TensorEntry;
  bEntry: TensorEntry;
  /** use_dora: lora_magnitude_vector [out]. */
  magEntry?: TensorEntry;
  /** lora_bias: lora_B.bias [out] (merged into the base bias as s·b). */
  loraBiasEntry?: TensorEntry;
}

export interface LoadedAdapter {
  dir: string;
  config: LoraConfig;
  /** Adapted modules keyed by the checkpoint key of the weight they change (module.weightKey). */
  byWeight: Map<string, AdapterModule>;
  modules: AdapterModule[];
  /** Trained base biases (bias: lora_only / all), keyed by the base checkpoint key they replace. */
  biases: Map<string, TensorEntry>;
  /** lora_bias: the adapted modules keyed by the checkpoint key of their base bias (merge adds s·lora_B.bias). */
  byBias: Map<string, AdapterModule>;
  /**
   * modules_to_save copies (base_model.model.<module>.weight/.bias) that replace the base tensors, then
   * trainable_token_indices deltas (param.tokens: rows of the base tensor they overwrite).
   */
  copies: AdapterCopy[];
}

export interface AdapterCopy {
  param: SavedModuleParam;
  entry: TensorEntry;
  /** A copy of a tied lm_head: a new tensor `lm_head.weight` (the embedding it was copied from stays as it is). */
  untiesHead: boolean;
}

export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';

export interface LoadAdapterOptions {
  /** What the adapter is loaded for, in messages about what is not supported (default "merge/export"). */
  use?: string;
  /** Accept LoRA on a tied output head (generation applies it unmerged; merging it would change the embeddings). */
  allowTiedHead?: boolean;
  /** Read modules_to_save copies into `copies` (merge, generation); refused otherwise (GGUF export). */
  copies?: boolean;
  /** Accept LoRA on embedding layers (merge, generation); refused otherwise (GGUF export). */
  embeddings?: boolean;
}

/**
 * Reads `dir`'s adapter config and weights and matches them to `inv` with PEFT's targeting rules. Every adapted
 * module must have its lora_A/lora_B with the shapes r×in / out×r; adapter tensors this code cannot fold into
 * plain weights (LoRA biases on lora_B, embedding LoRA, modules_to_save copies) are refused by name; DoRA magnitudes and
 * trained base biases are read beside the pairs.
 */
export function loadAdapter(dir: string, inv: ModelInventory, opts: LoadAdapterOptions = {}): LoadedAdapter {
  const use = opts.use ?? 'merge/export';
  const abs = path.resolve(dir);
  const configFile = path.join(abs, 'adapter_config.json');
  if (!fs.existsSync(configFile)) {
    throw new InputError('adapter-no-config', 'no adapter_config.json in the adapter folder', { file: abs, hint: 'Give the folder a training run wrote (RUN_DIR/adapter or a checkpoint), or one saved by PEFT\'s save_pretrained()' });
  }
  const { config } = readAdapterConfigFile(configFile);
  if (config.peft_type !== null && config.peft_type !== 'LORA') {
    throw new InputError('adapter-not-lora', `peft_type is "${String(config.peft_type)}"; only LoRA adapters are supported by ${use}`, { file: configFile });
  }
  const unsupported: [boolean, string][] = [
    [opts.copies !== true && config.modules_to_save !== null && config.modules_to_save.length > 0, 'modules_to_save'],
    [opts.copies !== true && config.trainable_token_indices !== null, 'trainable_token_indices'],
  ];
  for (const [on, what] of unsupported) {
    if (on) throw new InputError('adapter-unsupported', `${what} is not supported by ${use} yet`, { file: configFile, hint: 'Export a plain LoRA adapter (A/B pairs on linear layers)' });
  }
  const weightsFile = path.join(abs, ADAPTER_WEIGHTS_FILE);
  if (!fs.existsSync(weightsFile)) {
    throw new InputError('adapter-no-weights', `no ${ADAPTER_WEIGHTS_FILE} in the adapter folder`, { file: abs, hint: 'Only safetensors adapters are read; convert adapter_model.bin with PEFT (save_pretrained(safe_serialization=True))' });
  }
  const ckpt = openCheckpoint(weightsFile);
  const { targets } = withFile(configFile, () => resolveTargets(config, inv));
  const used = new Set<string>();
  const modules: AdapterModule[] = [];
  for (const t of targets) {
    const m = t.module;
    if (m.kind !== 'linear' && m.kind !== 'conv1d' && !(m.kind === 'embedding' && opts.embeddings === true)) {
      throw new InputError('adapter-unsupported', `LoRA on a ${m.kind} module is not supported by ${use} yet`, { file: configFile, tensor: m.name });
    }
    // Embedding LoRA: lora_embedding_A [r, num_embeddings] / lora_embedding_B [dim, r] (nn.Parameter: no `.weight`).
    const [aKey, bKey] = targetKeys(t);
    const a = ckpt.tensors.get(aKey);
    const b = ckpt.tensors.get(bKey);
    if (a === undefined || b === undefined) {
      const what = `lora_${m.kind === 'embedding' ? 'embedding_' : ''}${a === undefined ? 'A' : 'B'}`;
      throw new InputError('adapter-missing-tensor', `the adapter config targets ${m.name} but the weights have no ${what} for it`, {
        file: weightsFile, tensor: a === undefined ? aKey : bKey, hint: 'Is this adapter_config.json the one saved with these weights, for this base model?',
      });
    }
    const expectA = [t.r, m.inFeatures];
    const expectB = [m.outFeatures, t.r];
    for (const [e, want] of [[a, expectA], [b, expectB]] as const) {
      if (e.shape.length !== 2 || e.shape[0] !== want[0] || e.shape[1] !== want[1]) {
        throw new InputError('adapter-shape', 'LoRA tensor shape does not fit the base model and adapter config (an adapter trained for another base model?)', { file: weightsFile, tensor: e.name, expected: `[${want.join(', ')}]`, actual: `[${e.shape.join(', ')}]` });
      }
    }
    used.add(a.name).add(b.name);
    const mag = config.use_dora ? ckpt.tensors.get(magnitudeKey(m.name)) : undefined;
    if (config.use_dora) {
      if (mag === undefined) {
        throw new InputError('adapter-missing-tensor', `the adapter config sets use_dora but the weights have no lora_magnitude_vector for ${m.name}`, { file: weightsFile, tensor: magnitudeKey(m.name) });
      }
      if (mag.shape.length !== 1 || mag.shape[0] !== m.outFeatures) {
        throw new InputError('adapter-shape', 'DoRA magnitude shape does not fit the base model', { file: weightsFile, tensor: mag.name, expected: `[${m.outFeatures}]`, actual: `[${mag.shape.join(', ')}]` });
      }
      used.add(mag.name);
    }
    const lb = config.lora_bias ? ckpt.tensors.get(loraBiasKey(m.name)) : undefined;
    if (config.lora_bias) {
      if (lb === undefined || lb.shape.length !== 1 || lb.shape[0] !== m.outFeatures) {
        throw new InputError(lb === undefined ? 'adapter-missing-tensor' : 'adapter-shape', `the adapter config sets lora_bias but ${m.name} has no lora_B.bias of shape [${m.outFeatures}]`, { file: weightsFile, tensor: loraBiasKey(m.name) });
      }
      used.add(lb.name);
    }
    modules.push({ module: m, r: t.r, alpha: t.alpha, scaling: t.scaling, aEntry: a, bEntry: b, ...(mag !== undefined ? { magEntry: mag } : {}), ...(lb !== undefined ? { loraBiasEntry: lb } : {}) });
  }
  const copies: AdapterCopy[] = [];
  const adapted = new Set(modules.map((m) => m.module.name));
  const wanted = opts.copies !== true ? [] : [...savedModuleParams({ ...config, ensure_weight_tying: false }, inv, adapted), ...tokenDeltaParams(config, inv, adapted)];
  for (const param of wanted) {
    const e = ckpt.tensors.get(param.key);
    if (e === undefined) {
      throw new InputError('adapter-missing-tensor', `modules_to_save covers ${param.param} but the weights have no ${param.key}`, {
        file: weightsFile, tensor: param.key, hint: 'Is this adapter_config.json the one saved with these weights, for this base model?',
      });
    }
    if (e.shape.length !== param.shape.length || e.shape.some((d, i) => d !== param.shape[i])) {
      throw new InputError('adapter-shape', 'modules_to_save tensor shape does not fit the base model (an adapter trained for another base model?)', { file: weightsFile, tensor: e.name, expected: `[${param.shape.join(', ')}]`, actual: `[${e.shape.join(', ')}]` });
    }
    used.add(e.name);
    copies.push({ param, entry: e, untiesHead: param.tokens === undefined && param.param === 'lm_head.weight' && param.source !== 'lm_head.weight' });
  }
  // PEFT's save_pretrained also writes the base embedding (…embed_tokens.base_layer.weight) when an embedding is in
  // target_modules (save_embedding_layers="auto"): a copy of the base, not needed to apply the adapter.
  for (const m of modules) if (m.module.kind === 'embedding') used.add(`base_model.model.${m.module.name}.base_layer.weight`);
  const biases = trainedBiases(ckpt.tensors, inv, weightsFile, used);
  const extra = [...ckpt.tensors.keys()].filter((k) => !used.has(k));
  if (extra.length > 0) {
    throw new InputError('adapter-extra-tensor', `the adapter holds ${extra.length} tensor(s) that its config does not target (first: ${extra[0]})`, {
      file: weightsFile, tensor: extra[0]!, hint: 'lora_B biases (lora_bias), embedding LoRA and modules_to_save copies cannot be read yet; otherwise check that adapter_config.json belongs to these weights',
    });
  }
  const byWeight = new Map<string, AdapterModule>();
  const byBias = new Map<string, AdapterModule>();
  for (const m of modules) {
    const tiedHead = m.module.isOutputHead && m.module.weightKey !== `${m.module.name}.weight`;
    if (tiedHead && opts.allowTiedHead !== true) {
      throw new InputError('adapter-tied-head', 'LoRA on the output head of a model with tied embeddings cannot be merged (it would change the input embeddings too)', { file: configFile, tensor: m.module.name });
    }
    byWeight.set(m.module.weightKey, m);
    if (m.loraBiasEntry !== undefined && m.module.biasKey !== null) byBias.set(m.module.biasKey, m);
  }
  return { dir: abs, config, byWeight, modules, biases, byBias, copies };
}

/**
 * Bias tensors of the adapter file (bias: lora_only / all): `base_model.model.<module>.base_layer.bias` or
 * `base_model.model.<name>.bias`, matched to the base checkpoint's bias they replace (shapes checked).
 */
function trainedBiases(tensors: Map<string, TensorEntry>, inv: ModelInventory, file: string, used: Set<string>): Map<string, TensorEntry> {
  const byName = new Map<string, { key: string | null; shape: number[] }>(inv.parameters.map((p) => [p.name, { key: p.checkpointKey, shape: p.shape }]));
  for (const m of inv.modules) if (m.biasKey !== null) byName.set(`${m.name}.bias`, { key: m.biasKey, shape: [m.outFeatures] });
  const out = new Map<string, TensorEntry>();
  for (const [k, e] of tensors) {
    if (used.has(k) || !k.startsWith('base_model.model.') || !k.endsWith('.bias') || k.includes('.lora_')) continue; // a modules_to_save copy's bias is the copy's
    const name = k.slice('base_model.model.'.length).replace(/\.base_layer\.bias$/, '.bias');
    const p = byName.get(name);
    if (p === undefined || p.key === null) continue;
    if (e.shape.length !== p.shape.length || e.shape.some((d, i) => d !== p.shape[i])) {
      throw new InputError('adapter-shape', 'trained bias shape does not fit the base model', { file, tensor: k, expected: `[${p.shape.join(', ')}]`, actual: `[${e.shape.join(', ')}]` });
    }
    out.set(p.key, e);
    used.add(k);
  }
  return out;
}

export function readLoraFactors(m: AdapterModule): { a: Float32Array; b: Float32Array } {
  return { a: readTensorAsFloat32(m.aEntry), b: readTensorAsFloat32(m.bEntry) };
}

/**
 * The base bias with lora_B's bias merged (lora/layer.py Linear.merge: bias + s·lora_B.bias), in place. A module
 * without a base bias has nothing to merge it into: refused (merging would drop the trained lora_B bias).
 */
export function mergeLoraBias(bias: Float32Array, m: AdapterModule): Float32Array {
  const lb = readTensorAsFloat32(m.loraBiasEntry!);
  for (let i = 0; i < bias.length; i++) bias[i] = bias[i]! + m.scaling * lb[i]!;
  return bias;
}

/** Modules whose lora_B bias has no base bias to merge into. */
export function unmergeableLoraBias(adapter: LoadedAdapter): AdapterModule | undefined {
  return adapter.modules.find((m) => m.loraBiasEntry !== undefined && m.module.biasKey === null);
}

/** W + s·B·A, and with DoRA each output row of it times m / ||W + s·B·A|| (PEFT's merge_safe), in place. */
export function mergeModule(w: Float32Array, m: AdapterModule): Float32Array {
  const { a, b } = readLoraFactors(m);
  mergeInto(w, m, a, b);
  return m.magEntry !== undefined ? scaleMergedRows(w, m, readTensorAsFloat32(m.magEntry)) : w;
}

/**
 * W + scaling·B·A in place, in the checkpoint's layout: Linear W [out, in]; GPT-2 Conv1D W [in, out] and embeddings
 * [num, dim] get the transposed delta (PEFT's merge with fan_in_fan_out). B·A is accumulated in float64, then added and rounded once.
 */
export function mergeInto(w: Float32Array, m: AdapterModule, a: Float32Array, b: Float32Array): Float32Array {
  const out = m.module.outFeatures;
  const inF = m.module.inFeatures;
  const r = m.r;
  const s = m.scaling;
  // Conv1D W [in, out] and Embedding W [num_embeddings, dim] take the transposed delta ((B·A)ᵀ, PEFT's get_delta_weight).
  const conv = m.module.kind === 'conv1d' || m.module.kind === 'embedding';
  const row = new Float64Array(inF);
  for (let o = 0; o < out; o++) {
    row.fill(0);
    for (let k = 0; k < r; k++) {
      const bk = b[o * r + k]! * s;
      if (bk === 0) continue;
      const off = k * inF;
      for (let i = 0; i < inF; i++) row[i]! += bk * a[off + i]!;
    }
    if (conv) for (let i = 0; i < inF; i++) w[i * out + o] = w[i * out + o]! + row[i]!;
    else for (let i = 0, base = o * inF; i < inF; i++) w[base + i] = w[base + i]! + row[i]!;
  }
  return w;
}
