// Upper bounds for sizes read from config.json, and the check of those sizes against what the weight files hold:
// one crafted field (num_hidden_layers: 1e9) must be refused by name before anything is sized from it.
import { InputError } from '../errors';
import type { Checkpoint } from '../safetensors/types';
import type { ModelSpec } from './types';

/**
 * Largest value accepted for each size field (llama and gpt2 spellings). Far above any released model
 * (the largest open models have ~130 layers, hidden 16384, vocab 256k, 10M positions) and small enough that
 * a config-only inventory stays a few thousand entries.
 */
export const CONFIG_MAXIMA: Readonly<Record<string, number>> = {
  num_hidden_layers: 1024, n_layer: 1024,
  hidden_size: 131072, n_embd: 131072,
  intermediate_size: 1 << 20, n_inner: 1 << 20,
  num_attention_heads: 4096, n_head: 4096, num_key_value_heads: 4096,
  head_dim: 8192,
  vocab_size: 1 << 23,
  max_position_embeddings: 1 << 25, n_positions: 1 << 25,
  sliding_window: 1 << 25, max_window_layers: 1 << 20,
};

/** Index of the decoder layer a tensor key belongs to (`model.layers.3.…`, `transformer.h.3.…`, `h.3.…`), or null. */
function layerIndexOf(key: string, family: ModelSpec['family']): number | null {
  const m = family === 'gpt2' ? /(?:^|\.)h\.(\d{1,9})\./.exec(key) : /(?:^|\.)layers\.(\d{1,9})\./.exec(key);
  return m === null ? null : Number(m[1]);
}

/**
 * Refuses a config whose layer count or embedding sizes exceed what the checkpoint holds, naming the field. Runs
 * before the inventory is built from the config, so its cost is one pass over the header keys.
 */
export function checkSpecAgainstWeights(spec: ModelSpec, checkpoint: Checkpoint, configFile: string): void {
  const layers = new Set<number>();
  for (const key of checkpoint.tensors.keys()) {
    const i = layerIndexOf(key, spec.family);
    if (i !== null) layers.add(i);
  }
  const layersField = spec.family === 'gpt2' ? 'n_layer' : 'num_hidden_layers';
  if (spec.numLayers > layers.size) {
    throw new InputError('model-config-value', `"${layersField}" is ${spec.numLayers} but the weight files hold ${layers.size} decoder layers`, {
      file: configFile, hint: `Set "${layersField}" to ${layers.size} or point to the folder whose weights this config describes`,
    });
  }
  const embedKeys = spec.family === 'gpt2' ? ['transformer.wte.weight', 'wte.weight'] : ['model.embed_tokens.weight'];
  const embed = embedKeys.map((k) => checkpoint.tensors.get(k)).find((e) => e !== undefined);
  if (embed === undefined || embed.shape.length !== 2) return; // the inventory names the missing tensor
  const [rows, cols] = embed.shape as [number, number];
  const vocabField = 'vocab_size';
  const hiddenField = spec.family === 'gpt2' ? 'n_embd' : 'hidden_size';
  if (spec.vocabSize !== rows) {
    throw new InputError('model-config-value', `"${vocabField}" is ${spec.vocabSize} but the embedding "${embed.name}" has ${rows} rows`, { file: configFile, hint: 'config.json must describe the weights beside it' });
  }
  if (spec.hiddenSize !== cols) {
    throw new InputError('model-config-value', `"${hiddenField}" is ${spec.hiddenSize} but the embedding "${embed.name}" has ${cols} columns`, { file: configFile, hint: 'config.json must describe the weights beside it' });
  }
}
