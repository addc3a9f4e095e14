// Writes a PEFT LoRA adapter folder with random A and B (B ≠ 0, so the adapter changes the model) for a fixture
// model: adapter_config.json from the given LoraConfig fields, adapter_model.safetensors with PEFT's key names.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadModel } from '../../src/core/hf/loadModel';
import { parseLoraConfig } from '../../src/core/peft/loraConfig';
import { resolveTargets } from '../../src/core/peft/resolve';
import { writeSafetensors } from '../../src/core/safetensors/write';
import type { TensorToWrite } from '../../src/core/safetensors/types';
import { Rng } from '../../src/core/util/random';

export interface RandomAdapterOptions {
  modelDir: string;
  outDir: string;
  /** LoraConfig fields (r, lora_alpha, target_modules, rank_pattern, ...). */
  config: Record<string, unknown>;
  seed?: number;
  /** Standard deviation of A and B entries (default 0.1: a clearly visible change of the logits). */
  std?: number;
}

export function writeRandomAdapter(o: RandomAdapterOptions): { dir: string; modules: { name: string; r: number; alpha: number; scaling: number }[] } {
  const inv = loadModel(o.modelDir);
  const raw = { peft_type: 'LORA', task_type: 'CAUSAL_LM', base_model_name_or_path: o.modelDir, ...o.config };
  const cfg = parseLoraConfig(raw);
  const { targets } = resolveTargets(cfg, inv);
  const rng = new Rng(o.seed ?? 1);
  const tensors: TensorToWrite[] = [];
  for (const t of targets) {
    const a = new Float32Array(t.r * t.module.inFeatures);
    const b = new Float32Array(t.module.outFeatures * t.r);
    rng.fillNormal(a, 0, o.std ?? 0.1);
    rng.fillNormal(b, 0, o.std ?? 0.1);
    const key = `base_model.model.${t.module.name}`;
    tensors.push({ name: `${key}.lora_A.weight`, dtype: 'F32', shape: [t.r, t.module.inFeatures], data: a });
    tensors.push({ name: `${key}.lora_B.weight`, dtype: 'F32', shape: [t.module.outFeatures, t.r], data: b });
  }
  fs.mkdirSync(o.outDir, { recursive: true });
  fs.writeFileSync(path.join(o.outDir, 'adapter_config.json'), JSON.stringify(raw, null, 2));
  writeSafetensors(path.join(o.outDir, 'adapter_model.safetensors'), tensors);
  return { dir: path.resolve(o.outDir), modules: targets.map((t) => ({ name: t.module.name, r: t.r, alpha: t.alpha, scaling: t.scaling })) };
}
