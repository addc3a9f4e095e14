// The inference graph of a causal LM, built by the same model builders as training (models/llama.ts, models/gpt2.ts):
// a KV cache as inputs/outputs (Optimum names) and LoRA A/B as unmerged inputs, so adapters are feeds, not graphs.
/*
 * One graph serves prefill and decode: `past_key_values.N.key|value` [B, kvHeads, P, D] are inputs (P = 0 for the
 * prefill, fed as empty tensors, as transformers.js does with Optimum exports), `present.N.key|value`
 * [B, kvHeads, P + T, D] are outputs, and `logits` [B, vocab] are those of the last position of each row (left
 * padding keeps every row's last real token there). One graph means one session, so the base weights (external
 * data into the safetensors files) are loaded once for both phases and for every adapter.
 *
 * LoRA ('single' mode): for each adapted module `base_model.model.<module>.lora_A.weight` [r, in] and
 * `.lora_B.weight` [out, r] are inputs, with the rank symbolic per module (adapters of different ranks share the
 * session); the host folds PEFT's scaling into B. A module the current adapter does not adapt gets rank-1 zeros; the
 * base model is all zeros. ('stacked' mode): `lora_stack.<module>.A` [N, in, r] and `.B` [N, r, out] (transposed and
 * scaled on the host; ranks zero-padded to a common r, which adds nothing) and `adapter_index` int64 [B]: each row
 * of the batch reads its own adapter (the S-LoRA / LoRAX batching).
 */
import { archOf } from '../arch/registry';
import { InputError } from '../errors';
import * as G from '../graph';
import type { Graph, Value } from '../graph';
import type { ModelInventory, ModuleInfo } from '../hf/types';
import { type ModelInputs, capLogits, VarBuilder, WeightStore } from '../models/common';
import { positionDtype } from '../models/feeds';
import { type BaseLayer, doraOutput } from '../models/dora';
import { type LoraHook, embeddingLora, targetKeys } from '../models/lora';
import { type CopyParam, checkCopiesUsed, headWeight, installCopies } from '../models/savedCopies';
import { TokenDeltas } from '../models/tokenDeltas';
import { StackedExtras } from './stackedExtras';
import type { QuantizedBase } from '../quant/quantCache';
import type { TensorEntry } from '../safetensors/types';

/** Graph input and output names. */
export const GEN = {
  inputIds: 'input_ids',
  positionIds: 'position_ids',
  /** Additive mask [B, 1, T, P + T]: 0 where a query may see a key, fp32 finfo.min elsewhere. */
  attentionBias: 'attention_bias',
  /** int64 [B]: the adapter slot of each row (stacked mode). */
  adapterIndex: 'adapter_index',
  logits: 'logits',
} as const;

export const pastName = (layer: number, which: 'key' | 'value'): string => `past_key_values.${layer}.${which}`;
export const presentName = (layer: number, which: 'key' | 'value'): string => `present.${layer}.${which}`;
/** Stacked-mode LoRA inputs: A transposed [N, in, r] and B transposed and scaled [N, r, out]. */
export const stackName = (module: string, which: 'A' | 'B' | 'dora_scale' | 'bias_delta'): string => `lora_stack.${module}.${which}`;
/** Single-mode DoRA input: m / ||W + s·B·A|| [out] of the module (ones where the adapter is plain LoRA). */
export const doraScaleName = (module: string): string => `dora_scale.${module}`;
/** Single-mode bias input: added to the module's output [out] (trained bias − base bias, s·lora_B.bias; else 0). */
export const biasDeltaName = (module: string): string => `bias_delta.${module}`;

export type LoraMode = { kind: 'single' } | { kind: 'stacked' };

export interface InferenceGraphOptions {
  inventory: ModelInventory;
  /** Modules that get LoRA inputs (the union over the adapters this graph serves); none = the base model only. */
  loraModules: readonly ModuleInfo[];
  lora?: LoraMode;
  /** Modules (of loraModules) that get a DoRA scale input: some adapter served by this graph uses DoRA there. */
  doraModules?: readonly string[];
  /** Modules (of loraModules) that get a bias-delta input: some adapter trained their bias (or a lora_B bias). */
  biasModules?: readonly string[];
  tensors?: Map<string, TensorEntry>;
  /**
   * modules_to_save copies and trainable-token deltas: in single mode float32 inputs named by their PEFT keys that
   * replace the base tensors; stacked, per-row selections among every adapter's (stackedExtras.ts).
   */
  copies?: readonly CopyParam[];
  /** A 4-bit base: decoder Linear weights as MatMulNBits blocks (src/core/quant). */
  quant?: QuantizedBase;
}

/** Shapes of a model's KV cache: per layer [B, kvHeads, P, headDim] keys and values. */
export function cacheShape(inv: ModelInventory): { layers: number; kvHeads: number; headDim: number } {
  const s = inv.spec;
  return { layers: s.numLayers, kvHeads: archOf(s).cacheKvHeads(s), headDim: s.headDim };
}

