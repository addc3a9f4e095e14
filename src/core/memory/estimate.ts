// Training-memory estimate for our ONNX step graph: base weights as ORT holds them, LoRA state, the activations
// the backward pass keeps (per layer, from the VJP rules of core/graph), logits/softmax/grad and the runtime.
import { archOf } from '../arch/registry';
import type { ModelInventory, ParameterInfo } from '../hf/types';
import { usePrepacking } from '../runtime/prepacking';
import { type QuantizationConfig, quantizedBytes } from '../quant/blockQuant';
import { quantizedModules } from '../quant/quantCache';
import type { DeviceName, LoraTarget } from '../train/engineApi';

export interface MemoryOptions {
  batchSize: number;
  seqLen: number;
  device: DeviceName;
  /** fp32 everywhere, or fp16 base weights/activations (GPU only; the CPU always computes in fp32). */
  precision: 'fp32' | 'fp16';
  gradAccum: number;
  /** LoRA dropout > 0 feeds a [tokens, in] mask per target. */
  loraDropout?: number;
  /** An eval data set opens a second (forward-only) session holding its own copy of the weights. */
  withEval?: boolean;
  /** Trainable elements beside A and B: DoRA magnitudes (use_dora) and trained base biases (bias: lora_only / all). */
  extraTrainable?: number;
  /** use_dora: each step forms W + s·B·A of every target for its norm (one [out, in] fp32 temporary at a time). */
  dora?: boolean;
  /**
   * modules_to_save: elements of the trainable copies, and the lowest decoder layer one sits in (-1: an embedding, so
   * the backward runs through every layer; null: only the final norm / head).
   */
  copies?: { elements: number; lowestLayer: number | null };
  /** A 4-bit base (recipe `quantization:`): the decoder Linear weights held as blocks + scales (docs/QUANTIZATION.md). */
  quantization?: QuantizationConfig | null;
}

export interface MemoryComponent {
  name: string;
  bytes: number;
  /** How it was computed, for the CLI and hovers. */
  detail: string;
}

export interface MemoryEstimate {
  components: MemoryComponent[];
  totalBytes: number;
  /** Host (RSS) or device memory. */
  where: 'host' | 'device';
}

/** Node + onnxruntime-node + our bundle resident before any model (measured: node + ORT alone is 51 MiB). */
export const RUNTIME_OVERHEAD_BYTES = 60 * 2 ** 20;
/** One ORT session beyond its tensors: the optimised graph, kernels, thread pool (measured 33-40 MiB on fixtures). */
export const SESSION_OVERHEAD_BYTES = 35 * 2 ** 20;
/**
 * ORT's memory plan holds more than the tensors the backward keeps: forward transients alive at the peak and
 * alignment (measured: planned block / counted activations = 1.18-1.22 on Llama and GPT-2 fixtures).
 */
export const PLANNER_FACTOR = 1.2;
/**
 * The plan holds less than all layers' softmax outputs: fitted on probe runs from T = 41 to T = 1024 (32M model,
 * 4 × 512 and 2 × 1024 were +6 % and +10 % when they were counted in full; with 0.7 all 11 runs are within ±6 %).
 */
export const ATTENTION_PLAN_FACTOR = 0.7;
/**
 * ORT's BFC arena without the memory pattern: fraction of the plan lost to chunk rounding, and a fixed part. Fitted
 * on 11 probe runs (5M-32M Llama, GPT-2; 4×41 to 2×1024 tokens) once the prepacked weights were counted: every
 * run within ±6 % (docs/MEMORY.md).
 */
export const ARENA_FRAGMENTATION = 0.03;
export const ARENA_FIXED_BYTES = 25 * 2 ** 20;

const BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8, I32: 4, U8: 1, I8: 1, BOOL: 1 };

export function dtypeBytes(dtype: string): number {
  return BYTES[dtype.toUpperCase()] ?? 4;
}

/** Components that live in ORT's activation plan (scaled by PLANNER_FACTOR). */
const ACTIVATION_COMPONENTS = new Set(['LoRA dropout masks', 'logits, softmax and their gradient', 'backward working set', 'attention mask and positions']);

