// Shared pieces of the model builders: base weights as external-data initializers straight into the safetensors files
// (a candle-VarBuilder-style `pp("model.layers.3")` view), Linear/Conv1D as Gemm on 2-D views, norms, activations, loss.
import * as path from 'node:path';
import { InputError } from '../errors';
import * as G from '../graph';
import type { Graph, Value } from '../graph';
import type { ModelInventory } from '../hf/types';
import { openCheckpoint } from '../safetensors/checkpoint';
import type { TensorEntry } from '../safetensors/types';
import type { QuantizedBase } from '../quant/quantCache';
import type { LoraHook } from './lora';

export type ComputeDtype = 'float32' | 'float64';
/** Dtype of weights and activations: the compute dtype, or float16 for mixed precision (fp32 master LoRA weights). */
export type ActivationDtype = ComputeDtype | 'float16';

/** What a model builder returns: the final (normed) hidden states [B*T, hidden] and the output head weight [vocab, hidden]. */
export interface FinalHidden {
  hidden: Value;
  head: Value;
  /** Final-logit soft-capping (Gemma 2: logits = tanh(logits / c) · c after lm_head and its LoRA). */
  logitSoftcap?: number | null;
}

/** Applies FinalHidden.logitSoftcap to the head's logits. */
export function capLogits(logits: Value, cap: number | null | undefined): Value {
  return cap === null || cap === undefined ? logits : G.mul(G.tanh(G.div(logits, cap)), cap);
}

/** The graph inputs every model builder reads. */
export interface ModelInputs {
  /** int64 [B, T]. */
  inputIds: Value;
  /** [B, T]: int64 for GPT-2, float for the Llama family (feeds.positionFeed). */
  positionIds: Value;
  /** Additive mask [B, 1, T, T] (feeds.attentionBias); [B, 1, T, past + T] with a KV cache. */
  attentionBias: Value;
  /** The same mask with the sliding window applied (feeds.attentionBias with `window`), for the layers that use one. */
  slidingBias?: Value;
  /**
   * Inference only: called once per layer with the new keys and values [B, kvHeads, T, D] (after RoPE); returns the
   * keys and values attention should read (the cached past concatenated with the new ones). Absent in training.
   */
  kvCache?: (layer: number, k: Value, v: Value) => { k: Value; v: Value };
}

const ST_TO_IR: Record<string, G.DType> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16', F64: 'float64' };

/** All tensors of a checkpoint folder (single file or shards), by checkpoint name. */
export function checkpointTensors(dir: string): Map<string, TensorEntry> {
  return openCheckpoint(dir).tensors;
}

/**
 * The base weights of one graph. `get(name)` takes the HF parameter name (model.layers.0.mlp.up_proj.weight,
 * transformer.h.0.attn.c_attn.weight), finds the checkpoint tensor (also the gpt2 hub layout without `transformer.`),
 * declares it once as an external initializer (location = the file's name, resolved in the graph's folder) and
 * Casts bf16/f16 to the compute dtype.
 */
export class WeightStore {
  private readonly cache = new Map<string, Value>();
  private readonly keyOf = new Map<string, string>();
  /** HF parameter name → a graph input that replaces the base weight (modules_to_save copies); `served`: those read. */
  readonly overrides = new Map<string, Value>();
  readonly served = new Set<string>();
  /**
   * Weight name → a per-row choice of the layer's output among several weights (stacked generation of modules_to_save
   * copies of a Linear layer: generate/stackedExtras.ts), given the input rows, the base output and the bias.
   */
  readonly rowSelect = new Map<string, (x2d: Value, base: Value, bias: Value | undefined) => Value>();

  constructor(
    readonly g: Graph,
    readonly inventory: ModelInventory,
    readonly dtype: ActivationDtype,
    private readonly tensors: Map<string, TensorEntry> = checkpointTensors(inventory.dir),
    /** A 4-bit base (src/core/quant): its decoder Linear weights are read as blocks + scales instead. */
    readonly quant?: QuantizedBase,
  ) {
    for (const m of inventory.modules) {
      this.keyOf.set(`${m.name}.weight`, m.weightKey);
      if (m.biasKey !== null) this.keyOf.set(`${m.name}.bias`, m.biasKey);
    }
  }

  private checkpointKey(name: string): string | undefined {
    const candidates = [name, this.keyOf.get(name), name.startsWith('transformer.') ? name.slice('transformer.'.length) : undefined];
    return candidates.find((c): c is string => c !== undefined && this.tensors.has(c));
  }

  has(name: string): boolean {
    return this.overrides.has(name) || this.checkpointKey(name) !== undefined;
  }

  /**
   * Serves `name` from `value` (a trainable graph input: a bias that `bias: all|lora_only` trains, a modules_to_save
   * copy) instead of the checkpoint, cast to the activations' dtype; `served` records the ones a builder read.
   */
  provide(name: string, value: Value): void {
    this.overrides.set(name, value);
  }