/** The LoRA of the inference graph: unmerged A/B inputs, one adapter per run or one per row. */
class InferenceLora implements LoraHook {
  private readonly byModule = new Map<string, { a: Value; b: Value; dora: Value | undefined; delta: Value | undefined }>();
  readonly used = new Set<string>();

  constructor(
    g: Graph, modules: readonly ModuleInfo[], private readonly mode: LoraMode, private readonly index: Value | undefined,
    dora: ReadonlySet<string> = new Set(), biased: ReadonlySet<string> = new Set(),
  ) {
    modules.forEach((m, i) => {
      if (this.byModule.has(m.name)) throw new InputError('generate-duplicate-module', 'module listed twice', { tensor: m.name });
      const r = `r${i}`;
      const single = mode.kind === 'single';
      const [aKey, bKey] = targetKeys({ module: m });
      const entry = single
        ? { a: g.input(aKey, 'float32', [r, m.inFeatures]), b: g.input(bKey, 'float32', [m.outFeatures, r]) }
        : { a: g.input(stackName(m.name, 'A'), 'float32', ['N', m.inFeatures, r]), b: g.input(stackName(m.name, 'B'), 'float32', ['N', r, m.outFeatures]) };
      const scale = !dora.has(m.name) ? undefined
        : single ? g.input(doraScaleName(m.name), 'float32', [m.outFeatures]) : g.input(stackName(m.name, 'dora_scale'), 'float32', ['N', m.outFeatures]);
      const delta = !biased.has(m.name) ? undefined
        : single ? g.input(biasDeltaName(m.name), 'float32', [m.outFeatures]) : g.input(stackName(m.name, 'bias_delta'), 'float32', ['N', m.outFeatures]);
      this.byModule.set(m.name, { ...entry, dora: scale, delta });
    });
  }

  /** Embedding LoRA (B carries the scaling, folded on the host); stacked: row index·V + id of the flattened A stack. */
  embed(module: string, ids: Value, base: Value): Value {
    const e = this.byModule.get(module);
    if (e === undefined) return base;
    this.used.add(module);
    if (this.mode.kind === 'single') return embeddingLora(ids, base, e.a, e.b, 1, module, null);
    const idx = this.index as Value;
    const V = e.a.shape[1] as number;
    const flat = G.add(G.mul(G.unsqueeze(idx, [1]), V), ids);
    const rows = G.gather(G.reshape(e.a, [`N*${V}`, e.a.shape[2]!]), flat, 0, { name: `${module}.lora_embedding_A` });
    return G.add(base, G.matMul(rows, G.gather(e.b, idx), { name: `${module}.lora_embedding_B` }), { name: `${module}.add_lora` });
  }

  apply(module: string, x2d: Value, base: Value, _rows?: Value, layer?: BaseLayer): Value {
    const e = this.byModule.get(module);
    if (e === undefined) return base;
    this.used.add(module);
    if (e.dora !== undefined && layer === undefined) throw new InputError('generate-lora-module', 'DoRA needs the base layer of the module', { tensor: module });
    if (this.mode.kind === 'single') {
      const xa = G.gemm(x2d, e.a, { transB: true, name: `${module}.lora_A` });
      const lora = G.gemm(xa, e.b, { transB: true, name: `${module}.lora_B` });
      const out = e.dora !== undefined ? base.graph.scope(`${module}.dora`, () => doraOutput(base, lora, e.dora as Value, layer as BaseLayer)) : G.add(base, lora, { name: `${module}.add_lora` });
      return e.delta !== undefined ? G.add(out, e.delta, { name: `${module}.bias_delta` }) : out;
    }
    // Per row: x [B, T, in] · A[idx] [B, in, r] · B[idx] [B, r, out]; x2d is [B*T, in] ([B, in] for the head's rows).
    const rowsPerBatch = x2d.shape[0] === 'B' ? 1 : 'T';
    const inF = x2d.shape[1] as number;
    const outF = base.shape[1] as number;
    const x3 = G.reshape(x2d, ['B', rowsPerBatch, inF]);
    const idx = this.index as Value;
    const xa = G.matMul(x3, G.gather(e.a, idx), { name: `${module}.lora_A` });
    const xab = G.matMul(xa, G.gather(e.b, idx), { name: `${module}.lora_B` });
    if (e.dora === undefined && e.delta === undefined) return G.add(base, G.reshape(xab, [x2d.shape[0]!, outF]), { name: `${module}.add_lora` });
    // Per row's adapter: DoRA scale and bias delta [B, 1, out] over base and lora as [B, rows, out] (ones / zeros in
    // the slots without them).
    const perRow = (v: Value): Value => G.unsqueeze(G.gather(v, idx), [1]);
    const base3 = G.reshape(base, ['B', rowsPerBatch, outF]);
    let out3 = e.dora !== undefined ? doraOutput(base3, xab, perRow(e.dora), layer as BaseLayer) : G.add(base3, xab);
    if (e.delta !== undefined) out3 = G.add(out3, perRow(e.delta), { name: `${module}.bias_delta` });
    return G.reshape(out3, [x2d.shape[0]!, outF]);
  }
}

