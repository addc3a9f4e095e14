// LoRA injection (peft/tuners/lora/layer.py Linear.forward): base(x) + B(A(dropout(x))) · scaling at exactly the
// resolved targets; A [r, in] and B [out, r] are graph inputs named by their PEFT adapter keys.
import { InputError, PeftStudioError } from '../errors';
import * as G from '../graph';
import type { Graph, Value } from '../graph';
import type { LoraTarget } from '../train/engineApi';
import { type BaseLayer, doraOutput, doraWeightNorm, magnitudeKey } from './dora';
import { dropoutInputName, dropoutScale } from './feeds';

/** PEFT's saved key of a LoRA tensor (no adapter name): base_model.model.<module>.lora_A.weight. */
export const loraKey = (module: string, which: 'A' | 'B'): string => `base_model.model.${module}.lora_${which}.weight`;
/** PEFT's saved key of embedding LoRA (nn.Parameter, so no `.weight`): base_model.model.<module>.lora_embedding_A. */
export const loraEmbeddingKey = (module: string, which: 'A' | 'B'): string => `base_model.model.${module}.lora_embedding_${which}`;
/** The trainable keys of one LoRA target: lora_A/B.weight, or lora_embedding_A/B for an embedding. */
export const targetKeys = (t: { module: { name: string; kind: string } }): [string, string] =>
  t.module.kind === 'embedding' ? [loraEmbeddingKey(t.module.name, 'A'), loraEmbeddingKey(t.module.name, 'B')] : [loraKey(t.module.name, 'A'), loraKey(t.module.name, 'B')];

export interface LoraParam {
  key: string;
  shape: number[];
  value: Value;
  /** Left out of weight decay (a bias: the HF Trainer's no-decay group). */
  noDecay?: boolean;
}

/** PEFT's saved key of lora_B's bias (LoraConfig lora_bias): base_model.model.<module>.lora_B.bias. */
export const loraBiasKey = (module: string): string => `base_model.model.${module}.lora_B.bias`;

/** What a model builder calls at every Linear/Conv1D: the training LoraSet, or the inference adapters (core/generate). */
export interface LoraHook {
  /**
   * base + the adapter's contribution when `module` is adapted; `base` unchanged otherwise. `layer`: the frozen weight
   * and bias under the adapter (DoRA needs them); `rows`: see LoraSet.apply.
   */
  apply(module: string, x2d: Value, base: Value, rows?: Value, layer?: BaseLayer): Value;
  /** An embedding lookup `base` = weight[ids] ([B, T, dim]) plus the adapter's when `module` is adapted. */
  embed?(module: string, ids: Value, base: Value): Value;
}

/**
 * Embedding LoRA (peft/tuners/lora/layer.py Embedding.forward): base + F.embedding(ids, Aᵀ) @ Bᵀ · scaling, with
 * A [r, num_embeddings] and B [dim, r]; no dropout. `paddingIdx` (the embedding's padding_idx): F.embedding gives
 * that row of Aᵀ no gradient, so its column of A only sees weight decay.
 */
export function embeddingLora(ids: Value, base: Value, a: Value, b: Value, scaling: number, module: string, paddingIdx: number | null): Value {
  const g = ids.graph;
  let at = G.transpose(a, [1, 0], { name: `${module}.lora_embedding_A.T` });
  const V = a.shape[1] as number;
  if (paddingIdx !== null && paddingIdx >= 0 && paddingIdx < V) {
    const keep = new Float32Array(V).fill(1);
    keep[paddingIdx] = 0;
    const m = g.constant(at.dtype, [V, 1], at.dtype === 'float64' ? Float64Array.from(keep) : keep);
    at = G.add(G.mul(at, m), G.mul(g.stopGradient(at), G.sub(g.scalar(1, at.dtype), m)), { name: `${module}.padding_idx` });
  }
  const after = G.gather(at, ids, 0, { name: `${module}.lora_embedding_A` });
  const delta = G.matMul(after, G.transpose(b, [1, 0]), { name: `${module}.lora_embedding_B` });
  const lowDelta = delta.dtype === base.dtype ? delta : G.cast(delta, base.dtype);
  return G.add(base, G.mul(lowDelta, scaling, { name: `${module}.scaling` }), { name: `${module}.add_lora` });
}

/** weight[ids] through the LoRA hook (embedding LoRA when `module` is adapted). */
export function embeddingLookup(lora: LoraHook, module: string, weight: Value, ids: Value): Value {
  const base = G.gather(weight, ids);
  return lora.embed !== undefined ? lora.embed(module, ids, base) : base;
}

export class LoraSet implements LoraHook {
  /** Trainable tensors in a fixed order: for each target (in the given order) A, B (and the DoRA magnitude). */
  readonly params: LoraParam[] = [];
  private readonly byModule = new Map<string, { t: LoraTarget; a: Value; b: Value; m: Value | undefined; bias: Value | undefined; mask: Value | undefined }>();
  private readonly used = new Set<string>();