  /** The 4-bit blocks of weight `name` (external initializers in the quantized file), when the base is quantized. */
  quantized(name: string): { codes: Value; scales: Value; attrs: G.NBitsAttrs } | undefined {
    // A trainable copy (modules_to_save) replaces the weight: it is read in full precision, not from the blocks.
    const key = this.quant !== undefined && !this.overrides.has(name) ? this.checkpointKey(name) : undefined;
    const w = key !== undefined ? this.quant?.weights.get(key) : undefined;
    if (w === undefined || this.quant === undefined) return undefined;
    const location = path.basename(this.quant.file);
    const ext = (e: TensorEntry, dtype: G.DType): Value =>
      this.g.values.get(e.name) ?? this.g.externalInitializer(e.name, dtype, e.shape, { location, offset: e.offset, length: e.length });
    const scales = ext(w.scales, 'float32');
    return {
      codes: ext(w.codes, 'uint8'),
      scales: scales.dtype === this.dtype ? scales : G.cast(scales, this.dtype),
      attrs: { K: w.k, N: w.n, bits: w.bits, blockSize: w.blockSize },
    };
  }

  get(name: string, expectedShape?: number[]): Value {
    const hit = this.cache.get(name);
    if (hit !== undefined) return hit;
    const over = this.overrides.get(name);
    if (over !== undefined) {
      this.served.add(name);
      const v = over.dtype === this.dtype ? over : G.cast(over, this.dtype, { name: `${over.name}.autocast` });
      this.cache.set(name, v);
      return v;
    }
    const v = this.checkpointValue(name, expectedShape);
    this.cache.set(name, v);
    return v;
  }

  /**
   * The checkpoint's tensor `name` even where a copy overrides it: what an untouched module still reads (a tied head
   * beside a modules_to_save copy of the embedding keeps PEFT's original parameter).
   */
  base(name: string): Value {
    if (!this.overrides.has(name)) return this.get(name);
    const id = `\0base:${name}`;
    const hit = this.cache.get(id);
    if (hit !== undefined) return hit;
    const v = this.checkpointValue(name, undefined, '.original');
    this.cache.set(id, v);
    return v;
  }

  private checkpointValue(name: string, expectedShape?: number[], suffix = ''): Value {
    const key = this.checkpointKey(name);
    if (key === undefined) {
      throw new InputError('model-missing-weight', 'the checkpoint has no such tensor', { tensor: name, file: this.inventory.dir });
    }
    // A 4-bit base keeps fp32 copies of its 16-bit full-precision weights in the quantized file (src/core/quant).
    const widened = this.quant?.full.get(key);
    const e = widened ?? (this.tensors.get(key) as TensorEntry);
    const dtype = ST_TO_IR[e.dtype];
    if (dtype === undefined) {
      throw new InputError('model-weight-dtype', `unsupported weight dtype ${e.dtype}`, { tensor: key, file: e.file, expected: 'F32, F16, BF16 or F64' });
    }
    if (expectedShape !== undefined && (expectedShape.length !== e.shape.length || expectedShape.some((d, i) => d !== e.shape[i]))) {
      throw new InputError('model-weight-shape', 'the weight does not have the shape config.json implies', {
        tensor: key, file: e.file, expected: `[${expectedShape.join(', ')}]`, actual: `[${e.shape.join(', ')}]`,
      });
    }
    const raw = this.g.values.get(key) ?? this.g.externalInitializer(key, dtype, e.shape, { location: path.basename(e.file), offset: e.offset, length: e.length });
    return dtype === this.dtype ? raw : G.cast(raw, this.dtype, { name: `${key}.cast${suffix}` });
  }
}

/** The additive mask decoder layer `layer` attends with: the sliding-window one on sliding layers, else the full causal one. */
export function layerBias(inputs: ModelInputs, spec: ModelInventory['spec'], layer: number): Value {
  if (inputs.slidingBias === undefined) return inputs.attentionBias;
  return spec.slidingLayers === undefined || spec.slidingLayers[layer] === true ? inputs.slidingBias : inputs.attentionBias;
}

/** A view of a WeightStore under a name prefix, as candle's VarBuilder::pp. */
export class VarBuilder {
  constructor(readonly store: WeightStore, readonly prefix = '') {}

  pp(sub: string | number): VarBuilder {
    return new VarBuilder(this.store, this.path(String(sub)));
  }

  path(name: string): string {
    return this.prefix === '' ? name : `${this.prefix}.${name}`;
  }

  get(name: string, shape?: number[]): Value {
    return this.store.get(this.path(name), shape);
  }

  has(name: string): boolean {
    return this.store.has(this.path(name));
  }
}

