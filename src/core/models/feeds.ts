// Host-side inputs of the model graphs, computed from a Batch: position ids, the additive attention mask (causal +
// padding, block-diagonal for packed rows), the HF-shifted label rows with loss weights, LoRA dropout keep-masks.
import { archOf } from '../arch/registry';
import type { ModelSpec } from '../hf/types';
import { InputError } from '../errors';
import type { Batch, LoraTarget } from '../train/engineApi';
import { Rng } from '../util/random';

/** Graph input names shared by the builders (models/*) and the engine. */
export const INPUT = {
  inputIds: 'input_ids',
  positionIds: 'position_ids',
  attentionBias: 'attention_bias',
  /** attention_bias with the sliding window (models whose spec has slidingWindow). */
  slidingBias: 'attention_bias_sliding',
  /** Flat row (r·T + t) of each position whose next label counts, int64 [L]. */
  labelIndex: 'label_index',
  /** Its target token, int64 [L]. */
  targets: 'targets',
  /** Its loss weight, float [L]. */
  lossWeights: 'loss_weights',
} as const;

/** Name of the dropout-mask input of one LoRA target. */
export const dropoutInputName = (module: string): string => `lora_dropout.${module}`;

/** fp32 finfo.min, the value transformers' masking_utils adds at hidden positions. */
export const MASK_MIN = -3.4028234663852886e38;

export type FloatArray = Float32Array | Float64Array;
export type FloatDtype = 'float32' | 'float64';

export interface HostFeed {
  data: FloatArray | BigInt64Array;
  dims: number[];
}

function floatArray(dtype: FloatDtype, n: number): FloatArray {
  return dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
}

/** Checks the lengths of a Batch's arrays; an InputError names the field. */
export function checkBatch(b: Batch): void {
  const n = b.batchSize * b.seqLen;
  const fields: [string, BigInt64Array | undefined][] = [
    ['inputIds', b.inputIds], ['labels', b.labels], ['attentionMask', b.attentionMask], ['positionIds', b.positionIds],
  ];
  for (const [name, arr] of fields) {
    if (arr !== undefined && arr.length !== n) {
      throw new InputError('engine-bad-batch', `batch field ${name} has the wrong length`, { expected: `${b.batchSize}x${b.seqLen} = ${n}`, actual: String(arr.length) });
    }
  }
  if (b.seqLen < 1 || b.batchSize < 1) throw new InputError('engine-bad-batch', 'empty batch', { actual: `${b.batchSize}x${b.seqLen}` });
}

/** Position ids: the given ones, else 0..seqLen-1 in every row (transformers' default cache_position). */
export function positionIds(b: Batch): BigInt64Array {
  if (b.positionIds !== undefined) return b.positionIds;
  const out = new BigInt64Array(b.batchSize * b.seqLen);
  for (let r = 0; r < b.batchSize; r++) for (let t = 0; t < b.seqLen; t++) out[r * b.seqLen + t] = BigInt(t);
  return out;
}

/**
 * The `position_ids` feed of a model graph: int64 for GPT-2 (a Gather into wpe), floats for the Llama family (only
 * multiplied by inv_freq; fed as floats so that no int64→float Cast leaves the GPU).
 */
export function positionFeed(b: Batch, spec: Pick<ModelSpec, 'modelType'>, dtype: FloatDtype): HostFeed {
  const ids = positionIds(b);
  const dims = [b.batchSize, b.seqLen];
  if (archOf(spec).learnedPositions) return { data: ids, dims };
  const out = floatArray(dtype, ids.length);
  for (let i = 0; i < ids.length; i++) out[i] = Number(ids[i]!);
  return { data: out, dims };
}

/** dtype of the `position_ids` input of a model family's graphs (see positionFeed). */
export const positionDtype = (spec: Pick<ModelSpec, 'modelType'>, dtype: FloatDtype): 'int64' | FloatDtype => (archOf(spec).learnedPositions ? 'int64' : dtype);

/**
 * Additive attention mask [B, 1, T, T]: 0 where query i may see key j, MASK_MIN elsewhere. Causal (j ≤ i), keys with
 * attention_mask 0 hidden; with explicit position ids a new segment starts at every position 0 and keys of other
 * segments are hidden (packed sequences). With `window`, keys more than window − 1 positions back are hidden too.
 * Fed from the host: no Range/Equal(int64) ops in the graph (docs/ONNXRUNTIME.md).
 */
