// Initial values of the trainable tensors beside LoRA A/B: DoRA magnitudes (PEFT's DoraLinearLayer.update_layer:
// the row norms of W + s·B·A for the initial A, B) and trained base biases (the checkpoint's), or init_adapter's.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../errors';
import type { ModelInventory } from '../hf/types';
import { doraMagnitude, magnitudeKey } from '../models/dora';
import { loraBiasKey, loraKey } from '../models/lora';
import { type BiasParam, altBiasKey } from '../models/trainableBias';
import { openCheckpoint } from '../safetensors/checkpoint';
import { readTensorAsFloat32 } from '../safetensors/read';
import type { TensorEntry } from '../safetensors/types';
import type { LoraTarget } from './engineApi';

/** The init_adapter's tensors, when given (shape-checked against `shape`). */
function fromAdapter(ckpt: Map<string, TensorEntry> | null, file: string, keys: string[], shape: readonly number[]): Float32Array | null {
  if (ckpt === null) return null;
  for (const key of keys) {
    const e = ckpt.get(key);
    if (e === undefined) continue;
    if (e.shape.length !== shape.length || e.shape.some((d, i) => d !== shape[i])) {
      throw new InputError('init-adapter-shape', 'the adapter tensor does not fit the model and adapter config', {
        file, tensor: key, expected: `[${shape.join(', ')}]`, actual: `[${e.shape.join(', ')}]`,
      });
    }
    return readTensorAsFloat32(e);
  }
  return null;
}

/**
 * Adds the DoRA magnitudes (use_dora) and the trained biases to `params` (which holds A and B already): from
 * init_adapter when it has them, else as PEFT initialises them — m = ||W + s·B·A|| of the initial A, B; a bias starts
 * at the base model's value.
 */
export function initExtraParams(
  params: Map<string, Float32Array>,
  o: { inventory: ModelInventory; targets: readonly LoraTarget[]; dora: boolean; biases: readonly BiasParam[]; initAdapter: string | null; loraBias?: boolean },
): void {
  const file = o.initAdapter !== null ? join(o.initAdapter, 'adapter_model.safetensors') : '';
  const adapter = o.initAdapter !== null && existsSync(file) ? openCheckpoint(file).tensors : null;
  const base = openCheckpoint(o.inventory.dir).tensors;
  const baseTensor = (key: string | null, what: string): Float32Array => {
    const e = key !== null ? base.get(key) : undefined;
    if (e === undefined) throw new InputError('model-missing-weight', 'the checkpoint has no such tensor', { tensor: key ?? what, file: o.inventory.dir });
    return readTensorAsFloat32(e);
  };
  if (o.dora) {
    for (const t of o.targets) {
      const key = magnitudeKey(t.module.name);
      const saved = fromAdapter(adapter, file, [key], [t.module.outFeatures]);
      const a = params.get(loraKey(t.module.name, 'A'));
      const b = params.get(loraKey(t.module.name, 'B'));
      if (a === undefined || b === undefined) throw new InputError('init-adapter-key', 'no LoRA A/B for a DoRA module', { tensor: t.module.name });
      params.set(key, saved ?? doraMagnitude(baseTensor(t.module.weightKey, `${t.module.name}.weight`), t, a, b));
    }
  }
  // lora_bias: lora_B's bias starts at 0 (reset_lora_parameters zeros it with B).
  if (o.loraBias === true) {
    for (const t of o.targets) {
      const key = loraBiasKey(t.module.name);
      params.set(key, fromAdapter(adapter, file, [key], [t.module.outFeatures]) ?? new Float32Array(t.module.outFeatures));
    }
  }
  const paramKey = new Map(o.inventory.parameters.map((p) => [p.name, p.checkpointKey]));
  const biasKeyOf = new Map(o.inventory.modules.map((m) => [`${m.name}.bias`, m.biasKey]));
  for (const b of o.biases) {
    const saved = fromAdapter(adapter, file, [b.key, altBiasKey(b.key)], b.shape);
    params.set(b.key, saved ?? baseTensor(biasKeyOf.get(b.tensor) ?? paramKey.get(b.tensor) ?? null, b.tensor));
  }
}
