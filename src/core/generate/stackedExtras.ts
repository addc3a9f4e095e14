// Stacked generation (one batch, each row its own adapter) of what single mode feeds as whole tensors: modules_to_save
// copies, trained biases outside the adapted modules (bias "all"), and trainable-token deltas. Each is a set of graph
// inputs holding every loaded adapter's values at once, and each row picks its adapter's by `adapter_index`:
/*
 * - a copy of an embedding: `copy_stack.<key>.values` [K, V, H] (the K adapters that have one), `.slot` int64 [N]
 *   (the variant of adapter slot s) and `.use` [N] (1 where slot s has a copy): a row reads
 *   values[slot·V + id] instead of the base embedding's row;
 * - a copy of lm_head: the same inputs plus `.pick` [N, K] (one-hot): the head's logits against all K copies, and each
 *   row keeps its own (K extra head matmuls: the price of serving several copies in one batch);
 * - trainable tokens of a layer (an embedding, or the head: its own rows or a tied head following the embedding's):
 *   `token_stack.<module>.values` [1 + rows, H] (row 0 zeros), `.slot` int64 [N, V] and `.use` [N, V]: the row of
 *   `values` that token v reads under adapter slot s.
 * - a vector read by every token row (a norm's weight or bias over the hidden size, a decoder Linear layer's bias:
 *   a modules_to_save copy of a norm, a bias "all" bias): `.values` [1 + K, n] (row 0 the base) and `.slot` [N]; the
 *   builders read it as [B·T, n], each token with its adapter's values.
 * - a copy of a decoder Linear (Conv1D) weight: `.values` [K, out, in] (Conv1D [K, in, out]), `.pick` [N, K] and
 *   `.use` [N]: the layer's output against all K copies, each token row keeping its adapter's (K extra matmuls of
 *   that layer per step).
 * Copies of per-head norms (q_norm/k_norm over head_dim, applied to [B, heads, T, D]) cannot be picked per token row:
 * refused by name.
 */
import * as ort from 'onnxruntime-node';
import { InputError } from '../errors';
import * as G from '../graph';
import type { Graph, Value } from '../graph';
import type { ModelInventory, ModuleInfo } from '../hf/types';
import type { WeightStore } from '../models/common';
import type { CopyParam } from '../models/savedCopies';
import type { SavedModuleParam } from '../peft/savedModules';
import { copyInitialValues } from '../train/loraInit';
import type { LoadedAdapter } from './adapter';

export const copyStackName = (key: string, which: 'values' | 'slot' | 'use' | 'pick'): string => `copy_stack.${key}.${which}`;
export const tokenStackName = (module: string, which: 'values' | 'slot' | 'use'): string => `token_stack.${module}.${which}`;

/**
 * How a copy enters the stacked graph: a row lookup of an embedding, the head's logits, or a per-token vector (the
 * weight or bias of a layer norm over the hidden size, the bias of a decoder Linear layer), which the builders read
 * as [B·T, n] with each token's adapter's values: the norms and biases broadcast over the [B·T, features] rows.
 */
type CopyRole = { kind: 'embedding' | 'head' | 'perToken' | 'layerWeight'; module: ModuleInfo };

function outputHead(inv: ModelInventory): ModuleInfo | undefined {
  return inv.modules.find((m) => m.isOutputHead);
}

function copyRole(inv: ModelInventory, c: CopyParam): CopyRole | undefined {
  const m = inv.modules.find((x) => `${x.name}.weight` === c.param);
  if (m !== undefined && m.kind === 'embedding') return { kind: 'embedding', module: m };
  if (m !== undefined && m.isOutputHead) return { kind: 'head', module: m };
  // A decoder Linear/Conv1D weight: the layer's output against each copy, each token row keeping its adapter's.
  if (m !== undefined && (m.kind === 'linear' || m.kind === 'conv1d') && m.layer !== null && c.shape.length === 2) return { kind: 'layerWeight', module: m };
  const owner = m ?? inv.modules.find((x) => `${x.name}.bias` === c.param);
  if (owner === undefined || c.shape.length !== 1) return undefined;
  // Per-head norms (Qwen3/Gemma 3 q_norm, k_norm over head_dim) act on [B, heads, T, D], not on token rows.
  const hiddenNorm = (owner.kind === 'rmsnorm' || owner.kind === 'layernorm') && c.shape[0] === inv.spec.hiddenSize && !/\.[qk]_norm$/.test(owner.name);
  const layerBias = (owner.kind === 'linear' || owner.kind === 'conv1d') && owner.layer !== null && c.param === `${owner.name}.bias`;
  return hiddenNorm || layerBias ? { kind: 'perToken', module: owner } : undefined;
}