export function attentionBias(b: Batch, dtype: FloatDtype, window?: number): HostFeed {
  const T = b.seqLen;
  const out = floatArray(dtype, b.batchSize * T * T);
  const seg = new Int32Array(T);
  const valid = new Uint8Array(T);
  for (let r = 0; r < b.batchSize; r++) {
    let s = 0;
    for (let t = 0; t < T; t++) {
      if (b.positionIds !== undefined && b.positionIds[r * T + t] === 0n) s++;
      seg[t] = s;
      valid[t] = b.attentionMask[r * T + t] !== 0n ? 1 : 0;
    }
    for (let i = 0; i < T; i++) {
      const row = (r * T + i) * T;
      // Sliding window W (masking_utils.sliding_window_overlay): key j visible only when j > i - W.
      const from = window === undefined ? 0 : Math.max(0, i - window + 1);
      out.fill(MASK_MIN, row, row + from);
      for (let j = from; j <= i; j++) out[row + j] = valid[j] === 1 && seg[j] === seg[i] ? 0 : MASK_MIN;
      out.fill(MASK_MIN, row + i + 1, row + T);
    }
  }
  return { data: out, dims: [b.batchSize, 1, T, T] };
}

/** Label tokens of a batch after the HF shift: labels[:, 1:] != -100. */
export function countLabelTokens(b: Batch): number {
  let n = 0;
  for (let r = 0; r < b.batchSize; r++) for (let t = 1; t < b.seqLen; t++) if (b.labels[r * b.seqLen + t] !== -100n) n++;
  return n;
}

export function countInputTokens(b: Batch): number {
  let n = 0;
  for (const m of b.attentionMask) if (m !== 0n) n++;
  return n;
}

/**
 * The rows of the loss, HF shift included (loss_utils.ForCausalLMLoss: logits at t predict labels[t+1], -100 and the
 * last position ignored): `index` = flat row r·T + t of each predicting position, its `target` token and its `weight`
 * (1/N over the optimizer step, or 1 for summed eval losses). Only these rows reach lm_head and the cross-entropy, so
 * prompt, padding and last positions cost no vocabulary-sized logits. With no label token at all, one dummy row of
 * weight 0 keeps the shapes non-empty (loss 0, gradients 0).
 */
export function labelRows(b: Batch, weight: number, dtype: FloatDtype, vocabSize: number): { index: HostFeed; targets: HostFeed; weights: HostFeed } {
  const T = b.seqLen;
  const index: bigint[] = [];
  const targets: bigint[] = [];
  for (let r = 0; r < b.batchSize; r++) {
    for (let t = 0; t + 1 < T; t++) {
      const label = b.labels[r * T + t + 1]!;
      if (label === -100n) continue;
      if (label < 0n || label >= BigInt(vocabSize)) {
        throw new InputError('engine-bad-label', `label ${label} at row ${r}, position ${t + 1} is outside the vocabulary`, { expected: `0..${vocabSize - 1} or -100` });
      }
      index.push(BigInt(r * T + t));
      targets.push(label);
    }
  }
  const n = Math.max(index.length, 1);
  const weights = floatArray(dtype, n);
  if (index.length > 0) weights.fill(weight);
  const idx = index.length > 0 ? BigInt64Array.from(index) : new BigInt64Array(1);
  const tg = index.length > 0 ? BigInt64Array.from(targets) : new BigInt64Array(1);
  return { index: { data: idx, dims: [n] }, targets: { data: tg, dims: [n] }, weights: { data: weights, dims: [n] } };
}

/** Checks token ids against the vocabulary (a Gather out of range would fail deep inside ORT). */
export function checkInputIds(b: Batch, vocabSize: number): void {
  for (let i = 0; i < b.inputIds.length; i++) {
    const id = b.inputIds[i]!;
    if (id < 0n || id >= BigInt(vocabSize)) {
      throw new InputError('engine-bad-token', `token id ${id} at row ${Math.floor(i / b.seqLen)}, position ${i % b.seqLen} is outside the vocabulary`, { expected: `0..${vocabSize - 1}` });
    }
  }
}

/** The value kept elements are scaled by: 1 / (1-p) as torch's fp32 `noise.div_(1 - p)` computes it. */
export const dropoutScale = (p: number): number => Math.fround(1 / Math.fround(1 - p));

/**
 * Keep-masks for the LoRA inputs (torch nn.Dropout: keep with probability 1-p; the graph scales kept values by
 * 1/(1-p)), one uint8 [B*T, in] tensor per target (1 byte per element: 4× less than fp32 masks), drawn from Rng(seed)
 * in target order. Empty when p = 0.
 */
export function dropoutMasks(b: Batch, targets: LoraTarget[], p: number, seed: number): Map<string, { data: Uint8Array; dims: number[] }> {
  const out = new Map<string, { data: Uint8Array; dims: number[] }>();
  if (p <= 0) return out;
  const rng = new Rng(seed);
  for (const t of targets) {
    if (t.module.kind === 'embedding') continue; // PEFT's Embedding.forward applies no lora_dropout
    const n = b.batchSize * b.seqLen * t.module.inFeatures;
    const m = new Uint8Array(n);
    for (let i = 0; i < n; i++) m[i] = rng.uniform() >= p ? 1 : 0;
    out.set(dropoutInputName(t.module.name), { data: m, dims: [b.batchSize * b.seqLen, t.module.inFeatures] });
  }
  return out;
}
