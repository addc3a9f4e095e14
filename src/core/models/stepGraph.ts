// The training graphs of one model + LoRA configuration: `step` (forward + backward + clip + AdamW: one session.run
// per optimizer step), `grad` + `apply` (gradient accumulation over micro-batches), and `eval` (forward + loss only).
/*
 * Gradient accumulation (design choice): with one micro-batch the fused `step` graph runs forward, backward, clip and
 * AdamW in one session.run. With k > 1 micro-batches the engine runs the `grad` graph once per micro-batch (peak memory
 * of one micro-batch, as torch) and the tiny `apply` graph once. Every token's loss weight is 1/N where N counts the
 * label tokens of the whole optimizer step, so the summed micro-batch losses and gradients are exactly the token-weighted
 * mean of transformers' Trainer (loss_sum / num_items_in_batch); gradients are summed on the host in fp32 (torch's
 * `.grad +=`). The `eval` graph is forward + loss only (weights 1 give a summed loss), opened on first use.
 */
import { archOf } from '../arch/registry';
import * as G from '../graph';
import type { Graph, Value } from '../graph';
import type { ModelInventory } from '../hf/types';
import type { QuantizedBase } from '../quant/quantCache';
import type { TensorEntry } from '../safetensors/types';
import { type ParamGrad, type UpdatedParam, adamwInputs, clipAndAdamW, expAvgName, expAvgSqName, newName } from '../train/adamw';
import type { LoraTarget, OptimizerOptions } from '../train/engineApi';
import { type ComputeDtype, capLogits, type ModelInputs, VarBuilder, WeightStore, weightedCrossEntropy } from './common';
import { INPUT, positionDtype } from './feeds';
import { FINITE_LIMIT, LOSS_SCALE_INPUT, adamwScalarInputs } from './optimizerFeeds';
import { type LoraParam, LoraSet } from './lora';
import { type CopyParam, checkCopiesUsed, headWeight, installCopies } from './savedCopies';
import { TokenDeltas } from './tokenDeltas';
import type { BiasParam } from './trainableBias';

export interface ModelGraphOptions {
  inventory: ModelInventory;
  targets: LoraTarget[];
  /** lora_dropout: > 0 adds one host-fed mask input per target. */
  dropout: number;
  dtype: ComputeDtype;
  optimizer: OptimizerOptions;
  /**
   * Mixed precision (torch autocast + GradScaler): fp16 base weights and activations (matmuls in fp16; norms, softmax
   * and loss in fp32), fp32 LoRA master weights and AdamW state (`dtype`), the loss multiplied by the `loss_scale`
   * input before the backward pass and the gradients unscaled in fp32; a step with inf/nan gradients leaves the state
   * unchanged (skipped). Default false.
   */
  fp16?: boolean;
  /**
   * AdamW's per-step scalars: 'host' (default) = float32 inputs computed by the host (optimizerFeeds.adamwScalars),
   * 'graph' = float64 inputs `lr` and `step` and the scalar math in the graph (runs on the CPU beside a GPU graph).
   */
  optimizerScalars?: 'host' | 'graph';
  /** Checkpoint header entries (read from the model folder when absent). */
  tensors?: Map<string, TensorEntry>;
  /** use_dora: a trainable magnitude vector per target (models/dora.ts). */
  dora?: boolean;
  /** lora_bias: a trainable bias on every lora_B. */
  loraBias?: boolean;
  /** Base biases that train (bias: lora_only / all), fed as inputs named by their saved keys; no weight decay. */
  biases?: BiasParam[];
  /** modules_to_save: trainable copies (graph inputs named by their PEFT keys), after the LoRA tensors and biases. */
  copies?: readonly (CopyParam & { decay?: boolean })[];
  /** A 4-bit base: decoder Linear weights as MatMulNBits blocks (src/core/quant). */
  quant?: QuantizedBase;
}

/** A trainable tensor of the graphs: LoRA A/B, DoRA magnitudes, lora_B biases, base biases, modules_to_save copies, token deltas. */
export type TrainParam = LoraParam;

