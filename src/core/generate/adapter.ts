// A saved PEFT LoRA adapter read for generation: core/export's loader matches it to the base model with PEFT's
// targeting rules (rank/alpha patterns, shapes checked tensor by tensor); here A and B·scaling are read as feeds.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadAdapter as loadPeftAdapter, readLoraFactors } from '../export/adapterWeights';
import type { ModelInventory, ModuleInfo } from '../hf/types';
import { ADAPTER_CONFIG } from '../train/runFolder';
import { InputError } from '../errors';
import { doraMagnitude } from '../models/dora';
import { openCheckpoint } from '../safetensors/checkpoint';
import { readTensorAsFloat32 } from '../safetensors/read';

export interface AdapterModule {
  module: ModuleInfo;
  r: number;
  /** lora_alpha / r (or / sqrt(r) with use_rslora), rank and alpha patterns applied. */
  scaling: number;
  /** [r, in], row-major. */
  a: Float32Array;
  /** B · scaling [out, r], row-major: PEFT's scaling folded in (the graph adds x·Aᵀ·(sB)ᵀ). */
  b: Float32Array;
  /** DoRA: m / ||W + s·B·A|| [out], a constant at inference (computed once at load). */
  doraScale?: Float32Array;
}

export interface LoadedAdapter {
  dir: string;
  /** Adapted modules by module name (model.layers.0.self_attn.q_proj). */
  modules: Map<string, AdapterModule>;
}

/**
 * Reads an adapter folder (or a file in it, or a training run folder: its final adapter/) for `inv`'s model.
 * InputErrors name what does not fit: an adapter trained for another base model (the first tensor whose shape does
 * not fit and both shapes), DoRA, LoRA biases, embedding LoRA, modules_to_save.
 */
export function loadAdapter(dirOrFile: string, inv: ModelInventory): LoadedAdapter {
  const abs = path.resolve(dirOrFile);
  const given = fs.existsSync(abs) && fs.statSync(abs).isFile() ? path.dirname(abs) : abs;
  const dir = !fs.existsSync(path.join(given, ADAPTER_CONFIG)) && fs.existsSync(path.join(given, 'adapter', ADAPTER_CONFIG)) ? path.join(given, 'adapter') : given;
  const peft = loadPeftAdapter(dir, inv, { use: 'generation', allowTiedHead: true });
  if (peft.biases.size > 0 || peft.config.lora_bias) {
    throw new InputError('adapter-unsupported', `the adapter trained ${peft.config.lora_bias ? 'lora_B biases (lora_bias)' : 'base biases (bias: lora_only / all)'}, which generation does not read yet`, {
      file: peft.dir, hint: 'Merge it first (peft-studio merge --model MODEL --adapter DIR OUT) and generate with the merged model',
    });
  }
  const base = peft.modules.some((m) => m.magEntry !== undefined) ? openCheckpoint(inv.dir).tensors : null;
  const modules = new Map<string, AdapterModule>();
  for (const m of peft.modules) {
    const { a, b } = readLoraFactors(m);
    let doraScale: Float32Array | undefined;
    if (m.magEntry !== undefined && base !== null) {
      const w = base.get(m.module.weightKey);
      if (w === undefined) throw new InputError('model-missing-weight', 'the checkpoint has no such tensor', { tensor: m.module.weightKey, file: inv.dir });
      const norms = doraMagnitude(readTensorAsFloat32(w), m, a, b);
      const mag = readTensorAsFloat32(m.magEntry);
      doraScale = mag.map((x, o) => x / norms[o]!);
    }
    for (let i = 0; i < b.length; i++) b[i] = b[i]! * m.scaling;
    modules.set(m.module.name, { module: m.module, r: m.r, scaling: m.scaling, a, b, ...(doraScale !== undefined ? { doraScale } : {}) });
  }
  return { dir: peft.dir, modules };
}
