// Reverse-mode autodiff over the IR (tinygrad style): VJP rules per primitive, fan-out summed and un-broadcasting done here.
// Only nodes on a path from a `wrt` value to the loss get backward nodes; frozen weights get no gradient graph at all.
import { dimEq, shapeEq, shapeStr } from './dims';
import { type Graph, GraphError, type Node, Value, isFloat, weightAmong } from './ir';
import { add, reduceSum } from './ops';
import { expand, zerosLike } from './opsShape';
import { elementwiseRules } from './vjp/elementwise';
import { gatherRules } from './vjp/gather';
import { matmulRules } from './vjp/matmul';
import { nbitsRules } from './vjp/nbits';
import { normRules } from './vjp/norm';
import { reduceRules } from './vjp/reduce';
import { shapeRules } from './vjp/shape';
import { type Grad, ScatterAdd, type VjpRule } from './vjp/types';
import { errorMessage } from '../errors';

/** All VJP rules by ONNX op type. */
export const VJP_RULES: Readonly<Record<string, VjpRule>> = {
  ...elementwiseRules, ...matmulRules, ...reduceRules, ...shapeRules, ...gatherRules, ...normRules, ...nbitsRules,
};

/** Sums the broadcast axes of `grad` so it has `x`'s shape (leading axes dropped, size-1 axes kept as 1). */
export function unbroadcast(grad: Value, x: Value): Value {
  if (shapeEq(grad.shape, x.shape)) return grad;
  let g = grad;
  const lead = g.rank - x.rank;
  if (lead < 0) throw new GraphError(`gradient has lower rank than its input ${shapeStr(grad.shape)} vs ${shapeStr(x.shape)}`, x.name);
  if (lead > 0) g = reduceSum(g, Array.from({ length: lead }, (_, i) => i), false);
  const ones = x.shape.flatMap((d, i) => (d === 1 && !dimEq(g.shape[i]!, 1) ? [i] : []));
  if (ones.length > 0) g = reduceSum(g, ones, true);
  if (!shapeEq(g.shape, x.shape)) {
    throw new GraphError('gradient shape does not reduce to its input shape', x.name, shapeStr(x.shape), shapeStr(g.shape));
  }
  return g;
}

function sumAll(parts: Value[]): Value {
  return parts.reduce((p, q) => add(p, q));
}

/**
 * Appends the backward pass for d(loss)/d(wrt) to `g` and returns the gradient of each `wrt` value (same shape and dtype).
 * `loss` is usually a scalar; otherwise the seed is ones of its shape (the gradient of sum(loss)).
 * A `wrt` value the loss does not depend on gets zeros.
 */
export function gradients(g: Graph, loss: Value, wrt: Value[]): Map<Value, Value> {
  if (loss.graph !== g) throw new GraphError('loss belongs to another graph', loss.name);
  if (!isFloat(loss.dtype)) throw new GraphError('loss must be a float tensor', loss.name);
  const nodes = [...g.nodes];
  // 1. Values that depend on a wrt value (forward), through float values only.
  const fromWrt = new Set<Value>(wrt);
  for (const n of nodes) {
    if (!n.inputs.some((x) => x !== undefined && fromWrt.has(x))) continue;
    for (const o of n.outputs) if (isFloat(o.dtype) && !g.stopped.has(o)) fromWrt.add(o);
  }
  // 2. Of those, the ones the loss depends on (backward).
  const relevant = new Set<Value>();
  if (fromWrt.has(loss)) relevant.add(loss);
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i]!;
    if (!n.outputs.some((o) => relevant.has(o))) continue;
    for (const x of n.inputs) if (x !== undefined && fromWrt.has(x)) relevant.add(x);
  }
  // 3. Walk the nodes backwards, pushing gradient contributions to inputs (all backward nodes under the 'grad' scope).
  return g.scope('grad', () => {
    const contrib = new Map<Value, (Value | ScatterAdd)[]>();
    const push = (v: Value, d: Value | ScatterAdd): void => {
      const list = contrib.get(v);
      if (list === undefined) contrib.set(v, [d]);
      else list.push(d);
    };
    push(loss, loss.rank === 0 ? g.scalar(1, loss.dtype) : expand(g.scalar(1, loss.dtype), loss.shape));
    const gradOf = (v: Value): Value | undefined => {
      const list = contrib.get(v);
      if (list === undefined) return undefined;
      const dense = list.filter((d): d is Value => !(d instanceof ScatterAdd));
      let s = dense.length > 0 ? sumAll(dense) : zerosLike(v);
      for (const d of list) if (d instanceof ScatterAdd) s = d.apply(s);
      contrib.set(v, [s]);
      return s;
    };
    for (let i = nodes.length - 1; i >= 0; i--) {
      const n = nodes[i]!;
      const needs = n.inputs.map((x) => x !== undefined && relevant.has(x));
      if (!needs.some(Boolean)) continue;
      const dys = n.outputs.map((o) => (relevant.has(o) ? gradOf(o) : undefined));
      if (dys.every((d) => d === undefined)) continue;
      const grads = backward(g, n, dys, needs);
      n.inputs.forEach((x, j) => {
        const d = grads[j];
        if (x === undefined || needs[j] !== true || d === undefined) return;
        push(x, d instanceof ScatterAdd ? d : unbroadcast(d, x));
      });
    }
    const out = new Map<Value, Value>();
    for (const w of wrt) out.set(w, gradOf(w) ?? expand(g.scalar(0, w.dtype), w.shape));
    return out;
  });
}

function backward(g: Graph, n: Node, dys: (Value | undefined)[], needs: boolean[]): Grad[] {
  const rule = VJP_RULES[n.op];
  const weight = weightAmong(n.inputs);
  if (rule === undefined) {
    throw new GraphError(`no VJP rule for ${n.op} (node "${n.name}") on the path from a trainable value to the loss`, weight?.name);
  }
  let grads: Grad[];
  try {
    grads = rule({ g, node: n, dys, needs });
  } catch (e) {
    if (e instanceof GraphError) throw e;
    throw new GraphError(`${n.op} node "${n.name}" backward: ${errorMessage(e)}`, weight?.name);
  }
  // Rules must keep each input's dtype (shapes are reduced by unbroadcast afterwards).
  grads.forEach((d, j) => {
    const x = n.inputs[j];
    if (d instanceof Value && x !== undefined && d.dtype !== x.dtype) {
      throw new GraphError(`${n.op} node "${n.name}": gradient dtype ${d.dtype} differs from input ${x.dtype}`, x.name);
    }
  });
  return grads;
}