/** nn.Linear on a 2-D view: Gemm(x2d, W [out, in], bias, transB=1), no transposed copy of W; LoRA added when targeted. */
export function linear(vb: VarBuilder, x2d: Value, inF: number, outF: number, bias: boolean, lora: LoraHook): Value {
  const b = bias ? vb.get('bias', [outF]) : undefined;
  const select = vb.store.rowSelect.get(vb.path('weight'));
  const rows = (y: Value): Value => (select !== undefined ? select(x2d, y, b) : y);
  const q = vb.store.quantized(vb.path('weight'));
  if (q !== undefined) {
    // 4-bit base: MatMulNBits on the blocks (its backward dequantizes them per use: graph/vjp/nbits.ts).
    const y = G.matMulNBits(x2d, q.codes, q.scales, q.attrs, vb.path('MatMulNBits'));
    return lora.apply(vb.prefix, x2d, rows(b !== undefined ? G.add(y, b) : y));
  }
  const w = vb.get('weight', [outF, inF]);
  const y = G.gemm(x2d, w, { transB: true, ...(b !== undefined ? { c: b } : {}), name: vb.path('Gemm') });
  return lora.apply(vb.prefix, x2d, rows(y), undefined, { weight: w, ...(b !== undefined ? { bias: b } : {}), fanInFanOut: false });
}

/** transformers' Conv1D (GPT-2): x2d @ W [in, out] + b as Gemm(x2d, W, b). */
export function conv1d(vb: VarBuilder, x2d: Value, inF: number, outF: number, lora: LoraHook): Value {
  const w = vb.get('weight', [inF, outF]);
  const b = vb.get('bias', [outF]);
  const y = G.gemm(x2d, w, { c: b, name: vb.path('Gemm') });
  const select = vb.store.rowSelect.get(vb.path('weight'));
  return lora.apply(vb.prefix, x2d, select !== undefined ? select(x2d, y, b) : y, undefined, { weight: w, bias: b, fanInFanOut: true });
}

/** x in fp32 (autocast's fp32 ops on fp16 activations); unchanged otherwise. */
export const toFloat32 = (x: Value): Value => (x.dtype === 'float16' ? G.cast(x, 'float32') : x);

/**
 * LlamaRMSNorm: x · 1/sqrt(mean(x²) + eps) · weight, over the last axis. With fp16 activations it computes in fp32 and
 * casts back before the weight, as transformers: `weight * hidden_states.to(input_dtype)`.
 */
export function rmsNorm(x: Value, weight: Value, eps: number): Value {
  const xf = toFloat32(x);
  const ms = G.reduceMean(G.mul(xf, xf), [-1]);
  const inv = G.reciprocal(G.sqrt(G.add(ms, eps)));
  const y = G.mul(xf, inv);
  return G.mul(weight, y.dtype === x.dtype ? y : G.cast(y, x.dtype));
}

/**
 * nn.LayerNorm over the last axis (biased variance, as torch). fp16 activations: computed in fp32 with fp32 weights
 * (torch autocast runs layer_norm in fp32), the result cast to fp16 for the matmul that reads it.
 */
export function layerNorm(x: Value, weight: Value, bias: Value, eps: number): Value {
  const xf = toFloat32(x);
  const mean = G.reduceMean(xf, [-1]);
  const xc = G.sub(xf, mean);
  const v = G.reduceMean(G.mul(xc, xc), [-1]);
  const y = G.mul(xc, G.reciprocal(G.sqrt(G.add(v, eps))));
  const out = G.add(G.mul(y, toFloat32(weight)), toFloat32(bias));
  return out.dtype === x.dtype ? out : G.cast(out, x.dtype);
}

export const silu = (x: Value): Value => G.mul(x, G.sigmoid(x));

/** activations.NewGELUActivation: 0.5·x·(1 + tanh(sqrt(2/π)·(x + 0.044715·x³))). */
export function geluNew(x: Value): Value {
  const inner = G.mul(G.add(x, G.mul(G.mul(G.mul(x, x), x), 0.044715)), Math.sqrt(2 / Math.PI));
  return G.mul(G.mul(x, 0.5), G.add(G.tanh(inner), 1));
}

/**
 * Weighted cross-entropy Σ_t w_t · (logsumexp(logits_t) − logits_t[target_t]) over a 2-D [N, V] logits view.
 * `targets` [N, 1] int64 (already shifted), `weights` [N, 1] (0 for ignored tokens, 1/N_step or 1 otherwise).
 * The max (a constant to autodiff) is subtracted for stability; log-softmax is composed from ReduceMax/Sub/Exp/
 * ReduceSum/Log, not LogSoftmax (docs/ONNXRUNTIME.md: it leaves the WebGPU EP).
 */
export function weightedCrossEntropy(logits16or32: Value, targets: Value, weights: Value): Value {
  const logits2d = toFloat32(logits16or32); // transformers' ForCausalLMLoss: logits.float()
  const m = logits2d.graph.stopGradient(G.reduceMax(logits2d, [-1]));
  const shifted = G.sub(logits2d, m);
  const lse = G.log(G.reduceSum(G.exp(shifted), [-1]));
  const picked = G.gatherElements(shifted, targets, 1);
  const nll = G.sub(lse, picked);
  return G.reduceSum(G.mul(nll, weights), undefined, false);
}
