// Host-side optimizer scalars and fp16 loss scaling: AdamW's per-step scalars computed in float64 on the host and fed
// as float32 (no float64 ops left to run on the CPU beside a GPU graph), and torch.cuda.amp.GradScaler's dynamic scale.
import { type Graph, type Value } from '../graph';
import type { OptimizerOptions } from '../train/engineApi';

/** Graph input names of the host-computed AdamW scalars (float32 scalars). */
export const SCALAR_INPUT = { stepSize: 'adamw.step_size', bc2Sqrt: 'adamw.bias_correction2_sqrt', decay: 'adamw.decay' } as const;
/** Graph input of the fp16 loss scale (float32 scalar, a power of two). */
export const LOSS_SCALE_INPUT = 'loss_scale';

export type AdamwScalars = Record<'stepSize' | 'bc2Sqrt' | 'decay', number>;

/**
 * torch/optim/adamw.py `_single_tensor_adamw` computes these in Python double precision and its kernels round them to
 * the parameter dtype: step_size = lr / (1 − β1^t), bias_correction2_sqrt = sqrt(1 − β2^t), decay = 1 − lr·wd.
 * Rounding the float64 values here to float32 gives the same numbers as the graph's float64 ops + Cast did.
 */
export function adamwScalars(opt: OptimizerOptions, lr: number, t: number): AdamwScalars {
  return {
    stepSize: lr / (1 - opt.beta1 ** t),
    bc2Sqrt: Math.sqrt(1 - opt.beta2 ** t),
    decay: 1 - lr * opt.weightDecay,
  };
}

/** The three scalar inputs, for clipAndAdamW. */
export function adamwScalarInputs(g: Graph, dtype: Value['dtype']): Record<'stepSize' | 'bc2Sqrt' | 'decay', Value> {
  return {
    stepSize: g.input(SCALAR_INPUT.stepSize, dtype, []),
    bc2Sqrt: g.input(SCALAR_INPUT.bc2Sqrt, dtype, []),
    decay: g.input(SCALAR_INPUT.decay, dtype, []),
  };
}

/** GradScaler's defaults (torch/amp/grad_scaler.py). */
export const GRAD_SCALER = { initScale: 2 ** 16, growthFactor: 2, backoffFactor: 0.5, growthInterval: 2000 } as const;

export interface LossScaleState {
  scale: number;
  /** Consecutive steps without inf/nan gradients since the last change of scale. */
  growthTracker: number;
}

/**
 * GradScaler.update(): after a step with inf/nan gradients (skipped) scale ← scale·0.5 and the tracker restarts;
 * after `growthInterval` good steps in a row scale ← scale·2.
 */
export function updateLossScale(s: LossScaleState, foundInf: boolean): LossScaleState {
  if (foundInf) return { scale: s.scale * GRAD_SCALER.backoffFactor, growthTracker: 0 };
  const tracker = s.growthTracker + 1;
  if (tracker >= GRAD_SCALER.growthInterval) return { scale: s.scale * GRAD_SCALER.growthFactor, growthTracker: 0 };
  return { scale: s.scale, growthTracker: tracker };
}

/** Largest float32 below +inf: a gradient norm that is not below it (inf or NaN) means the step is skipped. */
export const FINITE_LIMIT = 3.4028234663852886e38;

export const isSkippedNorm = (gradNorm: number): boolean => !(gradNorm < FINITE_LIMIT);