/** The prefill/decode graph of `inventory` (see the header). Inputs are float32; positions as models/feeds.ts. */
export function buildInferenceGraph(o: InferenceGraphOptions): Graph {
  const spec = o.inventory.spec;
  const g = new G.Graph('peft_generate');
  const { layers, kvHeads, headDim } = cacheShape(o.inventory);
  const inputs: ModelInputs = {
    inputIds: g.input(GEN.inputIds, 'int64', ['B', 'T']),
    positionIds: g.input(GEN.positionIds, positionDtype(spec, 'float32'), ['B', 'T']),
    attentionBias: g.input(GEN.attentionBias, 'float32', ['B', 1, 'T', 'S']),
  };
  const past = Array.from({ length: layers }, (_, i) => ({
    k: g.input(pastName(i, 'key'), 'float32', ['B', kvHeads, 'P', headDim]),
    v: g.input(pastName(i, 'value'), 'float32', ['B', kvHeads, 'P', headDim]),
  }));
  const mode = o.lora ?? { kind: 'single' };
  const copies = o.copies ?? [];
  const index = mode.kind === 'stacked' && (o.loraModules.length > 0 || copies.length > 0) ? g.input(GEN.adapterIndex, 'int64', ['B']) : undefined;
  const lora = new InferenceLora(g, o.loraModules, mode, index, new Set(o.doraModules ?? []), new Set(o.biasModules ?? []));
  const full = (x: Value): G.ValueType[] => [{ dtype: x.dtype, shape: ['B', kvHeads, 'S', headDim] }];
  inputs.kvCache = (i, k, v) => {
    const p = past[i]!;
    // The Concat outputs are the graph outputs themselves (no Identity copy of the cache per step).
    const kk = G.concat([p.k, k], 2, { name: `model.layers.${i}.present_key`, outputNames: [presentName(i, 'key')], outputTypes: full(k) });
    const vv = G.concat([p.v, v], 2, { name: `model.layers.${i}.present_value`, outputNames: [presentName(i, 'value')], outputTypes: full(v) });
    g.output(kk);
    g.output(vv);
    return { k: kk, v: vv };
  };
  const store = new WeightStore(g, o.inventory, 'float32', o.tensors, o.quant);
  // Single mode: copies replace the base tensors and token deltas are baked per graph; stacked: each row picks its own.
  const stacked = mode.kind === 'stacked' && copies.length > 0 ? new StackedExtras(g, o.inventory, copies, index as Value) : undefined;
  if (stacked === undefined) installCopies(g, store, copies, 'float32');
  else stacked.installTokenRows(store, inputs.inputIds);
  const tokens = new TokenDeltas(g, o.inventory, stacked === undefined ? copies : [], 'float32', null);
  const hook: LoraHook = stacked !== undefined
    ? { apply: (m, x, base, rows, layer) => lora.apply(m, x, base, rows, layer), embed: (m, ids, base) => stacked.embedTokens(m, ids, lora.embed(m, ids, stacked.embedCopy(m, ids, base))) }
    : tokens.empty ? lora : tokens.wrap(lora);
  const vb = new VarBuilder(store);
  const hid = archOf(spec).hidden(spec, vb, inputs, hook, 'float32', 'float32');
  const { hidden, logitSoftcap } = hid;
  const head = headWeight(store, hid.head);
  const last = G.gather(G.reshape(hidden, ['B', 'T', spec.hiddenSize]), g.constant('int64', [], BigInt64Array.of(-1n)), 1, { name: 'last_position' });
  const baseLogits = G.gemm(last, head, { transB: true, name: 'lm_head.Gemm' });
  const headIn = stacked !== undefined ? stacked.headCopyLogits(last, baseLogits) : baseLogits;
  const withLora = lora.apply('lm_head', last, headIn, undefined, { weight: head, fanInFanOut: false });
  const logits = capLogits(stacked !== undefined ? stacked.headTokens(last, withLora) : tokens.head(last, withLora), logitSoftcap);
  checkCopiesUsed(store);
  stacked?.checkUsed();
  const missing = o.loraModules.filter((m) => !lora.used.has(m.name)).map((m) => m.name);
  if (missing.length > 0) {
    throw new InputError('generate-lora-module', `LoRA on module(s) the ${spec.modelType} graph does not have: ${missing.join(', ')}`, {
      hint: 'Only the Linear/Conv1D layers of the decoder and lm_head can carry LoRA',
    });
  }
  g.output(logits, GEN.logits);
  return g;
}
