// VJP rules of shape ops: Reshape/(Un)Squeeze (reshape back), Transpose (inverse perm), Concat/Split (split/concat the
// gradient), Slice (pad the gradient with zeros), Expand (identity here: the engine sums the broadcast axes).
import { isStatic } from '../dims';
import { constInts } from '../infer';
import { type Value, attrInt, attrInts } from '../ir';
import { concat, reshapeLike, split, transpose, zerosLike } from '../opsShape';
import { type VjpRule, dyOf, inp } from './types';

export const shapeRules: Record<string, VjpRule> = {
  // y = reshape(x): same elements, so dx = reshape(dy, shape(x)).
  Reshape: (a) => [reshapeLike(dyOf(a), inp(a, 0))],
  // y = unsqueeze(x): dx = reshape(dy, shape(x)).
  Unsqueeze: (a) => [reshapeLike(dyOf(a), inp(a, 0))],
  // y = squeeze(x): dx = reshape(dy, shape(x)).
  Squeeze: (a) => [reshapeLike(dyOf(a), inp(a, 0))],
  // y = xᵀ(perm): dx = dyᵀ(perm⁻¹).
  Transpose: (a) => {
    const x = inp(a, 0);
    const perm = attrInts(a.node.attrs, 'perm') ?? x.shape.map((_, i) => x.rank - 1 - i);
    const inv = perm.map((_, i) => perm.indexOf(i));
    return [transpose(dyOf(a), inv)];
  },
  // y = broadcast(x): dx = Σ over the broadcast axes, which the engine's un-broadcast does.
  Expand: (a) => [dyOf(a), undefined],
  // y = concat(x₀, x₁, …): dxᵢ = the slice of dy along the axis (sizes must be static).
  Concat: (a) => {
    const xs = a.node.inputs.map((_, i) => inp(a, i));
    const axis = attrInt(a.node.attrs, 'axis', 0);
    const sizes = xs.map((x) => x.shape[axis < 0 ? axis + x.rank : axis]!);
    if (!isStatic(sizes)) throw new Error('Concat autodiff needs static sizes along the axis');
    const parts = split(dyOf(a), [...sizes], axis);
    return parts.map((p, i) => (a.needs[i] === true ? p : undefined));
  },
  // [y₀, y₁, …] = split(x): dx = concat(dy₀, dy₁, …), zeros for outputs with no gradient.
  Split: (a) => {
    const axis = attrInt(a.node.attrs, 'axis', 0);
    const parts = a.node.outputs.map((o, i) => a.dys[i] ?? zerosLike(o));
    return [concat(parts, axis), undefined];
  },
  // y = x[starts:ends] (step 1, static): dx = dy placed in zeros, via Pad with the complementary margins.
  Slice: (a) => {
    const x = inp(a, 0);
    const starts = constInts(a.node.inputs[1]);
    const ends = constInts(a.node.inputs[2]);
    const axes = a.node.inputs[3] === undefined ? starts?.map((_, i) => i) : constInts(a.node.inputs[3]);
    const steps = a.node.inputs[4] === undefined ? undefined : constInts(a.node.inputs[4]);
    if (starts === undefined || ends === undefined || axes === undefined || (steps !== undefined && steps.some((s) => s !== 1))) {
      throw new Error('Slice autodiff needs constant bounds and step 1');
    }
    const dy = dyOf(a);
    const pads = new Array<number>(2 * x.rank).fill(0);
    axes.forEach((ax0, i) => {
      const ax = ax0 < 0 ? ax0 + x.rank : ax0;
      const d = x.shape[ax];
      const e = dy.shape[ax];
      if (typeof d !== 'number' || typeof e !== 'number') throw new Error('Slice autodiff needs static sliced dims');
      const s = Math.min(Math.max(starts[i]! < 0 ? starts[i]! + d : starts[i]!, 0), d);
      pads[ax] = s;
      pads[ax + x.rank] = d - s - e;
    });
    return [padZeros(dy, pads)];
  },
};

function padZeros(dy: Value, pads: number[]): Value {
  return dy.graph.op('Pad', [dy, dy.graph.int64s(pads)]);
}