/** Output names. */
export const OUTPUT = { loss: 'loss', gradNorm: 'grad_norm', foundInf: 'found_inf', gradsFinite: 'grads_finite' } as const;
export const gradName = (key: string): string => `grad.${key}`;

export interface ForwardGraph {
  g: Graph;
  lora: LoraSet;
  /** Every trainable input: the LoraSet's, then the biases, then the modules_to_save copies and token deltas. */
  params: TrainParam[];
  /** Σ weight·nll over the batch: the step's mean loss when weights are 1/N_step, the summed loss when 1. */
  loss: Value;
}

/** Inputs, model, LoRA and weighted loss, shared by all graphs that run the model. */
export function buildForward(name: string, o: ModelGraphOptions): ForwardGraph {
  const g = new G.Graph(name);
  const spec = o.inventory.spec;
  const inputs: ModelInputs = {
    inputIds: g.input(INPUT.inputIds, 'int64', ['B', 'T']),
    positionIds: g.input(INPUT.positionIds, positionDtype(spec, o.dtype), ['B', 'T']),
    attentionBias: g.input(INPUT.attentionBias, o.dtype, ['B', 1, 'T', 'T']),
  };
  if ((spec.slidingWindow ?? null) !== null) inputs.slidingBias = g.input(INPUT.slidingBias, o.dtype, ['B', 1, 'T', 'T']);
  const labelIndex = g.input(INPUT.labelIndex, 'int64', ['L']);
  const targets = g.input(INPUT.targets, 'int64', ['L']);
  const weights = g.input(INPUT.lossWeights, o.dtype, ['L']);
  const act = o.fp16 === true ? 'float16' : o.dtype;
  const lora = new LoraSet(g, o.targets, o.dtype, o.dropout, act, o.dora === true, o.loraBias === true);
  const paddingIdx = archOf(spec).paddingIdx?.(spec) ?? spec.padTokenId;
  lora.paddingIdx = paddingIdx;
  const store = new WeightStore(g, o.inventory, act, o.tensors, o.quant);
  const biases: TrainParam[] = (o.biases ?? []).map((b) => {
    const value = g.input(b.key, o.dtype, b.shape);
    store.provide(b.tensor, value);
    return { key: b.key, shape: b.shape, value, noDecay: true };
  });
  const all = o.copies ?? [];
  const copies = all.filter((c) => c.tokens === undefined);
  const copyValues = installCopies(g, store, copies, o.dtype);
  const tokens = new TokenDeltas(g, o.inventory, all, o.dtype, paddingIdx);
  const vb = new VarBuilder(store);
  const hid = archOf(spec).hidden(spec, vb, inputs, tokens.empty ? lora : tokens.wrap(lora), o.dtype, act);
  const { hidden, logitSoftcap } = hid;
  const head = headWeight(store, hid.head);
  // lm_head only on the rows whose next label counts (same numbers per row as the full [B*T, vocab] logits).
  // fp16: the row Gather runs on an fp32 copy (its backward is a ScatterND add, which the WebGPU EP lacks for fp16).
  const rows = hidden.dtype === 'float16' ? G.cast(G.gather(G.cast(hidden, 'float32'), labelIndex), 'float16') : G.gather(hidden, labelIndex);
  const logits = capLogits(tokens.head(rows, lora.apply('lm_head', rows, G.gemm(rows, head, { transB: true, name: 'lm_head.Gemm' }), labelIndex, { weight: head, fanInFanOut: false })), logitSoftcap);
  lora.checkAllUsed();
  checkCopiesUsed(store);
  const loss = g.scope('loss', () => weightedCrossEntropy(logits, G.unsqueeze(targets, [1]), G.unsqueeze(weights, [1])));
  // In the order of `o.copies` (the engine's parameter order): full copies and token deltas.
  const byKey = new Map<string, Value>([...copies.map((c, i) => [c.key, copyValues[i]!] as const), ...tokens.values().map((v) => [v.name, v] as const)]);
  const copyParams: TrainParam[] = all.map((c) => ({ key: c.key, shape: c.shape as number[], value: byKey.get(c.key)!, ...(c.decay === false ? { noDecay: true } : {}) }));
  return { g, lora, params: [...lora.params, ...biases, ...copyParams], loss };
}

