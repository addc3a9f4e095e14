// The optimizer part of the training graph: torch clip_grad_norm_ over all LoRA gradients, then torch.optim.AdamW,
// as standard ONNX ops, so that the step graph's one session.run is one optimizer step (params and moments in and out).
import type { Graph, Value } from '../graph/ir';
import type { OptimizerOptions } from './engineApi';

/** One trainable tensor at the end of the backward pass. */
export interface ParamGrad {
  /** PEFT adapter key (base_model.model.<module>.lora_A.weight). */
  name: string;
  param: Value;
  grad: Value;
  expAvg: Value;
  expAvgSq: Value;
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

/**
 * clip_grad_norm_(max_norm) + AdamW.step() (torch/optim/adamw.py `_single_tensor_adamw`):
 *   coef = min(max_norm / (norm + 1e-6), 1);  g ← g·coef            (skipped when max_norm = 0)
 *   p ← p·(1 − lr·wd)
 *   m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
 *   p ← p − (lr / (1−β1^t)) · m / (sqrt(v) / sqrt(1−β2^t) + eps)
 * `lr` and `t` (the 1-based step number of this update) are scalar graph inputs of the parameters' dtype.
 */
export function clipAndAdamW(
  g: Graph,
  items: ParamGrad[],
  opt: OptimizerOptions,
  lr: Value,
  t: Value,
): { gradNorm: Value; updated: UpdatedParam[] } {
  const dtype = lr.dtype;
  const c = (x: number): Value => g.scalar(x, dtype);
  return g.scope('optimizer', () => {
    const gradNorm = globalNorm(g, items.map((it) => it.grad));
    let coef: Value | undefined;
    if (opt.maxGradNorm > 0) {
      const raw = g.op('Div', [c(opt.maxGradNorm), g.op('Add', [gradNorm, c(1e-6)])]);
      coef = g.op('Min', [raw, c(1)]);
    }
    const bc1 = g.op('Sub', [c(1), g.op('Pow', [c(opt.beta1), t])]);
    const bc2 = g.op('Sub', [c(1), g.op('Pow', [c(opt.beta2), t])]);
    const stepSize = g.op('Div', [lr, bc1]);
    const bc2Sqrt = g.op('Sqrt', [bc2]);
    const decay = g.op('Sub', [c(1), g.op('Mul', [lr, c(opt.weightDecay)])]);
    const updated = items.map((it) => {
      const grad = coef !== undefined ? g.op('Mul', [it.grad, coef]) : it.grad;
      const p0 = opt.weightDecay !== 0 ? g.op('Mul', [it.param, decay]) : it.param;
      const m = g.op('Add', [g.op('Mul', [it.expAvg, c(opt.beta1)]), g.op('Mul', [grad, c(1 - opt.beta1)])], {}, { name: newName(it.expAvg.name) });
      const v = g.op('Add', [
        g.op('Mul', [it.expAvgSq, c(opt.beta2)]),
        g.op('Mul', [g.op('Mul', [grad, grad]), c(1 - opt.beta2)]),
      ], {}, { name: newName(it.expAvgSq.name) });
      const denom = g.op('Add', [g.op('Div', [g.op('Sqrt', [v]), bc2Sqrt]), c(opt.eps)]);
      const p = g.op('Sub', [p0, g.op('Mul', [stepSize, g.op('Div', [m, denom])])], {}, { name: newName(it.param.name) });
      return { name: it.name, param: p, expAvg: m, expAvgSq: v };
    });
    return { gradNorm, updated };
  });
}
