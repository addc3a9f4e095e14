// Composite layers built from primitive ops (so autodiff needs no extra rules): linear, stable softmax/log-softmax,
// cross-entropy with ignore_index, RMSNorm, LayerNorm, SiLU, gelu_new — each as transformers computes it.
import { type DType, type Value, typedArrayOf } from './ir';
import {
  add, cast, div, equal, exp, gemm, less, log, max, mul, not, reciprocal, reduceMax, reduceMean, reduceSum, sigmoid, sqrt,
  sub, tanh, where,
} from './ops';
import { gatherElements, squeeze, unsqueeze } from './opsShape';

export interface LinearOptions {
  /** true (default): W is an HF Linear weight [out, in] (Gemm transB=1); false: GPT-2 Conv1D weight [in, out]. */
  transB?: boolean;
  name?: string;
}

/** y = x2d·Wᵀ + b on a 2-D [tokens, features] view: one Gemm, no transposed copy of a frozen W (docs/ONNXRUNTIME.md). */
export function linear(x2d: Value, W: Value, bias?: Value, opts: LinearOptions = {}): Value {
  return gemm(x2d, W, {
    transB: opts.transB ?? true,
    ...(bias !== undefined ? { c: bias } : {}),
    ...(opts.name !== undefined ? { name: opts.name } : {}),
  });
}

/** Numerically stable softmax: exp(x − max) / Σ exp(x − max), the max a constant to autodiff. */
export function softmax(x: Value, axis = -1): Value {
  const m = x.graph.stopGradient(reduceMax(x, [axis], true));
  const e = exp(sub(x, m));
  return div(e, reduceSum(e, [axis], true));
}

/** log Σ exp(x) along `axis` (keepdims), stable; composed from ReduceMax/Sub/Exp/ReduceSum/Log (WebGPU-friendly). */
export function logSumExp(x: Value, axis = -1): Value {
  const m = x.graph.stopGradient(reduceMax(x, [axis], true));
  return add(m, log(reduceSum(exp(sub(x, m)), [axis], true)));
}

/** log_softmax(x) = x − logsumexp(x), without LogSoftmax (it falls back to the CPU on WebGPU). */
export function logSoftmax(x: Value, axis = -1): Value {
  return sub(x, logSumExp(x, axis));
}

export interface CrossEntropyResult {
  /** Σ over non-ignored rows of −log softmax(logits)[target]. */
  sum: Value;
  /** Number of non-ignored rows (same float dtype as the logits). */
  count: Value;
  /** sum / max(count, 1): torch's reduction='mean' (0 instead of NaN when every label is ignored). */
  mean: Value;
  /** Per-row loss, 0 at ignored rows. */
  perRow: Value;
}

/**
 * torch.nn.functional.cross_entropy(logits2d [N, V], targets [N] int64, ignore_index): the target logit is gathered with
 * GatherElements (no OneHot/LogSoftmax, which leave the WebGPU EP). The ignore mask is an int64 compare on [N] (ORT keeps
 * that tiny shape-like arithmetic on the CPU); targets are never cast to float (fp16 cannot hold ids above 2048).
 * Targets must lie in [0, V) or equal ignoreIndex.
 */
export function crossEntropy(logits: Value, targets: Value, ignoreIndex = -100): CrossEntropyResult {
  if (logits.rank !== 2 || targets.rank !== 1) throw new Error('crossEntropy expects logits [N, V] and targets [N]');
  const dt: DType = logits.dtype;
  const g = logits.graph;
  const idx = (x: number): Value => g.constant(targets.dtype, [], typedArrayOf(targets.dtype, [x]));
  const ignored = ignoreIndex < 0 ? less(targets, idx(0)) : equal(targets, idx(ignoreIndex));
  const valid = cast(not(ignored), dt);
  const safe = where(ignored, idx(0), targets);
  const picked = squeeze(gatherElements(logits, unsqueeze(safe, [1]), 1), [1]);
  const lse = squeeze(logSumExp(logits, 1), [1]);
  const perRow = mul(sub(lse, picked), valid);
  const sum = reduceSum(perRow, [0], false);
  const count = reduceSum(valid, [0], false);
  return { sum, count, mean: div(sum, max(count, 1)), perRow };
}

/** The dtype norms compute in: fp32, or fp64 when the input is fp64 (gradient checks). */
const normDtype = (x: Value): DType => (x.dtype === 'float64' ? 'float64' : 'float32');

/** LlamaRMSNorm: w · (x · rsqrt(mean(x²) + eps)) computed in fp32, the normalized value cast back before the weight. */
export function rmsNorm(x: Value, weight: Value, eps: number): Value {
  const dt = normDtype(x);
  const h = cast(x, dt);
  const variance = reduceMean(mul(h, h), [-1], true);
  const normed = cast(mul(h, reciprocal(sqrt(add(variance, eps)))), x.dtype);
  return mul(cast(weight, x.dtype), normed);
}

/** torch LayerNorm over the last axis, decomposed: (x − mean)·rsqrt(var + eps)·w + b (biased variance). */
export function layerNorm(x: Value, weight: Value, bias: Value | undefined, eps: number): Value {
  const dt = normDtype(x);
  const h = cast(x, dt);
  const xc = sub(h, reduceMean(h, [-1], true));
  const variance = reduceMean(mul(xc, xc), [-1], true);
  const y = mul(mul(xc, reciprocal(sqrt(add(variance, eps)))), cast(weight, dt));
  return cast(bias !== undefined ? add(y, cast(bias, dt)) : y, x.dtype);
}

/** SiLU: x · σ(x). */
export function silu(x: Value): Value {
  return mul(x, sigmoid(x));
}

/** transformers' NewGELUActivation (gelu_new): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
export function geluNew(x: Value): Value {
  const inner = mul(add(x, mul(mul(mul(x, x), x), 0.044715)), Math.sqrt(2 / Math.PI));
  return mul(mul(x, 0.5), add(tanh(inner), 1));
}
