// loadModel(dir): config.json + safetensors headers (no weights read) → ModelInventory; config-only folders work too.
// The one entry point the validator, counter, estimator and engine use to learn a base model's structure.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError, errorMessage } from '../errors';
import { INDEX_FILE, SINGLE_FILE, openCheckpoint } from '../safetensors/checkpoint';
import { parseModelConfig } from './config';
import { inventoryFromCheckpoint, inventoryFromConfig } from './inventory';
import type { ModelInventory, ModelSpec } from './types';

/** Read and parse `dir/config.json` into a ModelSpec (InputError when missing, not JSON, or unsupported). */
export function loadModelSpec(dir: string): ModelSpec {
  const file = path.join(path.resolve(dir), 'config.json');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    const exists = fs.existsSync(dir);
    throw new InputError('model-no-config', exists ? 'the model folder has no config.json' : 'model folder not found', {
      file: exists ? file : path.resolve(dir),
      hint: 'Point to a local Hugging Face model folder (config.json + model.safetensors), as written by save_pretrained()',
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new InputError('model-config-json', `config.json is not valid JSON: ${errorMessage(e)}`, { file });
  }
  return parseModelConfig(json, file);
}

/** True when `dir` holds safetensors weights (model.safetensors or a shard index). */
export function hasSafetensors(dir: string): boolean {
  return fs.existsSync(path.join(dir, SINGLE_FILE)) || fs.existsSync(path.join(dir, INDEX_FILE));
}

/**
 * The model's inventory from config.json and the safetensors headers (source 'safetensors'), or from
 * config.json alone when the folder has no weights (source 'config'). Header shapes are checked against the config.
 */
export function loadModel(dir: string): ModelInventory {
  const abs = path.resolve(dir);
  const spec = loadModelSpec(abs);
  if (!hasSafetensors(abs)) return inventoryFromConfig(spec, abs);
  return inventoryFromCheckpoint(spec, openCheckpoint(abs), path.join(abs, 'config.json'));
}