/** Decoder layers whose backward runs: every layer at or above the lowest LoRA target (all of them for lm_head-only: none). */
function backwardLayers(inv: ModelInventory, targets: LoraTarget[], copyLayer: number | null = null): number {
  // LoRA on an embedding: its gradient comes back through every layer.
  const layers = targets.map((t) => (t.module.kind === 'embedding' ? 0 : t.module.layer)).filter((l): l is number => l !== null);
  if (copyLayer !== null) layers.push(Math.max(0, copyLayer));
  if (layers.length === 0) return 0;
  return inv.spec.numLayers - Math.min(...layers);
}

export function estimateMemory(inv: ModelInventory, targets: LoraTarget[], opts: MemoryOptions): MemoryEstimate {
  const s = inv.spec;
  const B = Math.max(1, opts.batchSize);
  const T = Math.max(1, opts.seqLen);
  const N = B * T;
  const gpu = opts.device !== 'cpu';
  const act = gpu && opts.precision === 'fp16' ? 2 : 4;
  const out: MemoryComponent[] = [];
  const add = (name: string, bytes: number, detail: string): void => {
    if (bytes > 0) out.push({ name, bytes: Math.round(bytes), detail });
  };

  // Base weights: fp32 on the CPU (ORT casts bf16/f16 initializers, folding a converted copy), else the compute dtype.
  // A 4-bit base holds its decoder Linear weights as blocks + fp32 scales instead (read from the quantized file).
  const q = opts.quantization ?? null;
  const quantMods = q !== null ? quantizedModules(inv) : [];
  const quantKeys = new Set(quantMods.map((m) => m.weightKey));
  const params: ParameterInfo[] = inv.parameters.filter((p) => !quantKeys.has(p.name));
  const computeW = gpu && opts.precision === 'fp16' ? 2 : 4;
  const wBytes = params.reduce((a, p) => a + numel(p.shape) * computeW, 0);
  const sessions = opts.withEval === true ? 2 : 1;
  const fullN = params.reduce((a, p) => a + numel(p.shape), 0);
  add('base weights', wBytes * sessions, `${fmtCount(fullN)} parameters × ${computeW} bytes (${computeW === 4 ? 'fp32' : 'fp16'}${opts.device === 'cpu' ? ': ORT CPU computes in fp32' : ''})` + (q !== null ? ' not quantized (embeddings, norms, lm_head)' : '') + (sessions > 1 ? ', × 2 sessions (train + eval)' : ''));
  if (q !== null) {
    const qN = quantMods.reduce((a, m) => a + m.inFeatures * m.outFeatures, 0);
    const qBytes = quantMods.reduce((a, m) => a + quantizedBytes(m.outFeatures, m.inFeatures, q.block_size), 0);
    add('4-bit base weights', qBytes * sessions, `${fmtCount(qN)} decoder Linear weights as 4-bit blocks of ${q.block_size} + one fp32 scale each (${(8 * qBytes / qN).toFixed(2)} bits a weight)` + (sessions > 1 ? ', × 2 sessions' : ''));
  }
  // With a 4-bit base the 16-bit full-precision weights are read from fp32 copies in the quantized file: no Cast.
  const castBytes = q !== null ? 0 : params.filter((p) => dtypeBytes(p.dtype) !== computeW).reduce((a, p) => a + numel(p.shape) * dtypeBytes(p.dtype), 0);
  add('checkpoint copy during load', castBytes, 'bf16/f16 initializers read before ORT folds their Cast to the compute dtype');

  // LoRA state: params, grads, AdamW moments in the session, and the updated state it returns.
  const loraN = targets.reduce((a, t) => a + t.r * (t.module.inFeatures + t.module.outFeatures), 0) + (opts.extraTrainable ?? 0);
  add('LoRA parameters', loraN * 4, `${fmtCount(loraN)} trainable × 4 bytes (fp32 master weights)`);
  add('LoRA gradients', loraN * 4 * (opts.gradAccum > 1 ? 2 : 1), opts.gradAccum > 1 ? 'fp32, plus the accumulated sum across micro-batches' : 'fp32');
  add('AdamW moments', loraN * 8, 'exp_avg + exp_avg_sq, fp32');
  add('updated state (session outputs)', loraN * 12, 'new parameters and moments returned by each step');
  const copyN = opts.copies?.elements ?? 0;
  add('modules_to_save copies', copyN * 4 * (1 + (opts.gradAccum > 1 ? 2 : 1) + 2 + 3), `${fmtCount(copyN)} trainable × 4 bytes × (weights, gradient${opts.gradAccum > 1 ? ' + sum' : ''}, 2 moments, 3 updated outputs)`);

  if (opts.dora === true) {
    const widest = targets.reduce((a, t) => Math.max(a, t.module.inFeatures * t.module.outFeatures), 0);
    add('DoRA weight norms', widest * 4 * 2, 'W + s·B·A of the largest target and its square, fp32, for ||W + s·B·A|| (one target at a time)');
  }
  // Activations kept for the backward pass, per layer above the lowest target.
  const L = backwardLayers(inv, targets, opts.copies?.lowestLayer ?? null);
  // With prepacking on (runtime/prepacking.ts: CPU, models up to 1 GiB of fp32 weights), ORT keeps a packed copy of
  // every frozen weight the backward's dX = dY·W reads: the linear weights of each backward layer (measured on the
  // 32M and a 3-layer hidden-2048 model: top layer only vs all layers, same activations, differ by exactly those).
  const lowest = inv.spec.numLayers - L;
  const prepack = opts.device === 'cpu' && usePrepacking(inv);
  const copied = prepack
    ? inv.modules.filter((m) => (m.kind === 'linear' || m.kind === 'conv1d') && m.layer !== null && m.layer >= lowest && !quantKeys.has(m.weightKey)).reduce((a, m) => a + m.inFeatures * m.outFeatures, 0)
    : 0;
  add('prepacked weights for the backward', copied * 4, `${fmtCount(copied)} frozen weights of the ${L} backward layer(s), packed by ORT for dX = dY·W (prepacking is off above 1 GiB of weights)`);
  if (q !== null) {
    // Prepacking: MatMulNBits packs every block matrix; the original stays where the backward dequantizes it.
    const packed = prepack ? quantMods.filter((m) => m.layer !== null && m.layer >= lowest).reduce((a, m) => a + quantizedBytes(m.outFeatures, m.inFeatures, q.block_size), 0) : 0;
    add('4-bit blocks kept beside their packed copy', packed, 'MatMulNBits prepacks its blocks; the backward layers keep the originals for dX = dY·dequant(W)');
    // The backward dequantizes one weight at a time: its codes as fp32 and the scaled result alive together.
    const largest = L > 0 ? Math.max(0, ...quantMods.filter((m) => m.layer !== null && m.layer >= lowest).map((m) => m.inFeatures * m.outFeatures)) : 0;
    add('dequantized weight (backward, per use)', 2 * largest * 4, `the largest backward weight (${fmtCount(largest)}) in fp32, twice: codes and scaled values`);
  }
  const H = s.hiddenSize;
  const I = s.intermediateSize;
  const qkv = (s.numHeads + 2 * s.numKvHeads) * s.headDim;
    // residual inputs of the 2 norms (Llama: x for rsqrt(mean x²); GPT-2: the centred x), q/k/v after RoPE (MatMul inputs),
  // attention output (o_proj input, only when o_proj carries LoRA: counted with the LoRA inputs below).
  const perLayerBase = N * (2 * H + qkv) * act;
  const probs = B * s.numHeads * T * T * act;
  // MLP: Llama SwiGLU keeps gate, sigmoid(gate), silu(gate), up; GPT-2 gelu_new keeps x, x², tanh(..), 0.5x(1+tanh).
  const perLayerMlp = N * I * 4 * act;
  add('activations: norms and q/k/v', L * perLayerBase, `${L} layers × tokens ${N} × (2·${H} + ${qkv}) × ${act} bytes`);
  add('activations: attention probabilities', L * probs, `${L} layers × [B ${B}, heads ${s.numHeads}, T ${T}, T ${T}] × ${act} bytes (softmax output for its backward)`);
  add('activations: MLP', L * perLayerMlp, `${L} layers × tokens ${N} × 4·${I} × ${act} bytes (${archOf(s).mlpLabel} intermediates)`);
  // Each target keeps its input (for dA) and x·Aᵀ (for dB); inputs shared by q/k/v (or gate/up) are counted once.
  const inputs = new Map<string, number>();
  let xa = 0;
  let masks = 0;
  for (const t of targets) {
    if (t.module.kind === 'embedding') {
      xa += N * t.r * 4; // F.embedding(ids, Aᵀ): the input is the ids, only [tokens, r] is kept
      continue;
    }
    const key = `${t.module.layer ?? 'head'}:${sharedInputGroup(t.module.name)}`;
    inputs.set(key, N * t.module.inFeatures * act);
    xa += N * t.r * 4;
    if ((opts.loraDropout ?? 0) > 0) masks += N * t.module.inFeatures * 4;
  }
  const loraInputs = [...inputs.values()].reduce((a, b) => a + b, 0);
  add('activations: LoRA inputs and x·Aᵀ', loraInputs + xa, `inputs of ${inputs.size} distinct adapted Gemm(s) + [tokens, r] per target`);
  add('LoRA dropout masks', masks, 'a [tokens, in_features] mask per target, fed as an input');

  // Logits [N, V] (fp32), their exp for the softmax backward, and dlogits.
  const V = s.vocabSize;
  add('logits, softmax and their gradient', 3 * N * V * 4, `3 × [tokens ${N}, vocab ${V}] × 4 bytes`);
  // Backward working set: gradient of the residual stream, of the MLP and of one layer's attention scores.
  add('backward working set', L > 0 ? (N * (3 * H + 2 * I) + probs / act) * act : 0, 'running gradients of one layer (residual, MLP, attention scores)');
  add('attention mask and positions', B * T * T * 4 + 4 * N * 8, '[B, 1, T, T] additive mask, ids/positions/targets');
  const activations = out.filter((c) => ACTIVATION_COMPONENTS.has(c.name) || c.name.startsWith('activations:')).reduce((a, c) => a + c.bytes, 0);
  const probsBytes = out.find((c) => c.name === 'activations: attention probabilities')?.bytes ?? 0;
  const plan = (activations - probsBytes) * PLANNER_FACTOR + probsBytes * PLANNER_FACTOR * ATTENTION_PLAN_FACTOR;
  add('ORT planner slack', plan - activations, `transients alive at the peak and alignment (×${PLANNER_FACTOR} of the tensors above, the attention probabilities ×${ATTENTION_PLAN_FACTOR} of that; measured)`);
  // The engine turns ORT's memory pattern off (enableMemPattern: false), so the plan is held once (with it on, the
  // arena kept the first run's chunks beside the pattern's block from step 2 on: the planned size again). Without the
  // pattern, tensors come from ORT's BFC arena one by one: its chunk rounding and fragmentation (ARENA_* above).
  add('ORT arena fragmentation', plan * ARENA_FRAGMENTATION + ARENA_FIXED_BYTES, `BFC arena chunk rounding: ${ARENA_FRAGMENTATION} × the plan + ${ARENA_FIXED_BYTES / 2 ** 20} MiB (measured)`);
  add('onnxruntime session', SESSION_OVERHEAD_BYTES * sessions, 'optimised graph, kernels and thread pool' + (sessions > 1 ? ' (× 2 sessions)' : ''));
  if (!gpu) add('runtime (Node + onnxruntime)', RUNTIME_OVERHEAD_BYTES, 'Node, the onnxruntime library and PEFT Studio\'s code');
  const totalBytes = out.reduce((a, c) => a + c.bytes, 0);
  return { components: out, totalBytes, where: gpu ? 'device' : 'host' };
}

/** Gemms that read the same tensor: q/k/v (and GPT-2 c_attn) read the attention norm, gate/up read the MLP norm. */
function sharedInputGroup(name: string): string {
  const leaf = name.slice(name.lastIndexOf('.') + 1);
  if (['q_proj', 'k_proj', 'v_proj', 'c_attn'].includes(leaf)) return 'attn-in';
  if (['gate_proj', 'up_proj', 'c_fc'].includes(leaf)) return 'mlp-in';
  return name;
}

function numel(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function fmtCount(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)}B` : n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}K` : String(n);
}

/** 3.1 GiB, 512 MiB, 20 KiB. */
export function formatBytes(n: number): string {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 100 || i === 0 ? Math.round(v) : v.toFixed(1)} ${u[i]}`;
}
