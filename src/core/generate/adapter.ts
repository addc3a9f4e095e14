// A saved PEFT LoRA adapter read for generation: core/export's loader matches it to the base model with PEFT's
// targeting rules (rank/alpha patterns, shapes checked tensor by tensor); here A and B·scaling are read as feeds.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadAdapter as loadPeftAdapter, readLoraFactors } from '../export/adapterWeights';
import type { ModelInventory, ModuleInfo } from '../hf/types';
import { ADAPTER_CONFIG } from '../train/runFolder';
import { InputError } from '../errors';
import { doraMagnitude } from '../models/dora';
import type { SavedModuleParam } from '../peft/savedModules';
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
  /** Added to the layer's output [out]: trained bias − base bias (bias: lora_only) + s·lora_B.bias (lora_bias). */
  biasDelta?: Float32Array;
}

export interface LoadedAdapter {
  dir: string;
  /** Adapted modules by module name (model.layers.0.self_attn.q_proj). */
  modules: Map<string, AdapterModule>;
  /**
   * modules_to_save copies by PEFT key (base_model.model.lm_head.weight), and the trained biases of modules the
   * adapter does not adapt (bias "all": base_model.model.<module>.bias): replace the base tensor in the graph.
   */
  copies: Map<string, { param: SavedModuleParam; data: Float32Array }>;
}

/**
 * Reads an adapter folder (or a file in it, or a training run folder: its final adapter/) for `inv`'s model.
 * InputErrors name what does not fit: an adapter trained for another base model (the first tensor whose shape does
 * not fit and both shapes). DoRA magnitudes become a per-module scale, trained biases of adapted modules and lora_B
 * biases an output delta; modules_to_save copies and the other trained biases (bias "all") are read whole.
 */
export function loadAdapter(dirOrFile: string, inv: ModelInventory): LoadedAdapter {
  const abs = path.resolve(dirOrFile);
  const given = fs.existsSync(abs) && fs.statSync(abs).isFile() ? path.dirname(abs) : abs;
  const dir = !fs.existsSync(path.join(given, ADAPTER_CONFIG)) && fs.existsSync(path.join(given, 'adapter', ADAPTER_CONFIG)) ? path.join(given, 'adapter') : given;
  const peft = loadPeftAdapter(dir, inv, { use: 'generation', allowTiedHead: true, copies: true, embeddings: true });
  // Trained biases of adapted modules become an output delta; the others (LayerNorms, unadapted layers: bias "all")
  // replace the base bias as a copy does (the graph reads them in place of the checkpoint's).
  const adaptedBias = new Set(peft.modules.map((m) => m.module.biasKey).filter((k): k is string => k !== null));
  const strayBiases = [...peft.biases].filter(([k]) => !adaptedBias.has(k)).map(([k, entry]) => {
    const m = inv.modules.find((x) => x.biasKey === k);
    if (m === undefined) throw new InputError('adapter-unsupported', `the adapter trained a bias the base model does not have: ${k}`, { file: peft.dir });
    const param: SavedModuleParam = { key: `base_model.model.${m.name}.bias`, param: `${m.name}.bias`, source: k, shape: [...entry.shape], decay: false };
    return [param.key, { param, data: readTensorAsFloat32(entry) }] as const;
  });
  const base = peft.modules.some((m) => m.magEntry !== undefined) || peft.biases.size > 0 ? openCheckpoint(inv.dir).tensors : null;
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
    let biasDelta: Float32Array | undefined;
    const trained = m.module.biasKey !== null ? peft.biases.get(m.module.biasKey) : undefined;
    if (trained !== undefined && base !== null) {
      const b0 = readTensorAsFloat32(base.get(m.module.biasKey!)!);
      biasDelta = readTensorAsFloat32(trained).map((x, o) => x - b0[o]!);
    }
    if (m.loraBiasEntry !== undefined) {
      const lb = readTensorAsFloat32(m.loraBiasEntry);
      biasDelta = (biasDelta ?? new Float32Array(lb.length)).map((x, o) => x + m.scaling * lb[o]!);
    }
    for (let i = 0; i < b.length; i++) b[i] = b[i]! * m.scaling;
    modules.set(m.module.name, { module: m.module, r: m.r, scaling: m.scaling, a, b, ...(doraScale !== undefined ? { doraScale } : {}), ...(biasDelta !== undefined ? { biasDelta } : {}) });
  }
  const copies = new Map([...peft.copies.map((c) => [c.param.key, { param: c.param, data: readTensorAsFloat32(c.entry) }] as const), ...strayBiases]);
  return { dir: peft.dir, modules, copies };
}

/** A LoRA module held in memory: the module, its rank and PEFT scaling (e.g. the trainer's resolved targets). */
export interface InMemoryLoraTarget {
  module: ModuleInfo;
  r: number;
  scaling: number;
}

/**
 * An adapter from LoRA tensors in memory, keyed as PEFT saves them (`base_model.model.<module>.lora_A.weight`
 * [r, in], `.lora_B.weight` [out, r]): what loadAdapter gives for the same tensors written to a folder, so a
 * training run can generate with its current weights without saving them. `id` names it among a Generator's adapters.
 */
export function adapterFromParams(id: string, params: ReadonlyMap<string, Float32Array>, targets: readonly InMemoryLoraTarget[]): LoadedAdapter {
  const modules = new Map<string, AdapterModule>();
  for (const t of targets) {
    const key = (w: 'A' | 'B'): Float32Array => {
      const name = `base_model.model.${t.module.name}.lora_${w}.weight`;
      const x = params.get(name);
      const want = w === 'A' ? t.r * t.module.inFeatures : t.module.outFeatures * t.r;
      if (x === undefined || x.length !== want) throw new Error(`internal: no LoRA tensor ${name} of ${want} values in memory`);
      return x;
    };
    const b = Float32Array.from(key('B'), (v) => v * t.scaling);
    modules.set(t.module.name, { module: t.module, r: t.r, scaling: t.scaling, a: Float32Array.from(key('A')), b });
  }
  return { dir: id, modules, copies: new Map() };
}
