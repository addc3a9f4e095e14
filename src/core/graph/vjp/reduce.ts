// VJP rules of reductions (ReduceSum, ReduceMean, ReduceMax, ReduceSumSquare): the gradient is broadcast back over the
// reduced axes (keepdims=0 outputs are unsqueezed first); the engine's un-broadcasting is not needed here.
import { isStatic, mulDims } from '../dims';
import { constInts } from '../infer';
import { type Value, attrInt } from '../ir';
import { cast, div, equal, mul, reduceSum } from '../ops';
import { expand, unsqueeze } from '../opsShape';
import { type VjpArgs, type VjpRule, dyOf, inp, out } from './types';

/** Reduced axes (normalized, sorted) of a Reduce* node. */
function reducedAxes(a: VjpArgs): number[] {
  const x = inp(a, 0);
  const given = a.node.inputs[1] === undefined ? undefined : constInts(a.node.inputs[1]);
  if (a.node.inputs[1] !== undefined && given === undefined) throw new Error(`${a.node.op} autodiff needs constant axes`);
  if (given === undefined || given.length === 0) {
    if (attrInt(a.node.attrs, 'noop_with_empty_axes', 0) === 1) return [];
    return x.shape.map((_, i) => i);
  }
  return given.map((ax) => (ax < 0 ? ax + x.rank : ax)).sort((p, q) => p - q);
}

/** A reduced value (dy or y) with the reduced axes restored as 1s (keepdims layout). */
function keep(a: VjpArgs, v: Value): Value {
  const axes = reducedAxes(a);
  return attrInt(a.node.attrs, 'keepdims', 1) === 1 || axes.length === 0 ? v : unsqueeze(v, axes);
}

/** Number of reduced elements per output, as a constant when static, else Size(x)/Size(y) at run time. */
function count(a: VjpArgs): Value {
  const x = inp(a, 0);
  const dims = reducedAxes(a).map((i) => x.shape[i]!);
  if (isStatic(dims)) return a.g.scalar(Number(mulDims(1, ...dims)), x.dtype);
  const sx = cast(a.g.op('Size', [x]), x.dtype);
  const sy = cast(a.g.op('Size', [out(a)]), x.dtype);
  return div(sx, sy);
}

export const reduceRules: Record<string, VjpRule> = {
  // y = Σ_axes x: ∂y/∂x = 1 broadcast over the reduced axes.
  ReduceSum: (a) => [expand(keep(a, dyOf(a)), inp(a, 0).shape)],
  // y = mean_axes x: ∂y/∂x = 1/n broadcast over the reduced axes.
  ReduceMean: (a) => [expand(div(keep(a, dyOf(a)), count(a)), inp(a, 0).shape)],
  // y = Σ_axes x²: ∂y/∂x = 2x.
  ReduceSumSquare: (a) => [mul(mul(keep(a, dyOf(a)), inp(a, 0)), 2)],
  // y = max_axes x: dy goes to the arg-max elements, split evenly among ties (torch.amax).
  ReduceMax: (a) => {
    const x = inp(a, 0);
    const mask = cast(equal(x, keep(a, out(a))), x.dtype);
    const share = div(mask, reduceSum(mask, reducedAxes(a), true));
    return [mul(share, keep(a, dyOf(a)))];
  },
};
