// Builder functions for ONNX ops, one per op (named after the op, camelCase): elementwise, compare, MatMul/Gemm, reductions.
// Each takes Values (numbers become constants of the other operand's dtype) and appends a node to their graph.
import { type Attrs, type DType, type Graph, type NodeOptions, type Value, float, int } from './ir';
import { onnxDataType } from './onnxTypes';

export type Operand = Value | number;

function graphOf(...xs: Operand[]): Graph {
  for (const x of xs) if (typeof x !== 'number') return x.graph;
  throw new Error('at least one operand must be a Value');
}

/** A number as a scalar constant of `dtype`, or the Value itself. */
export function lift(g: Graph, x: Operand, dtype: DType): Value {
  return typeof x === 'number' ? g.scalar(x, dtype) : x;
}

function binary(op: string, a: Operand, b: Operand, opts?: NodeOptions): Value {
  const g = graphOf(a, b);
  const dtype = typeof a !== 'number' ? a.dtype : (b as Value).dtype;
  return g.op(op, [lift(g, a, dtype), lift(g, b, dtype)], {}, opts);
}

function unary(op: string, x: Value, attrs: Attrs = {}, opts?: NodeOptions): Value {
  return x.graph.op(op, [x], attrs, opts);
}

export const add = (a: Operand, b: Operand, o?: NodeOptions): Value => binary('Add', a, b, o);
export const sub = (a: Operand, b: Operand, o?: NodeOptions): Value => binary('Sub', a, b, o);
export const mul = (a: Operand, b: Operand, o?: NodeOptions): Value => binary('Mul', a, b, o);
export const div = (a: Operand, b: Operand, o?: NodeOptions): Value => binary('Div', a, b, o);
/** Pow(X, Y); the exponent is lifted to X's dtype. */
export const pow = (a: Value, b: Operand, o?: NodeOptions): Value => a.graph.op('Pow', [a, lift(a.graph, b, a.dtype)], {}, o);
export const max = (a: Operand, b: Operand, o?: NodeOptions): Value => binary('Max', a, b, o);
export const min = (a: Operand, b: Operand, o?: NodeOptions): Value => binary('Min', a, b, o);
export const equal = (a: Operand, b: Operand, o?: NodeOptions): Value => binary('Equal', a, b, o);
export const less = (a: Operand, b: Operand, o?: NodeOptions): Value => binary('Less', a, b, o);
export const greater = (a: Operand, b: Operand, o?: NodeOptions): Value => binary('Greater', a, b, o);
export const and = (a: Value, b: Value, o?: NodeOptions): Value => binary('And', a, b, o);
export const not = (x: Value, o?: NodeOptions): Value => unary('Not', x, {}, o);

export const neg = (x: Value, o?: NodeOptions): Value => unary('Neg', x, {}, o);
export const exp = (x: Value, o?: NodeOptions): Value => unary('Exp', x, {}, o);
export const log = (x: Value, o?: NodeOptions): Value => unary('Log', x, {}, o);
export const sqrt = (x: Value, o?: NodeOptions): Value => unary('Sqrt', x, {}, o);
export const reciprocal = (x: Value, o?: NodeOptions): Value => unary('Reciprocal', x, {}, o);
export const tanh = (x: Value, o?: NodeOptions): Value => unary('Tanh', x, {}, o);
export const sigmoid = (x: Value, o?: NodeOptions): Value => unary('Sigmoid', x, {}, o);
export const erf = (x: Value, o?: NodeOptions): Value => unary('Erf', x, {}, o);
export const abs = (x: Value, o?: NodeOptions): Value => unary('Abs', x, {}, o);
export const relu = (x: Value, o?: NodeOptions): Value => unary('Relu', x, {}, o);
export const identity = (x: Value, o?: NodeOptions): Value => unary('Identity', x, {}, o);
/** ONNX Softmax (opset 13+: along one axis). Autodiff has a rule for it; nn.softmax composes a stable one. */
export const softmax = (x: Value, axis = -1, o?: NodeOptions): Value => unary('Softmax', x, { axis: int(axis) }, o);

/** Where(cond, X, Y); numbers lift to the other branch's dtype. */
export function where(cond: Value, a: Operand, b: Operand, o?: NodeOptions): Value {
  const g = cond.graph;
  const dtype = typeof a !== 'number' ? a.dtype : typeof b !== 'number' ? b.dtype : 'float32';
  return g.op('Where', [cond, lift(g, a, dtype), lift(g, b, dtype)], {}, o);
}

export function cast(x: Value, to: DType, o?: NodeOptions): Value {
  return x.dtype === to ? x : unary('Cast', x, { to: int(onnxDataType(to)) }, o);
}

/** numpy-style matmul (batched, broadcasting batch dims). */
export const matMul = (a: Value, b: Value, o?: NodeOptions): Value => a.graph.op('MatMul', [a, b], {}, o);

export interface GemmOptions extends NodeOptions {
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  beta?: number;
  /** Bias C, broadcast to [M, N]. */
  c?: Value;
}

/** Gemm: alpha·op(A)·op(B) + beta·C on 2-D operands; transB=1 reads an HF Linear weight [out, in] with no copy. */
export function gemm(a: Value, b: Value, opts: GemmOptions = {}): Value {
  const attrs: Attrs = {};
  if (opts.transA === true) attrs['transA'] = int(1);
  if (opts.transB === true) attrs['transB'] = int(1);
  if (opts.alpha !== undefined && opts.alpha !== 1) attrs['alpha'] = float(opts.alpha);
  if (opts.beta !== undefined && opts.beta !== 1) attrs['beta'] = float(opts.beta);
  const inputs = opts.c !== undefined ? [a, b, opts.c] : [a, b];
  return a.graph.op('Gemm', inputs, attrs, opts);
}

function reduce(op: string, x: Value, axes: number[] | undefined, keepdims: boolean, o?: NodeOptions): Value {
  const g = x.graph;
  return g.op(op, axes === undefined ? [x] : [x, g.int64s(axes)], { keepdims: int(keepdims ? 1 : 0) }, o);
}
/** ReduceSum over `axes` (all axes when undefined). */
export const reduceSum = (x: Value, axes?: number[], keepdims = true, o?: NodeOptions): Value => reduce('ReduceSum', x, axes, keepdims, o);
export const reduceMean = (x: Value, axes?: number[], keepdims = true, o?: NodeOptions): Value => reduce('ReduceMean', x, axes, keepdims, o);
export const reduceMax = (x: Value, axes?: number[], keepdims = true, o?: NodeOptions): Value => reduce('ReduceMax', x, axes, keepdims, o);

/** Trilu: upper (default) or lower triangle with diagonal offset k. */
export function trilu(x: Value, upper = true, k = 0, o?: NodeOptions): Value {
  const g = x.graph;
  return g.op('Trilu', k === 0 ? [x] : [x, g.constant('int64', [], BigInt64Array.of(BigInt(k)))], { upper: int(upper ? 1 : 0) }, o);
}

/** LayerNormalization (opset 17) over the last axes from `axis`; Y only. */
export function layerNormalization(x: Value, scale: Value, bias: Value | undefined, epsilon = 1e-5, axis = -1, o?: NodeOptions): Value {
  return x.graph.op('LayerNormalization', bias !== undefined ? [x, scale, bias] : [x, scale], { axis: int(axis), epsilon: float(epsilon) }, o);
}