/** The reason adapter copies cannot be served stacked, or null (copyRole says which can). */
export function unstackableCopy(inv: ModelInventory, copies: Iterable<CopyParam>): string | null {
  for (const c of copies) {
    if (c.tokens === undefined && copyRole(inv, c) === undefined) {
      return c.param.endsWith('.bias') ? `a trained bias ${c.param} (modules_to_save, or bias: "all")` : `a modules_to_save copy of ${c.param}`;
    }
  }
  return null;
}

/** The layers whose trainable-token rows the stacked graph substitutes: the wrapped modules, and the head they reach. */
function tokenModules(inv: ModelInventory, copies: readonly CopyParam[]): string[] {
  const out = new Set<string>();
  const head = outputHead(inv)?.name;
  for (const c of copies) {
    if (c.tokens === undefined) continue;
    out.add(c.tokens.module);
    if (c.tokens.tiedHead && head !== undefined) out.add(head);
  }
  return [...out].sort();
}

/** The graph side: the stacked inputs and the per-row selections (see the header). */
export class StackedExtras {
  private readonly embeddingCopies = new Map<string, { values: Value; slot: Value; use: Value; V: number }>();
  private headCopy: { values: Value; pick: Value; use: Value; V: number } | undefined;
  private readonly tokens = new Map<string, { values: Value; slot: Value; use: Value; V: number }>();
  private readonly perToken: { param: string; values: Value; slot: Value }[] = [];
  private readonly layerWeights: { param: string; values: Value; pick: Value; use: Value; conv1d: boolean }[] = [];
  private readonly used = new Set<string>();

  constructor(g: Graph, private readonly inv: ModelInventory, copies: readonly CopyParam[], private readonly index: Value) {
    const H = inv.spec.hiddenSize;
    copies.filter((c) => c.tokens === undefined).forEach((c, i) => {
      const role = copyRole(inv, c);
      if (role === undefined) {
        throw new InputError('generate-unsupported', `${unstackableCopy(inv, [c])} cannot be stacked (one batch, several adapters)`, {
          tensor: c.key, hint: 'Generate with one adapter at a time, or merge the adapter (`peft-studio merge`) and serve the merged model',
        });
      }
      if (role.kind === 'layerWeight') {
        this.layerWeights.push({
          param: c.param, values: g.input(copyStackName(c.key, 'values'), 'float32', [`K${i}`, c.shape[0]!, c.shape[1]!]),
          pick: g.input(copyStackName(c.key, 'pick'), 'float32', ['N', `K${i}`]), use: g.input(copyStackName(c.key, 'use'), 'float32', ['N']), conv1d: role.module.kind === 'conv1d',
        });
        return;
      }
      if (role.kind === 'perToken') {
        const values = g.input(copyStackName(c.key, 'values'), 'float32', [`K${i}`, c.shape[0]!]);
        this.perToken.push({ param: c.param, values, slot: g.input(copyStackName(c.key, 'slot'), 'int64', ['N']) });
        return;
      }
      const [V, dim] = c.shape as [number, number];
      const values = g.input(copyStackName(c.key, 'values'), 'float32', [`K${i}`, V, dim]);
      const use = g.input(copyStackName(c.key, 'use'), 'float32', ['N']);
      if (role.kind === 'embedding') this.embeddingCopies.set(role.module.name, { values, slot: g.input(copyStackName(c.key, 'slot'), 'int64', ['N']), use, V });
      else this.headCopy = { values, pick: g.input(copyStackName(c.key, 'pick'), 'float32', ['N', `K${i}`]), use, V };
    });
    tokenModules(inv, copies).forEach((module, i) => {
      const m = inv.modules.find((x) => x.name === module)!;
      const V = m.kind === 'embedding' ? m.inFeatures : m.outFeatures;
      this.tokens.set(module, {
        values: g.input(tokenStackName(module, 'values'), 'float32', [`R${i}`, H]),
        slot: g.input(tokenStackName(module, 'slot'), 'int64', ['N', V]),
        use: g.input(tokenStackName(module, 'use'), 'float32', ['N', V]),
        V,
      });
    });
  }