function outputUpdates(g: Graph, updated: ReturnType<typeof clipAndAdamW>['updated']): void {
  for (const u of updated) {
    g.output(u.param, newName(u.name));
    g.output(u.expAvg, newName(expAvgName(u.name)));
    g.output(u.expAvgSq, newName(expAvgSqName(u.name)));
  }
}

function scalarsOf(g: Graph, o: Pick<ModelGraphOptions, 'dtype' | 'optimizer' | 'optimizerScalars'>): ReturnType<typeof adamwInputs> {
  return (o.optimizerScalars ?? 'host') === 'host' ? adamwScalarInputs(g, o.dtype) : adamwInputs(g, o.dtype, o.optimizer);
}

/** Largest finite fp16 value: a scaled fp16 gradient that reaches it has overflowed (or saturated). */
const FP16_MAX = 65504;

/**
 * LoRA gradients of the loss; with fp16, of loss·loss_scale (so small fp16 gradients do not flush to zero), unscaled
 * in fp32 (GradScaler.unscale_: grad · (1/scale), exact for a power of two). `finite` (fp16 only, bool scalar): no
 * scaled gradient reached the fp16 range limit. GradScaler looks for inf/nan; WGSL's f32→f16 conversion of an
 * out-of-range value is not guaranteed to give inf (lavapipe saturates), so saturation counts as overflow too.
 */
function loraGradients(g: Graph, loss: Value, params: Value[], fp16: boolean): { grads: Value[]; finite?: Value } {
  if (!fp16) {
    const grads = G.gradients(g, loss, params);
    return { grads: params.map((p) => grads.get(p) as Value) };
  }
  const scale = g.input(LOSS_SCALE_INPUT, loss.dtype, []);
  const scaled = G.gradients(g, G.mul(loss, scale, { name: 'loss.scaled' }), params);
  const inv = G.reciprocal(scale);
  return g.scope('grad_scaler', () => {
    const maxAbs = params.map((p) => G.reduceMax(G.abs(scaled.get(p) as Value), undefined, false)).reduce((a, b) => G.max(a, b));
    const finite = G.less(maxAbs, FP16_MAX);
    return { grads: params.map((p) => G.mul(scaled.get(p) as Value, inv, { name: `${p.name}.unscale` })), finite };
  });
}

/**
 * GradScaler.step(): when the gradients hold inf/nan (the norm is not finite, or `finite` is false) every tensor keeps
 * its old value; output `found_inf` (float 0/1) tells the host. The AdamW nodes read Identity copies of the state
 * inputs (their nodes are named after their inputs + `.new`), so that the Where nodes can produce the `.new` outputs.
 */
function guardedAdamW(g: Graph, items: ParamGrad[], opt: OptimizerOptions, scalars: ReturnType<typeof adamwInputs>, finite?: Value): { gradNorm: Value; updated: UpdatedParam[] } {
  const copy = (v: Value): Value => G.identity(v, { name: `${v.name}.in` });
  const inner = items.map((it) => ({ ...it, param: copy(it.param), expAvg: copy(it.expAvg), expAvgSq: copy(it.expAvgSq) }));
  const { gradNorm, updated } = clipAndAdamW(g, inner, opt, scalars);
  return g.scope('grad_scaler', () => {
    const normOk = G.less(gradNorm, FINITE_LIMIT);
    const ok = finite !== undefined ? G.and(normOk, finite) : normOk;
    g.output(G.cast(G.not(ok), 'float32'), OUTPUT.foundInf);
    const keep = (nu: Value, old: Value): Value => G.where(ok, nu, old, { name: `${newName(old.name)}.where_finite`, outputNames: [newName(old.name)] });
    return {
      gradNorm,
      updated: updated.map((u, i) => {
        const it = items[i]!;
        return { name: u.name, param: keep(u.param, it.param), expAvg: keep(u.expAvg, it.expAvg), expAvgSq: keep(u.expAvgSq, it.expAvgSq) };
      }),
    };
  });
}

