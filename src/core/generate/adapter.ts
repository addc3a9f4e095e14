// A saved PEFT LoRA adapter (adapter_config.json + adapter_model.safetensors) read against a base model for
// generation: per-module A [r, in] and B [out, r] with PEFT's scaling, checked tensor by tensor against the base.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../errors';
import type { ModelInventory, ModuleInfo } from '../hf/types';
import { readAdapterConfigFile } from '../peft/adapterFile';
import { loraScaling } from '../peft/loraConfig';
import { patternValue } from '../peft/match';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS } from '../train/runFolder';
import { readSafetensorsHeader, readTensorAsFloat32, readTensorBytes } from '../safetensors/read';
import type { TensorEntry } from '../safetensors/types';


export interface AdapterModule {
  module: ModuleInfo;
  r: number;
  /** lora_alpha / r (or / sqrt(r) with use_rslora), alpha_pattern applied. */
  scaling: number;
  /** [r, in], row-major. */
  a: Float32Array;
  /** B · scaling [out, r], row-major: PEFT's scaling folded in (the graph adds x·Aᵀ·(sB)ᵀ). */
  b: Float32Array;
}

export interface LoadedAdapter {
  dir: string;
  /** Adapted modules by module name (model.layers.0.self_attn.q_proj). */
  modules: Map<string, AdapterModule>;
}

const KEY = /^base_model\.model\.(.+)\.lora_([AB])(?:\.default)?\.weight$/;

/** F32 tensors as a view of the bytes read (no second copy); other dtypes converted. */
function readFloat32(entry: TensorEntry): Float32Array {
  if (entry.dtype !== 'F32') return readTensorAsFloat32(entry);
  const bytes = readTensorBytes(entry); // its own ArrayBuffer at offset 0 (aligned)
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
}

const shapeText = (s: readonly number[]): string => `[${s.join(', ')}]`;

/** Reads an adapter folder (or its adapter_config.json / adapter_model.safetensors, or a run folder) for `inv`'s model. */
export function loadAdapter(dirOrFile: string, inv: ModelInventory): LoadedAdapter {
  const abs = path.resolve(dirOrFile);
  const given = fs.existsSync(abs) && fs.statSync(abs).isFile() ? path.dirname(abs) : abs;
  // A training run folder stands for its final adapter (RUN_DIR/adapter).
  const dir = !fs.existsSync(path.join(given, ADAPTER_CONFIG)) && fs.existsSync(path.join(given, 'adapter', ADAPTER_CONFIG)) ? path.join(given, 'adapter') : given;
  const weightsFile = path.join(dir, ADAPTER_WEIGHTS);
  if (!fs.existsSync(path.join(dir, ADAPTER_CONFIG)) || !fs.existsSync(weightsFile)) {
    throw new InputError('generate.adapterMissing', `not an adapter folder: it needs ${ADAPTER_CONFIG} and ${ADAPTER_WEIGHTS}`, {
      file: dir, hint: 'Give the folder PEFT\'s save_pretrained() or a training run wrote (a run\'s adapter/ or a checkpoint folder)',
    });
  }
  const cfg = readAdapterConfigFile(path.join(dir, ADAPTER_CONFIG)).config;
  if (cfg.peft_type !== null && cfg.peft_type !== 'LORA') {
    throw new InputError('generate.adapterType', `peft_type ${cfg.peft_type} is not supported for generation`, { file: path.join(dir, ADAPTER_CONFIG), hint: 'Only LoRA adapters can be loaded' });
  }
  if (cfg.use_dora) throw new InputError('generate.adapterDora', 'DoRA adapters (use_dora) are not supported for generation yet', { file: path.join(dir, ADAPTER_CONFIG) });
  const header = readSafetensorsHeader(weightsFile);
  const byName = new Map(inv.modules.map((m) => [m.name, m]));
  const parts = new Map<string, { a?: Float32Array; b?: Float32Array; aShape?: number[]; bShape?: number[] }>();
  for (const [key, entry] of header.tensors) {
    const m = KEY.exec(key);
    if (m === null) {
      throw new InputError('generate.adapterTensor', 'this adapter tensor is not a LoRA A/B weight; only plain LoRA on Linear/Conv1D layers can be loaded', { file: weightsFile, tensor: key });
    }
    const [, name, which] = m as unknown as [string, string, 'A' | 'B'];
    const module = byName.get(name);
    if (module === undefined || (module.kind !== 'linear' && module.kind !== 'conv1d')) {
      throw new InputError('generate.adapterBase', `the base model (${inv.spec.modelType}) has no Linear/Conv1D module "${name}": the adapter was trained for another base model`, { file: weightsFile, tensor: key });
    }
    const p = parts.get(name) ?? {};
    if (which === 'A') p.aShape = entry.shape;
    else p.bShape = entry.shape;
    parts.set(name, p);
    const r = entry.shape[which === 'A' ? 0 : 1];
    const expected = which === 'A' ? [r ?? -1, module.inFeatures] : [module.outFeatures, r ?? -1];
    if (entry.shape.length !== 2 || entry.shape[0] !== expected[0] || entry.shape[1] !== expected[1]) {
      throw new InputError('generate.adapterShape', 'the adapter was trained for another base model: this tensor does not fit the base model\'s module', {
        file: weightsFile, tensor: key, expected: `${shapeText(expected)} for ${name} (${module.inFeatures} -> ${module.outFeatures})`, actual: shapeText(entry.shape),
      });
    }
    if (which === 'A') p.a = readFloat32(entry);
    else p.b = readFloat32(entry);
  }
  const modules = new Map<string, AdapterModule>();
  for (const [name, p] of parts) {
    if (p.a === undefined || p.b === undefined) {
      throw new InputError('generate.adapterIncomplete', `module ${name} has only one of lora_A / lora_B`, { file: weightsFile });
    }
    const r = p.aShape![0]!;
    if (p.bShape![1] !== r) {
      throw new InputError('generate.adapterShape', `lora_A and lora_B of ${name} disagree on the rank`, { file: weightsFile, expected: `B [out, ${r}]`, actual: shapeText(p.bShape!) });
    }
    const alpha = patternValue(cfg.alpha_pattern, name, cfg.lora_alpha);
    const scaling = loraScaling(alpha, r, cfg.use_rslora);
    for (let i = 0; i < p.b.length; i++) p.b[i] = p.b[i]! * scaling;
    modules.set(name, { module: byName.get(name)!, r, scaling, a: p.a, b: p.b });
  }
  if (modules.size === 0) throw new InputError('generate.adapterEmpty', 'the adapter holds no LoRA weights', { file: weightsFile });
  return { dir, modules };
}
