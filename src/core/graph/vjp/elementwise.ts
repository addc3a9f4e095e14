// VJP rules of elementwise ops (unary, binary with broadcasting, Where, Cast, Softmax, Trilu).
// Each rule returns gradients in the output's broadcast shape; the engine reduces them to each input's shape.
import { type Value, attrInt, int } from '../ir';
import { add, cast, div, equal, exp, greater, less, log, mul, neg, reduceSum, sub, where } from '../ops';
import { type VjpArgs, type VjpRule, dyOf, inp, out, when } from './types';

/** 1 where cond holds else 0, in dtype of `like`. */
const maskOf = (cond: Value, like: Value): Value => cast(cond, like.dtype);

export const elementwiseRules: Record<string, VjpRule> = {
  // y = a + b: ∂y/∂a = ∂y/∂b = 1.
  Add: (a) => [when(a, 0, () => dyOf(a)), when(a, 1, () => dyOf(a))],
  // y = Σᵢ xᵢ (variadic Sum): ∂y/∂xᵢ = 1.
  Sum: (a) => a.node.inputs.map((_, i) => when(a, i, () => dyOf(a))),
  // y = a − b: ∂y/∂a = 1, ∂y/∂b = −1.
  Sub: (a) => [when(a, 0, () => dyOf(a)), when(a, 1, () => neg(dyOf(a)))],
  // y = a·b: ∂y/∂a = b, ∂y/∂b = a.
  Mul: (a) => [when(a, 0, () => mul(dyOf(a), inp(a, 1))), when(a, 1, () => mul(dyOf(a), inp(a, 0)))],
  // y = a/b: ∂y/∂a = 1/b, ∂y/∂b = −a/b² = −y/b.
  Div: (a) => [when(a, 0, () => div(dyOf(a), inp(a, 1))), when(a, 1, () => neg(div(mul(dyOf(a), out(a)), inp(a, 1))))],
  // y = −x: ∂y/∂x = −1.
  Neg: (a) => [neg(dyOf(a))],
  // y = x: ∂y/∂x = 1.
  Identity: (a) => [dyOf(a)],
  // y = eˣ: ∂y/∂x = y.
  Exp: (a) => [mul(dyOf(a), out(a))],
  // y = ln x: ∂y/∂x = 1/x.
  Log: (a) => [div(dyOf(a), inp(a, 0))],
  // y = √x: ∂y/∂x = 1/(2y).
  Sqrt: (a) => [div(mul(dyOf(a), 0.5), out(a))],
  // y = 1/x: ∂y/∂x = −1/x² = −y².
  Reciprocal: (a) => [neg(mul(dyOf(a), mul(out(a), out(a))))],
  // y = xᵖ: ∂y/∂x = p·xᵖ⁻¹, ∂y/∂p = y·ln x.
  Pow: (a) => [
    when(a, 0, () => mul(dyOf(a), mul(inp(a, 1), a.g.op('Pow', [inp(a, 0), sub(inp(a, 1), 1)])))),
    when(a, 1, () => mul(dyOf(a), mul(out(a), log(inp(a, 0))))),
  ],
  // y = tanh x: ∂y/∂x = 1 − y².
  Tanh: (a) => [mul(dyOf(a), sub(1, mul(out(a), out(a))))],
  // y = σ(x): ∂y/∂x = y(1 − y).
  Sigmoid: (a) => [mul(dyOf(a), mul(out(a), sub(1, out(a))))],
  // y = erf x: ∂y/∂x = 2/√π · e^(−x²).
  Erf: (a) => [mul(dyOf(a), mul(exp(neg(mul(inp(a, 0), inp(a, 0)))), 2 / Math.sqrt(Math.PI)))],
  // y = |x|: ∂y/∂x = sign(x) = [x > 0] − [x < 0] (0 at 0, as torch; Sign itself leaves the WebGPU EP).
  Abs: (a) => {
    const x = inp(a, 0);
    return [mul(dyOf(a), sub(maskOf(greater(x, 0), x), maskOf(less(x, 0), x)))];
  },
  // y = max(x, 0): ∂y/∂x = [x > 0].
  Relu: (a) => [mul(dyOf(a), maskOf(greater(inp(a, 0), 0), inp(a, 0)))],
  // y = max(a, b): the larger input gets dy; ties split it evenly (torch.maximum).
  Max: (a) => minMax(a, true),
  // y = min(a, b): the smaller input gets dy; ties split it evenly (torch.minimum).
  Min: (a) => minMax(a, false),
  // y = c ? x : z: ∂y/∂x = [c], ∂y/∂z = [¬c]; no gradient for the condition.
  Where: (a) => [
    undefined,
    when(a, 1, () => where(inp(a, 0), dyOf(a), 0)),
    when(a, 2, () => where(inp(a, 0), 0, dyOf(a))),
  ],
  // y = cast(x): the gradient is cast back to x's dtype.
  Cast: (a) => [cast(dyOf(a), inp(a, 0).dtype)],
  // y = softmax(x): ∂L/∂x = y ⊙ (dy − Σ_axis dy ⊙ y).
  Softmax: (a) => {
    const y = out(a);
    const axis = attrInt(a.node.attrs, 'axis', -1);
    return [mul(y, sub(dyOf(a), reduceSum(mul(dyOf(a), y), [axis], true)))];
  },
  // y = triu/tril(x, k): linear mask, so ∂L/∂x = the same triangle of dy.
  Trilu: (a) => {
    const k = a.node.inputs[1];
    return [a.g.op('Trilu', k !== undefined ? [dyOf(a), k] : [dyOf(a)], { upper: int(attrInt(a.node.attrs, 'upper', 1)) })];
  },
};

function minMax(a: VjpArgs, isMax: boolean): (Value | undefined)[] {
  if (a.node.inputs.length !== 2) throw new Error(`${a.node.op} autodiff supports exactly 2 inputs`);
  const x = inp(a, 0);
  const z = inp(a, 1);
  const half = mul(maskOf(equal(x, z), x), 0.5);
  const wins = (p: Value, q: Value): Value => add(maskOf(isMax ? greater(p, q) : less(p, q), x), half);
  return [when(a, 0, () => mul(dyOf(a), wins(x, z))), when(a, 1, () => mul(dyOf(a), wins(z, x)))];
}