/**
 * One optimizer step in one graph: inputs batch + params + moments + AdamW scalars (+ loss_scale with fp16); outputs
 * loss, grad_norm and the new state.
 */
export function buildStepGraph(o: ModelGraphOptions): Graph {
  const { g, params, loss } = buildForward('peft_step', o);
  const fp16 = o.fp16 === true;
  const { grads, finite } = loraGradients(g, loss, params.map((p) => p.value), fp16);
  const scalars = scalarsOf(g, o);
  const items: ParamGrad[] = params.map((p, i) => ({
    name: p.key,
    param: p.value,
    grad: grads[i]!,
    expAvg: g.input(expAvgName(p.key), o.dtype, p.shape),
    expAvgSq: g.input(expAvgSqName(p.key), o.dtype, p.shape),
    ...(p.noDecay === true ? { noDecay: true } : {}),
  }));
  const { gradNorm, updated } = fp16 ? guardedAdamW(g, items, o.optimizer, scalars, finite) : clipAndAdamW(g, items, o.optimizer, scalars);
  g.output(loss, OUTPUT.loss);
  g.output(gradNorm, OUTPUT.gradNorm);
  outputUpdates(g, updated);
  return g;
}

/** Forward + backward of one micro-batch: outputs its loss share and the gradients (already 1/N_step weighted, unscaled). */
export function buildGradGraph(o: ModelGraphOptions): Graph {
  const { g, params, loss } = buildForward('peft_grad', o);
  const { grads, finite } = loraGradients(g, loss, params.map((p) => p.value), o.fp16 === true);
  g.output(loss, OUTPUT.loss);
  params.forEach((p, i) => g.output(grads[i]!, gradName(p.key)));
  // fp16: 1 when no scaled gradient of this micro-batch saturated (the host skips the step otherwise).
  if (finite !== undefined) g.output(G.cast(finite, 'float32'), OUTPUT.gradsFinite);
  return g;
}

/**
 * Clip + AdamW on accumulated gradients (inputs `grad.<key>`), for gradient accumulation > 1. `scalars`: see
 * ModelGraphOptions.optimizerScalars (default 'graph' here); `skipNonFinite`: fp16's skipped step.
 */
export function buildApplyGraph(
  params: { key: string; shape: number[]; noDecay?: boolean }[], optimizer: OptimizerOptions, dtype: ComputeDtype,
  scalars: 'host' | 'graph' = 'graph', skipNonFinite = false,
): Graph {
  const g = new G.Graph('peft_apply');
  const items: ParamGrad[] = params.map((p) => ({
    name: p.key,
    param: g.input(p.key, dtype, p.shape),
    grad: g.input(gradName(p.key), dtype, p.shape),
    expAvg: g.input(expAvgName(p.key), dtype, p.shape),
    expAvgSq: g.input(expAvgSqName(p.key), dtype, p.shape),
    ...(p.noDecay === true ? { noDecay: true } : {}),
  }));
  const { gradNorm, updated } = (skipNonFinite ? guardedAdamW : clipAndAdamW)(g, items, optimizer, scalarsOf(g, { dtype, optimizer, optimizerScalars: scalars }));
  g.output(gradNorm, OUTPUT.gradNorm);
  outputUpdates(g, updated);
  return g;
}

/** Identity per state tensor: feeding GPU-resident state and fetching `<name>.host` reads it back to the CPU. */
export function buildReadBackGraph(params: { key: string; shape: number[] }[], dtype: ComputeDtype): Graph {
  const g = new G.Graph('peft_state_read_back');
  for (const p of params) {
    for (const name of [p.key, expAvgName(p.key), expAvgSqName(p.key)]) g.output(G.identity(g.input(name, dtype, p.shape)), `${name}.host`);
  }
  return g;
}

/** Forward + loss only (evalLoss: weights 1 give the summed loss). */
export function buildEvalGraph(o: ModelGraphOptions): Graph {
  const { g, loss } = buildForward('peft_eval', { ...o, dropout: 0 });
  g.output(loss, OUTPUT.loss);
  return g;
}