  /**
   * Routes the builders' reads of the per-token vectors to [B·T, n] tensors (each token row gets the values of its
   * batch row's adapter; row 0 of `values` is the base tensor, for the adapters without the copy), and the copied
   * layer weights to per-row output selections (`WeightStore.rowSelect`).
   */
  installTokenRows(store: WeightStore, inputIds: Value): void {
    if (this.perToken.length === 0 && this.layerWeights.length === 0) return;
    // The adapter slot of each token row [B·T].
    const tokenSlot = G.reshape(G.add(G.mul(inputIds, 0), G.unsqueeze(this.index, [1])), ['B*T']);
    for (const p of this.perToken) {
      store.provide(p.param, G.gather(p.values, G.gather(p.slot, tokenSlot), 0, { name: `${p.param}.stacked_copy` }));
    }
    for (const w of this.layerWeights) {
      store.rowSelect.set(w.param, (x2d, base, bias) => {
        this.used.add(w.param);
        const [a, b] = [w.values.shape[1] as number, w.values.shape[2] as number];
        // All K outputs at once: x·W_kᵀ (Linear [out, in]) or x·W_k (Conv1D [in, out]) for every k, [B·T, K·out].
        const flat = w.conv1d ? G.reshape(G.transpose(w.values, [1, 0, 2]), [a, -1]) : G.reshape(w.values, [-1, b]);
        const out = w.conv1d ? b : a;
        const all = G.reshape(G.gemm(x2d, flat, { transB: !w.conv1d, name: `${w.param}.stacked_copy` }), [0, -1, out]);
        let chosen = G.reduceSum(G.mul(all, G.unsqueeze(G.gather(w.pick, tokenSlot), [2])), [1], false);
        if (bias !== undefined) chosen = G.add(chosen, bias);
        const use = G.unsqueeze(G.gather(w.use, tokenSlot), [1]);
        return G.add(base, G.mul(use, G.sub(chosen, base)), { name: `${w.param}.stacked_copy.select` });
      });
    }
  }

  /** Throws when a copied layer weight was never read by the builders (a module the graph does not have). */
  checkUsed(): void {
    const missing = this.layerWeights.filter((w) => !this.used.has(w.param)).map((w) => w.param);
    if (missing.length > 0) throw new InputError('lora-unused-target', `modules_to_save weight(s) not read by the generation graph: ${missing.join(', ')}`);
  }

  /** index·V + ids [B, T]: the flat row of each token under its row's adapter slot. */
  private flatIds(ids: Value, V: number): Value {
    return G.add(G.mul(G.unsqueeze(this.index, [1]), V), ids);
  }

  /** base = W[ids] [B, T, H] → each row's copy of W, then its trainable-token rows (LoRA goes between: `wrap`). */
  embedCopy(module: string, ids: Value, base: Value): Value {
    const c = this.embeddingCopies.get(module);
    if (c === undefined) return base;
    const variant = G.gather(c.slot, this.index);
    const flat = G.add(G.mul(G.unsqueeze(variant, [1]), c.V), ids);
    const copied = G.gather(G.reshape(c.values, [-1, base.shape[2] as number]), flat, 0, { name: `${module}.stacked_copy` });
    const use = G.unsqueeze(G.gather(c.use, this.index), [1, 2]);
    return G.add(base, G.mul(use, G.sub(copied, base)), { name: `${module}.stacked_copy.select` });
  }

  embedTokens(module: string, ids: Value, base: Value): Value {
    const t = this.tokens.get(module);
    if (t === undefined) return base;
    const flat = this.flatIds(ids, t.V);
    const picked = G.gather(t.values, G.gather(G.reshape(t.slot, [-1]), flat), 0, { name: `${module}.stacked_tokens` });
    const use = G.unsqueeze(G.gather(G.reshape(t.use, [-1]), flat), [-1]);
    return G.add(base, G.mul(use, G.sub(picked, base)), { name: `${module}.stacked_tokens.select` });
  }

  /** logits [B, V] = x·Wᵀ → each row's lm_head copy where its adapter has one. */
  headCopyLogits(x: Value, logits: Value): Value {
    const c = this.headCopy;
    if (c === undefined) return logits;
    const all = G.gemm(x, G.reshape(c.values, [-1, x.shape[1] as number]), { transB: true, name: 'lm_head.stacked_copy' });
    const perCopy = G.reshape(all, [0, -1, c.V]);
    const pick = G.unsqueeze(G.gather(c.pick, this.index), [2]);
    const chosen = G.reduceSum(G.mul(perCopy, pick), [1], false);
    const use = G.unsqueeze(G.gather(c.use, this.index), [1]);
    return G.add(logits, G.mul(use, G.sub(chosen, logits)), { name: 'lm_head.stacked_copy.select' });
  }

  /** logits [B, V] → the head's trainable-token columns from x·deltaᵀ under each row's adapter. */
  headTokens(x: Value, logits: Value): Value {
    const head = outputHead(this.inv);
    const t = head !== undefined ? this.tokens.get(head.name) : undefined;
    if (t === undefined) return logits;
    const cols = G.gemm(x, t.values, { transB: true, name: 'lm_head.stacked_tokens' });
    const picked = G.gatherElements(cols, G.gather(t.slot, this.index), 1);
    const use = G.gather(t.use, this.index);
    return G.add(logits, G.mul(use, G.sub(picked, logits)), { name: 'lm_head.stacked_tokens.select' });
  }
}

