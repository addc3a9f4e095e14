// The optimizer part of the training graph: torch clip_grad_norm_ over all LoRA gradients, then torch.optim.AdamW,
// as standard ONNX ops, so that the step graph's one session.run is one optimizer step (params and moments in and out).
import { type Graph, type Value, cast } from '../graph';
import type { OptimizerOptions } from './engineApi';

/** One trainable tensor at the end of the backward pass. */
export interface ParamGrad {
  /** PEFT adapter key (base_model.model.<module>.lora_A.weight). */
  name: string;
  param: Value;
  grad: Value;
  expAvg: Value;
  expAvgSq: Value;
  /** No weight decay (HF Trainer's get_decay_parameter_names leaves out biases and norm weights: trained biases, norm copies of modules_to_save). */
  noDecay?: boolean;
}

export interface UpdatedParam {
  name: string;
  param: Value;
  expAvg: Value;
  expAvgSq: Value;
}

/** Graph input names of the optimizer state: moments beside the parameter key. */
export const expAvgName = (key: string): string => `${key}.exp_avg`;
export const expAvgSqName = (key: string): string => `${key}.exp_avg_sq`;
/** Graph output names of the updated state. */
export const newName = (inputName: string): string => `${inputName}.new`;

/**
 * Global L2 norm of all gradients: sqrt(Σ_p Σ g²), the value torch.nn.utils.clip_grad_norm_ returns
 * (torch takes the norm of the per-parameter norms; the same number up to rounding).
 */
export function globalNorm(g: Graph, grads: Value[]): Value {
  const sums = grads.map((gr) => g.op('ReduceSumSquare', [gr], { keepdims: { kind: 'int', value: 0 } }));
  // A chain of Adds, not the variadic Sum (which the WebGPU EP leaves on the CPU).
  const total = sums.reduce((a, b) => g.op('Add', [a, b]));
  return g.op('Sqrt', [total]);
}

/** Graph input names: the learning rate and the 1-based step number t of this update, float64 scalars. */
export const ADAMW_INPUT = { lr: 'lr', step: 'step' } as const;

/**
 * The per-step scalars of torch's AdamW (torch/optim/adamw.py `_single_tensor_adamw`), which torch computes in Python
 * double precision: step_size = lr / (1 − β1^t), bias_correction2_sqrt = sqrt(1 − β2^t), decay = 1 − lr·wd. Here they
 * are computed in the graph from the float64 inputs `lr` and `step` in float64 too (a handful of scalar ops; 1 − β2^t
 * in fp32 would lose ~1e-5 to cancellation at t = 1), then cast to the parameters' dtype, as torch's kernels cast them.
 */
export function adamwInputs(g: Graph, dtype: Value['dtype'], opt: OptimizerOptions): Record<'stepSize' | 'bc2Sqrt' | 'decay', Value> {
  const lr = g.input(ADAMW_INPUT.lr, 'float64', []);
  const t = g.input(ADAMW_INPUT.step, 'float64', []);
  const d = (x: number): Value => g.scalar(x, 'float64');
  const out = (v: Value): Value => cast(v, dtype);
  return g.scope('optimizer.scalars', () => ({
    stepSize: out(g.op('Div', [lr, g.op('Sub', [d(1), g.op('Pow', [d(opt.beta1), t])])])),
    bc2Sqrt: out(g.op('Sqrt', [g.op('Sub', [d(1), g.op('Pow', [d(opt.beta2), t])])])),
    decay: out(g.op('Sub', [d(1), g.op('Mul', [lr, d(opt.weightDecay)])])),
  }));
}

/**
 * clip_grad_norm_(max_norm) + AdamW.step():
 *   coef = min(max_norm / (norm + 1e-6), 1);  g ← g·coef            (skipped when max_norm = 0)
 *   p ← p·(1 − lr·wd)                                                (skipped when wd = 0 or noDecay)
 *   m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
 *   p ← p − step_size · m / (sqrt(v) / bias_correction2_sqrt + eps)
 */
export function clipAndAdamW(
  g: Graph,
  items: ParamGrad[],
  opt: OptimizerOptions,
  scalars: Record<'stepSize' | 'bc2Sqrt' | 'decay', Value>,
): { gradNorm: Value; updated: UpdatedParam[] } {
  const dtype = scalars.stepSize.dtype;
  const c = (x: number): Value => g.scalar(x, dtype);
  return g.scope('optimizer', () => {
    const gradNorm = globalNorm(g, items.map((it) => it.grad));
    let coef: Value | undefined;
    if (opt.maxGradNorm > 0) {
      const raw = g.op('Div', [c(opt.maxGradNorm), g.op('Add', [gradNorm, c(1e-6)])]);
      coef = g.op('Min', [raw, c(1)]);
    }
    const updated = items.map((it) => {
      const grad = coef !== undefined ? g.op('Mul', [it.grad, coef]) : it.grad;
      const p0 = opt.weightDecay !== 0 && it.noDecay !== true ? g.op('Mul', [it.param, scalars.decay]) : it.param;
      const m = g.op('Add', [g.op('Mul', [it.expAvg, c(opt.beta1)]), g.op('Mul', [grad, c(1 - opt.beta1)])], {}, { name: newName(it.expAvg.name) });
      const v = g.op('Add', [
        g.op('Mul', [it.expAvgSq, c(opt.beta2)]),
        g.op('Mul', [g.op('Mul', [grad, grad]), c(1 - opt.beta2)]),
      ], {}, { name: newName(it.expAvgSq.name) });
      const denom = g.op('Add', [g.op('Div', [g.op('Sqrt', [v]), scalars.bc2Sqrt]), c(opt.eps)]);
      const p = g.op('Sub', [p0, g.op('Mul', [scalars.stepSize, g.op('Div', [m, denom])])], {}, { name: newName(it.param.name) });
      return { name: it.name, param: p, expAvg: m, expAvgSq: v };
    });
    return { gradNorm, updated };
  });
}