  /**
   * `dtype`: the master dtype of A and B (graph inputs); `act`: the activations' dtype. With fp16 activations A and B
   * are cast to fp16 for the matmuls (torch autocast runs the adapter's Linear layers in fp16; gradients reach the
   * fp32 masters through the Cast).
   */
  constructor(
    readonly g: Graph, targets: LoraTarget[], private readonly dtype: 'float32' | 'float64', dropout: number,
    private readonly act: 'float32' | 'float64' | 'float16' = dtype, dora = false, loraBias = false,
  ) {
    for (const t of targets) {
      const m = t.module;
      if (this.byModule.has(m.name)) throw new InputError('lora-duplicate-target', 'module targeted twice', { tensor: m.name });
      if (!(t.r > 0)) throw new InputError('lora-bad-rank', 'LoRA rank must be positive', { tensor: m.name, actual: String(t.r) });
      const aShape = [t.r, m.inFeatures];
      const bShape = [m.outFeatures, t.r];
      const [aKey, bKey] = targetKeys(t);
      const a = g.input(aKey, dtype, aShape);
      const b = g.input(bKey, dtype, bShape);
      if (m.kind === 'embedding') {
        this.params.push({ key: a.name, shape: aShape, value: a }, { key: b.name, shape: bShape, value: b });
        this.byModule.set(m.name, { t, a, b, m: undefined, bias: undefined, mask: undefined });
        continue;
      }
      // torch's dropout noise: bernoulli(1-p).div_(1-p) in fp32, then one multiply of x by it.
      const mask = dropout > 0
        ? G.mul(G.cast(g.input(dropoutInputName(m.name), 'uint8', ['B*T', m.inFeatures]), act), dropoutScale(dropout), { name: `${m.name}.lora_dropout.noise` })
        : undefined;
      this.params.push({ key: a.name, shape: aShape, value: a }, { key: b.name, shape: bShape, value: b });
      // use_dora: the magnitude vector m [out] (DoraLinearLayer.weight), a trainable input like A and B.
      const mag = dora ? g.input(magnitudeKey(m.name), dtype, [m.outFeatures]) : undefined;
      if (mag !== undefined) this.params.push({ key: mag.name, shape: [m.outFeatures], value: mag });
      // lora_bias: lora_B = nn.Linear(r, out, bias=True), its bias [out] trains (no weight decay: a bias).
      const bias = loraBias ? g.input(loraBiasKey(m.name), dtype, [m.outFeatures]) : undefined;
      if (bias !== undefined) this.params.push({ key: bias.name, shape: [m.outFeatures], value: bias, noDecay: true });
      this.byModule.set(m.name, { t, a, b, m: mag, bias, mask });
    }
  }

  /**
   * base + B(A(dropout(x2d)))·scaling when `module` is a target, else base unchanged. `rows`: x2d holds only these
   * rows of the [B*T, in] activations (lm_head on the label rows), so the dropout mask is gathered the same way.
   */
  apply(module: string, x2d: Value, base: Value, rows?: Value, layer?: BaseLayer): Value {
    const e = this.byModule.get(module);
    if (e === undefined) return base;
    this.used.add(module);
    const mask = e.mask !== undefined && rows !== undefined ? G.gather(e.mask, rows) : e.mask;
    const x = mask !== undefined ? G.mul(x2d, mask, { name: `${module}.lora_dropout` }) : x2d;
    const low = (w: Value): Value => (w.dtype === this.act ? w : G.cast(w, this.act, { name: `${w.name}.autocast` }));
    const xa = G.gemm(x, low(e.a), { transB: true, name: `${module}.lora_A` });
    const xab = G.gemm(xa, low(e.b), { transB: true, ...(e.bias !== undefined ? { c: low(e.bias) } : {}), name: `${module}.lora_B` });
    const lora = G.mul(xab, e.t.scaling, { name: `${module}.scaling` });
    if (e.m !== undefined) {
      if (layer === undefined) throw new PeftStudioError('graph', 'DoRA needs the base layer of the module', { tensor: module });
      return this.g.scope(`${module}.dora`, () => {
        const scale = G.div(e.m as Value, doraWeightNorm(layer, e.a, e.b, e.t.scaling, this.dtype));
        return doraOutput(base, lora, scale, layer, mask !== undefined ? x : undefined);
      });
    }
    return G.add(base, lora, { name: `${module}.add_lora` });
  }

  /** `padding_idx` of the model's embeddings (transformers: config.pad_token_id; GPT-2: none). */
  paddingIdx: number | null = null;

  embed(module: string, ids: Value, base: Value): Value {
    const e = this.byModule.get(module);
    if (e === undefined || e.t.module.kind !== 'embedding') return base;
    this.used.add(module);
    return embeddingLora(ids, base, e.a, e.b, e.t.scaling, module, this.paddingIdx);
  }

  /** Throws when a target was never reached by the builder (a name the architecture does not have). */
  checkAllUsed(): void {
    const missing = [...this.byModule.keys()].filter((m) => !this.used.has(m));
    if (missing.length > 0) {
      throw new InputError('lora-unused-target', `LoRA target(s) not found in the ${this.g.name} graph: ${missing.join(', ')}`, {
        hint: 'Only Linear/Conv1D layers of the decoder (and lm_head) can carry LoRA here',
      });
    }
  }
}