const f32 = (data: Float32Array, dims: number[]): ort.Tensor => new ort.Tensor('float32', data, dims);

/**
 * The host side: the stacked inputs for adapter slots `adapters` (null = the base model) over the graph's `copies`
 * (the union over the loaded adapters, as adapterInputs gives them).
 */
export function stackedExtraFeeds(inv: ModelInventory, copies: readonly SavedModuleParam[], adapters: readonly (LoadedAdapter | null)[]): Record<string, ort.Tensor> {
  const out: Record<string, ort.Tensor> = {};
  const N = adapters.length;
  const perToken = copies.filter((x) => x.tokens === undefined && copyRole(inv, x)?.kind === 'perToken');
  const baseValues = copyInitialValues(inv.dir, perToken); // one read of the checkpoint for all of them
  for (const c of perToken) {
    // Row 0 the base tensor, then one row per adapter with the copy.
    const n = c.shape[0]!;
    const having = adapters.map((a) => a?.copies.get(c.key)?.data);
    const values = new Float32Array((1 + having.filter((d) => d !== undefined).length) * n);
    values.set(baseValues.get(c.key)!, 0);
    const slot = new BigInt64Array(N);
    let k = 1;
    having.forEach((d, s) => {
      if (d === undefined) return;
      values.set(d, k * n);
      slot[s] = BigInt(k++);
    });
    out[copyStackName(c.key, 'values')] = f32(values, [k, n]);
    out[copyStackName(c.key, 'slot')] = new ort.Tensor('int64', slot, [N]);
  }
  for (const c of copies.filter((x) => x.tokens === undefined && copyRole(inv, x)?.kind !== 'perToken')) {
    const [V, dim] = c.shape as [number, number];
    const having = adapters.map((a) => a?.copies.get(c.key)?.data);
    const K = Math.max(1, having.filter((d) => d !== undefined).length);
    const values = new Float32Array(K * V * dim);
    const slot = new BigInt64Array(N);
    const use = new Float32Array(N);
    const pick = new Float32Array(N * K);
    let k = 0;
    having.forEach((d, s) => {
      if (d === undefined) return;
      values.set(d, k * V * dim);
      slot[s] = BigInt(k);
      use[s] = 1;
      pick[s * K + k] = 1;
      k++;
    });
    out[copyStackName(c.key, 'values')] = f32(values, [K, V, dim]);
    out[copyStackName(c.key, 'use')] = f32(use, [N]);
    const role = copyRole(inv, c)?.kind;
    if (role === 'head' || role === 'layerWeight') out[copyStackName(c.key, 'pick')] = f32(pick, [N, K]);
    else out[copyStackName(c.key, 'slot')] = new ort.Tensor('int64', slot, [N]);
  }
  const head = outputHead(inv)?.name;
  const H = inv.spec.hiddenSize;
  for (const module of tokenModules(inv, copies)) {
    const m = inv.modules.find((x) => x.name === module)!;
    const V = m.kind === 'embedding' ? m.inFeatures : m.outFeatures;
    // Each slot's token rows for this layer: its own delta, or (the head) the embedding delta a tied head follows.
    const deltas = adapters.map((a) => {
      if (a === null) return undefined;
      const own = [...a.copies.values()].find((x) => x.param.tokens?.module === module);
      const tied = module === head ? [...a.copies.values()].find((x) => x.param.tokens?.tiedHead === true) : undefined;
      const d = own ?? tied;
      return d === undefined ? undefined : { rows: d.param.tokens!.rows, data: d.data };
    });
    const total = deltas.reduce((n, d) => n + (d?.rows.length ?? 0), 0);
    const values = new Float32Array((1 + total) * H);
    const slot = new BigInt64Array(N * V);
    const use = new Float32Array(N * V);
    let next = 1;
    deltas.forEach((d, s) => {
      d?.rows.forEach((r, j) => {
        values.set(d.data.subarray(j * H, (j + 1) * H), next * H);
        slot[s * V + r] = BigInt(next);
        use[s * V + r] = 1;
        next++;
      });
    });
    out[tokenStackName(module, 'values')] = f32(values, [1 + total, H]);
    out[tokenStackName(module, 'slot')] = new ort.Tensor('int64', slot, [N, V]);
    out[tokenStackName(module, 'use')] = f32(use, [N, V]);
  }
  return out;
}
