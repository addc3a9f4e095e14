// modules_to_save in the model graphs: each trainable copy is a graph input named by its PEFT key that replaces the
// base weight wherever the builders read it (WeightStore.overrides); a tied head gets its own copy (PEFT's default).
import { InputError } from '../errors';
import type { Graph, Value } from '../graph';
import type { ModelInventory } from '../hf/types';
import type { WeightStore } from './common';

export interface CopyParam {
  key: string;
  /** HF parameter name the builders read (lm_head.weight). */
  param: string;
  shape: (number | string)[];
  /** trainable_token_indices deltas (not weight overrides: models/tokenDeltas.ts). */
  tokens?: { module: string; rows: number[]; tiedHead: boolean } | undefined;
}

/** Declares one input per copy (dtype = the master dtype) and routes the builders' reads of `param` to it. */
export function installCopies(g: Graph, store: WeightStore, copies: readonly CopyParam[], dtype: 'float32' | 'float64'): Value[] {
  return copies.filter((c) => c.tokens === undefined).map((c) => {
    const v = g.input(c.key, dtype, c.shape);
    store.provide(c.param, v);
    return v;
  });
}

/**
 * The head weight lm_head should use: the builder's (the embedding when tied) unless lm_head has a copy the builder
 * did not read (a tied head: ModulesToSaveWrapper deep-copies lm_head, so its copy no longer shares the embedding).
 * A copy of the embedding does not reach a tied head either: PEFT deep-copies the embedding module and lm_head keeps
 * reading the original parameter, so the head reads the checkpoint's embedding.
 */
export function headWeight(store: WeightStore, head: Value): Value {
  const name = 'lm_head.weight';
  if (store.overrides.has(name) && !store.served.has(name)) return store.get(name);
  const embedding = tiedEmbeddingParam(store.inventory);
  return embedding !== undefined && store.overrides.has(embedding) && head === store.get(embedding) ? store.base(embedding) : head;
}

/** The embedding parameter a tied output head reads (model.embed_tokens.weight), when the head is tied. */
export function tiedEmbeddingParam(inv: ModelInventory): string | undefined {
  const head = inv.modules.find((m) => m.isOutputHead);
  if (head === undefined || head.weightKey === `${head.name}.weight`) return undefined;
  const embedding = inv.modules.find((m) => m.kind === 'embedding' && m.weightKey === head.weightKey);
  return embedding !== undefined ? `${embedding.name}.weight` : undefined;
}

/** Throws when a copy was never read by the graph (a module the builder does not have). */
export function checkCopiesUsed(store: WeightStore): void {
  const missing = [...store.overrides.keys()].filter((k) => !store.served.has(k));
  if (missing.length > 0) {
    throw new InputError('lora-unused-target', `modules_to_save tensor(s) not read by the ${store.g.name} graph: ${missing.join(', ')}`, {
      hint: 'modules_to_save can name the embeddings, norms, linear layers and lm_head of the model',
    });
  }
}
