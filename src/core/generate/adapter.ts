// A saved PEFT LoRA adapter read for generation: core/export's loader matches it to the base model with PEFT's
// targeting rules (rank/alpha patterns, shapes checked tensor by tensor); here A and B·scaling are read as feeds.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadAdapter as loadPeftAdapter, readLoraFactors } from '../export/adapterWeights';
import type { ModelInventory, ModuleInfo } from '../hf/types';
import { ADAPTER_CONFIG } from '../train/runFolder';
import type { SavedModuleParam } from '../peft/savedModules';
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
}

export interface LoadedAdapter {
  dir: string;
  /** Adapted modules by module name (model.layers.0.self_attn.q_proj). */
  modules: Map<string, AdapterModule>;
  /** modules_to_save copies by PEFT key (base_model.model.lm_head.weight): replace the base tensor in the graph. */
  copies: Map<string, { param: SavedModuleParam; data: Float32Array }>;
}

/**
 * Reads an adapter folder (or a file in it, or a training run folder: its final adapter/) for `inv`'s model.
 * InputErrors name what does not fit: an adapter trained for another base model (the first tensor whose shape does
 * not fit and both shapes), DoRA, LoRA biases, embedding LoRA. modules_to_save copies are read whole.
 */
export function loadAdapter(dirOrFile: string, inv: ModelInventory): LoadedAdapter {
  const abs = path.resolve(dirOrFile);
  const given = fs.existsSync(abs) && fs.statSync(abs).isFile() ? path.dirname(abs) : abs;
  const dir = !fs.existsSync(path.join(given, ADAPTER_CONFIG)) && fs.existsSync(path.join(given, 'adapter', ADAPTER_CONFIG)) ? path.join(given, 'adapter') : given;
  const peft = loadPeftAdapter(dir, inv, { use: 'generation', allowTiedHead: true, copies: true, embeddings: true });
  const modules = new Map<string, AdapterModule>();
  for (const m of peft.modules) {
    const { a, b } = readLoraFactors(m);
    for (let i = 0; i < b.length; i++) b[i] = b[i]! * m.scaling;
    modules.set(m.module.name, { module: m.module, r: m.r, scaling: m.scaling, a, b });
  }
  const copies = new Map(peft.copies.map((c) => [c.param.key, { param: c.param, data: readTensorAsFloat32(c.entry) }]));
  return { dir: peft.dir, modules, copies };
}
