// LoRA weight initialisation as PEFT's LoraLayer.reset_lora_parameters, from the run's seed, and loading of an
// existing adapter (`init_adapter`) onto the engine's parameters with shape checks naming the tensor.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../errors';
import { openCheckpoint } from '../safetensors/checkpoint';
import { readTensorAsFloat32 } from '../safetensors/read';
import { Rng } from '../util/random';
import type { SavedModuleParam } from '../peft/savedModules';

export type InitLoraWeights = boolean | string;

/** Which LoRA factor a PEFT adapter key holds. */
export function loraFactor(key: string): 'A' | 'B' | 'embedding_A' | 'embedding_B' | 'other' {
  if (key.endsWith('.lora_A.weight')) return 'A';
  if (key.endsWith('.lora_B.weight')) return 'B';
  if (key.endsWith('.lora_embedding_A')) return 'embedding_A';
  if (key.endsWith('.lora_embedding_B')) return 'embedding_B';
  return 'other';
}

/**
 * Fills every LoRA tensor as PEFT does (keys in the engine's fixed order, one Rng stream):
 * - `true`: A ~ kaiming_uniform(a=√5) = U(−1/√in, 1/√in) (fan_in = in of A [r, in]), B = 0;
 * - `"gaussian"`: A ~ N(0, (1/r)²) (torch normal_(std=1/r)), B = 0;
 * - `false`: A and B keep nn.Linear's default init, kaiming_uniform(a=√5) on each (B [out, r]: U(±1/√r)).
 * Embedding LoRA (lora_embedding_A [r, n], _B [dim, r]): A = 0, B ~ N(0, 1) for true/gaussian.
 */
export function initLoraParams(
  names: readonly string[],
  shapes: ReadonlyMap<string, readonly number[]>,
  init: InitLoraWeights,
  rng: Rng,
): Map<string, Float32Array> {
  const mode = init === true ? 'kaiming' : init === false ? 'random' : String(init).toLowerCase() === 'gaussian' ? 'gaussian' : null;
  if (mode === null) {
    throw new InputError('lora-init-unsupported', `init_lora_weights "${String(init)}" is not supported by the trainer`, {
      hint: 'Use true, false or "gaussian" (data-driven schemes such as pissa, olora, eva, loftq are not implemented)',
    });
  }
  const out = new Map<string, Float32Array>();
  for (const name of names) {
    const shape = shapes.get(name);
    if (shape === undefined || shape.length !== 2) throw new InputError('lora-init-shape', 'LoRA tensor without a 2-D shape', { tensor: name });
    const [rows, cols] = shape as [number, number];
    const t = new Float32Array(rows * cols);
    const kaiming = (): void => rng.fillUniform(t, -1 / Math.sqrt(cols), 1 / Math.sqrt(cols));
    switch (loraFactor(name)) {
      case 'A':
        if (mode === 'gaussian') rng.fillNormal(t, 0, 1 / rows);
        else kaiming();
        break;
      case 'B':
        if (mode === 'random') kaiming();
        break;
      case 'embedding_A':
        if (mode === 'random') rng.fillNormal(t, 0, 1);
        break;
      case 'embedding_B':
        rng.fillNormal(t, 0, 1);
        break;
      case 'other':
        throw new InputError('lora-init-unknown', 'not a LoRA tensor the trainer knows how to initialise', { tensor: name });
    }
    out.set(name, t);
  }
  return out;
}

/**
 * Reads `dir/adapter_model.safetensors` into the engine's parameter layout: every trainable key must be there
 * with the same shape, and the file must not hold LoRA tensors the adapter config does not target.
 */
export function loadAdapterParams(dir: string, names: readonly string[], shapes: ReadonlyMap<string, readonly number[]>): Map<string, Float32Array> {
  const file = join(dir, 'adapter_model.safetensors');
  if (!existsSync(file)) {
    throw new InputError('init-adapter-missing', 'init_adapter has no adapter_model.safetensors', { file: dir });
  }
  const ckpt = openCheckpoint(file);
  const out = new Map<string, Float32Array>();
  for (const name of names) {
    const entry = ckpt.tensors.get(name);
    if (entry === undefined) {
      throw new InputError('init-adapter-key', 'the adapter has no tensor for this module', {
        file,
        tensor: name,
        hint: 'init_adapter must target the same modules as adapter_config (same target_modules, layers and rank)',
      });
    }
    const want = shapes.get(name) ?? [];
    if (entry.shape.length !== want.length || entry.shape.some((d, i) => d !== want[i])) {
      throw new InputError('init-adapter-shape', 'the adapter tensor does not fit the model and adapter config', {
        file,
        tensor: name,
        expected: `[${want.join(', ')}]`,
        actual: `[${entry.shape.join(', ')}]`,
        hint: 'Check r / rank_pattern in adapter_config.json and that init_adapter was trained on this base model',
      });
    }
    out.set(name, readTensorAsFloat32(entry));
  }
  const wanted = new Set(names);
  const extra = [...ckpt.tensors.keys()].filter((k) => loraFactor(k) !== 'other' && !wanted.has(k));
  if (extra.length > 0) {
    throw new InputError('init-adapter-extra', `the adapter has ${extra.length} LoRA tensors for modules the adapter config does not target`, {
      file,
      tensor: extra[0]!,
    });
  }
  return out;
}

/** modules_to_save copies start as the base weights (ModulesToSaveWrapper deep-copies the module), token deltas as their rows; fp32. */
export function copyInitialValues(modelDir: string, copies: readonly SavedModuleParam[]): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  if (copies.length === 0) return out;
  const ckpt = openCheckpoint(modelDir);
  for (const c of copies) {
    const e = ckpt.tensors.get(c.source) ?? ckpt.tensors.get(c.source.replace(/^transformer\./, ''));
    if (e === undefined) throw new InputError('model-missing-weight', 'the checkpoint has no base tensor for this modules_to_save copy', { tensor: c.source, file: modelDir });
    const all = readTensorAsFloat32(e);
    const rows = c.tokens?.rows;
    if (rows === undefined) {
      out.set(c.key, all);
      continue;
    }
    // TrainableTokens: the delta starts as the selected rows of the weight (W[token_indices]).
    const dim = c.shape[1]!;
    const t = new Float32Array(rows.length * dim);
    rows.forEach((r, j) => t.set(all.subarray(r * dim, (r + 1) * dim), j * dim));
    out.set(c.key, t);
  }
  return out;
}
