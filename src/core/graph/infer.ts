// Shape and dtype inference for the ONNX ops the IR supports (opset 18 semantics), shared by builders and the checker.
// Throws plain Errors; Graph.node() and checkGraph() add the node name and the weight's tensor name.
import { type Dim, broadcastShapes, divDims, dimEq, mulDims, normAxis, normDim, numel, shapeStr } from './dims';
import { type Attrs, type DType, type Value, type ValueType, attrInt, attrInts, isFloat } from './ir';
import { dtypeFromOnnx } from './onnxTypes';

const BINARY_SAME = new Set(['Add', 'Sub', 'Mul', 'Div', 'Mod', 'And', 'Or', 'Xor', 'BitwiseAnd', 'BitShift']);
const COMPARE = new Set(['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual']);
const VARIADIC = new Set(['Max', 'Min', 'Sum', 'Mean']);
const UNARY = new Set([
  'Identity', 'Neg', 'Exp', 'Log', 'Sqrt', 'Reciprocal', 'Tanh', 'Sigmoid', 'Erf', 'Abs', 'Relu', 'Softmax', 'LogSoftmax',
  'Not', 'Sign', 'Floor', 'Ceil', 'Sin', 'Cos', 'Clip', 'CumSum', 'Trilu', 'IsNaN', 'IsInf', 'Round', 'Softplus',
]);
const REDUCE = new Set(['ReduceSum', 'ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceL2', 'ReduceProd', 'ReduceSumSquare']);

/** The int values of a constant int64/int32 input, if it is an inline initializer. */
export function constInts(v: Value | undefined): number[] | undefined {
  if (v === undefined || v.data === undefined) return undefined;
  if (v.data instanceof BigInt64Array) return Array.from(v.data, Number);
  if (v.data instanceof Int32Array) return Array.from(v.data);
  return undefined;
}

/** Thrown when an output type depends on run-time values; builders then pass `outputTypes` and the checker trusts them. */
export class NotInferable extends Error {}

function need(v: Value | undefined, what: string): Value {
  if (v === undefined) throw new Error(`missing input ${what}`);
  return v;
}

function sameDtype(vs: Value[]): DType {
  const d = vs[0]!.dtype;
  for (const v of vs) if (v.dtype !== d) throw new Error(`dtype mismatch: ${vs.map((x) => x.dtype).join(' vs ')}`);
  return d;
}

function broadcastAll(vs: Value[]): Dim[] {
  let s: Dim[] = [...vs[0]!.shape];
  for (const v of vs.slice(1)) {
    const b = broadcastShapes(s, v.shape);
    if (b === undefined) throw new Error(`shapes do not broadcast: ${vs.map((x) => shapeStr(x.shape)).join(' vs ')}`);
    s = b;
  }
  return s;
}

function axisOf(axis: number, rank: number): number {
  const a = normAxis(axis, rank);
  if (a === undefined) throw new Error(`axis ${axis} out of range for rank ${rank}`);
  return a;
}

function matmulShape(a: readonly Dim[], b: readonly Dim[]): Dim[] {
  if (a.length === 0 || b.length === 0) throw new Error('MatMul of a scalar');
  const a2 = a.length === 1 ? [1, a[0]!] : a;
  const b2 = b.length === 1 ? [b[0]!, 1] : b;
  const k1 = a2[a2.length - 1]!;
  const k2 = b2[b2.length - 2]!;
  if (!dimEq(k1, k2)) throw new Error(`inner dims differ: ${shapeStr(a)} x ${shapeStr(b)}`);
  const batch = broadcastShapes(a2.slice(0, -2), b2.slice(0, -2));
  if (batch === undefined) throw new Error(`batch dims do not broadcast: ${shapeStr(a)} x ${shapeStr(b)}`);
  const out = [...batch, a2[a2.length - 2]!, b2[b2.length - 1]!];
  if (a.length === 1) out.splice(out.length - 2, 1);
  if (b.length === 1) out.splice(out.length - 1, 1);
  return out;
}

/** ONNX Reshape output shape (allowzero = 0): 0 copies the input dim, one -1 is inferred. */
export function reshapeShape(inShape: readonly Dim[], target: readonly number[]): Dim[] {
  const out: Dim[] = target.map((t, i) => {
    if (t === 0) {
      if (i >= inShape.length) throw new Error(`Reshape 0 at axis ${i} beyond input rank`);
      return inShape[i]!;
    }
    return t;
  });
  const neg = out.findIndex((d) => d === -1);
  if (out.filter((d) => d === -1).length > 1) throw new Error('Reshape with more than one -1');
  if (neg >= 0) {
    const known = mulDims(...out.filter((_, i) => i !== neg));
    const q = divDims(numel(inShape), known);
    if (q === undefined) throw new Error(`cannot infer -1 reshaping ${shapeStr(inShape)} to [${target.join(', ')}]`);
    out[neg] = q;
  } else if (!dimEq(numel(out), numel(inShape))) {
    throw new Error(`element count differs reshaping ${shapeStr(inShape)} to [${target.join(', ')}]`);
  }
  return out;
}

function sliceDim(d: Dim, start: number, end: number, step: number): Dim {
  if (typeof d === 'string') {
    if (step === 1 && start === 0 && end >= 2 ** 31 - 1) return d;
    throw new NotInferable(`cannot slice symbolic dim ${d} with constant bounds; pass outputTypes`);
  }
  const clamp = (x: number, lo: number, hi: number): number => Math.min(Math.max(x, lo), hi);
  let s = start < 0 ? start + d : start;
  let e = end < 0 ? end + d : end;
  if (step > 0) {
    s = clamp(s, 0, d);
    e = clamp(e, 0, d);
    return Math.max(0, Math.ceil((e - s) / step));
  }
  s = clamp(s, -1, d - 1);
  e = clamp(e, -1, d - 1);
  return Math.max(0, Math.ceil((e - s) / step));
}

function reduceShape(x: Value, axesIn: number[] | undefined, keepdims: boolean, noopEmpty: boolean): Dim[] {
  if (axesIn === undefined || axesIn.length === 0) {
    if (noopEmpty) return [...x.shape];
    return keepdims ? x.shape.map(() => 1) : [];
  }
  const axes = new Set(axesIn.map((a) => axisOf(a, x.rank)));
  const out: Dim[] = [];
  x.shape.forEach((d, i) => {
    if (!axes.has(i)) out.push(d);
    else if (keepdims) out.push(1);
  });
  return out;
}

/** Output types of one node. Shape-carrying inputs (Reshape shape, axes, Slice bounds) must be constants here. */
export function inferNode(op: string, inputs: (Value | undefined)[], attrs: Attrs): ValueType[] {
  const x = inputs[0];
  const one = (dtype: DType, shape: Dim[]): ValueType[] => [{ dtype, shape: shape.map(normDim) }];
  if (BINARY_SAME.has(op)) {
    const vs = [need(x, 'A'), need(inputs[1], 'B')];
    return one(sameDtype(vs), broadcastAll(vs));
  }
  if (COMPARE.has(op)) {
    const vs = [need(x, 'A'), need(inputs[1], 'B')];
    sameDtype(vs);
    return one('bool', broadcastAll(vs));
  }
  if (VARIADIC.has(op)) {
    const vs = inputs.map((v, i) => need(v, `data_${i}`));
    return one(sameDtype(vs), broadcastAll(vs));
  }
  if (op === 'Pow') {
    const vs = [need(x, 'X'), need(inputs[1], 'Y')];
    return one(vs[0]!.dtype, broadcastAll(vs));
  }
  if (UNARY.has(op)) {
    const v = need(x, 'input');
    if ((op === 'Softmax' || op === 'LogSoftmax') && v.rank > 0) axisOf(attrInt(attrs, 'axis', -1), v.rank);
    if (op === 'Not' && v.dtype !== 'bool') throw new Error('Not needs bool');
    if (op === 'IsNaN' || op === 'IsInf') return one('bool', [...v.shape]);
    return one(v.dtype, [...v.shape]);
  }
  switch (op) {
    case 'Cast': {
      const a = attrs['to'];
      if (a === undefined || a.kind !== 'int') throw new Error('Cast needs attribute to');
      return one(dtypeFromOnnx(a.value), [...need(x, 'input').shape]);
    }
    case 'Where': {
      const vs = [need(x, 'condition'), need(inputs[1], 'X'), need(inputs[2], 'Y')];
      if (vs[0]!.dtype !== 'bool') throw new Error('Where condition must be bool');
      return one(sameDtype(vs.slice(1)), broadcastAll(vs));
    }
    case 'MatMul': {
      const a = need(x, 'A');
      const b = need(inputs[1], 'B');
      return one(sameDtype([a, b]), matmulShape(a.shape, b.shape));
    }
    case 'Gemm': {
      const a = need(x, 'A');
      const b = need(inputs[1], 'B');
      if (a.rank !== 2 || b.rank !== 2) throw new Error('Gemm needs 2-D A and B');
      const ta = attrInt(attrs, 'transA', 0) === 1;
      const tb = attrInt(attrs, 'transB', 0) === 1;
      const [m, k1] = ta ? [a.shape[1]!, a.shape[0]!] : [a.shape[0]!, a.shape[1]!];
      const [k2, n] = tb ? [b.shape[1]!, b.shape[0]!] : [b.shape[0]!, b.shape[1]!];
      if (!dimEq(k1, k2)) throw new Error(`inner dims differ: ${shapeStr(a.shape)} x ${shapeStr(b.shape)} (transA=${+ta}, transB=${+tb})`);
      const c = inputs[2];
      const dtype = sameDtype(c !== undefined ? [a, b, c] : [a, b]);
      if (c !== undefined) {
        const bc = broadcastShapes([m, n], c.shape);
        if (bc === undefined || !bc.every((d, i) => dimEq(d, [m, n][i]!))) throw new Error(`C ${shapeStr(c.shape)} does not broadcast to [${m}, ${n}]`);
      }
      return one(dtype, [m, n]);
    }
    case 'Reshape': {
      const v = need(x, 'data');
      const t = constInts(inputs[1]);
      if (t === undefined) throw new NotInferable('Reshape shape is not a constant; pass outputTypes');
      return one(v.dtype, reshapeShape(v.shape, t));
    }
    case 'Transpose': {
      const v = need(x, 'data');
      const perm = attrInts(attrs, 'perm') ?? v.shape.map((_, i) => v.rank - 1 - i);
      if (perm.length !== v.rank || [...perm].sort((p, q) => p - q).some((p, i) => p !== i)) throw new Error(`bad perm [${perm.join(', ')}] for rank ${v.rank}`);
      return one(v.dtype, perm.map((p) => v.shape[p]!));
    }
    case 'Unsqueeze': {
      const v = need(x, 'data');
      const axes = constInts(inputs[1]);
      if (axes === undefined) throw new NotInferable('Unsqueeze axes must be a constant');
      const r = v.rank + axes.length;
      const ax = new Set(axes.map((a) => axisOf(a, r)));
      const out: Dim[] = [];
      let j = 0;
      for (let i = 0; i < r; i++) out.push(ax.has(i) ? 1 : v.shape[j++]!);
      return one(v.dtype, out);
    }
    case 'Squeeze': {
      const v = need(x, 'data');
      const axes = inputs[1] === undefined ? undefined : constInts(inputs[1]);
      if (inputs[1] !== undefined && axes === undefined) throw new NotInferable('Squeeze axes must be a constant');
      const ax = new Set((axes ?? v.shape.flatMap((d, i) => (d === 1 ? [i] : []))).map((a) => axisOf(a, v.rank)));
      for (const a of ax) if (v.shape[a] !== 1) throw new Error(`cannot squeeze axis ${a} of size ${v.shape[a]}`);
      return one(v.dtype, v.shape.filter((_, i) => !ax.has(i)));
    }
    case 'Concat': {
      const vs = inputs.map((v, i) => need(v, `inputs_${i}`));
      const dtype = sameDtype(vs);
      const r = vs[0]!.rank;
      const axis = axisOf(attrInt(attrs, 'axis', 0), r);
      const out = [...vs[0]!.shape];
      for (const v of vs.slice(1)) {
        if (v.rank !== r || v.shape.some((d, i) => i !== axis && !dimEq(d, out[i]!))) throw new Error(`Concat shapes differ off axis ${axis}: ${vs.map((q) => shapeStr(q.shape)).join(', ')}`);
      }
      out[axis] = normDim(vs.map((v) => v.shape[axis]!).reduce<Dim>((p, q) => addDims(p, q), 0));
      return one(dtype, out);
    }
    case 'Slice': {
      const v = need(x, 'data');
      const starts = constInts(inputs[1]);
      const ends = constInts(inputs[2]);
      const axes = inputs[3] === undefined ? starts?.map((_, i) => i) : constInts(inputs[3]);
      const steps = inputs[4] === undefined ? starts?.map(() => 1) : constInts(inputs[4]);
      if (starts === undefined || ends === undefined || axes === undefined || steps === undefined) throw new NotInferable('Slice bounds must be constants');
      const out = [...v.shape];
      axes.forEach((a, i) => {
        const ax = axisOf(a, v.rank);
        out[ax] = sliceDim(out[ax]!, starts[i]!, ends[i]!, steps[i]!);
      });
      return one(v.dtype, out);
    }
    case 'Split': {
      const v = need(x, 'input');
      const axis = axisOf(attrInt(attrs, 'axis', 0), v.rank);
      let sizes = constInts(inputs[1]);
      if (sizes === undefined) {
        const n = attrInt(attrs, 'num_outputs', 0);
        const d = v.shape[axis]!;
        if (n <= 0 || typeof d !== 'number' || d % n !== 0) throw new NotInferable('Split needs constant split sizes or num_outputs dividing a static dim');
        sizes = Array.from({ length: n }, () => d / n);
      }
      const total = sizes.reduce((a, b) => a + b, 0);
      if (!dimEq(total, v.shape[axis]!)) throw new Error(`split sizes sum to ${total}, axis has ${v.shape[axis]}`);
      return sizes.map((s) => ({ dtype: v.dtype, shape: v.shape.map((d, i) => (i === axis ? s : d)) }));
    }
    case 'Gather': {
      const v = need(x, 'data');
      const idx = need(inputs[1], 'indices');
      if (idx.dtype !== 'int64' && idx.dtype !== 'int32') throw new Error('Gather indices must be int64 or int32');
      const axis = axisOf(attrInt(attrs, 'axis', 0), v.rank);
      return one(v.dtype, [...v.shape.slice(0, axis), ...idx.shape, ...v.shape.slice(axis + 1)]);
    }
    case 'GatherElements': {
      const v = need(x, 'data');
      const idx = need(inputs[1], 'indices');
      if (idx.rank !== v.rank) throw new Error('GatherElements indices rank must equal data rank');
      axisOf(attrInt(attrs, 'axis', 0), v.rank);
      return one(v.dtype, [...idx.shape]);
    }
    case 'ScatterElements':
    case 'ScatterND': {
      const v = need(x, 'data');
      need(inputs[1], 'indices');
      if (need(inputs[2], 'updates').dtype !== v.dtype) throw new Error('updates dtype differs from data');
      return one(v.dtype, [...v.shape]);
    }
    case 'Expand': {
      const v = need(x, 'input');
      const s = constInts(inputs[1]);
      if (s === undefined) throw new NotInferable('Expand shape is not a constant; pass outputTypes');
      const b = broadcastShapes(v.shape, s);
      if (b === undefined) throw new Error(`cannot expand ${shapeStr(v.shape)} to [${s.join(', ')}]`);
      return one(v.dtype, b);
    }
    case 'Pad': {
      const v = need(x, 'data');
      const pads = constInts(inputs[1]);
      if (pads === undefined || pads.length !== 2 * v.rank || inputs[3] !== undefined) throw new NotInferable('Pad needs constant pads over all axes');
      return one(v.dtype, v.shape.map((d, i) => addDims(d, pads[i]! + pads[i + v.rank]!)));
    }
    case 'MatMulNBits': {
      // com.microsoft.MatMulNBits: A [..., K] · dequant(B)ᵀ with B [N, k_blocks, blob] packed: Y [..., N].
      const a = need(x, 'A');
      const K = attrInt(attrs, 'K', 0);
      const N = attrInt(attrs, 'N', 0);
      if (a.rank < 1 || !dimEq(a.shape[a.rank - 1]!, K)) throw new Error(`A's last dim ${shapeStr(a.shape)} is not K=${K}`);
      if (need(inputs[1], 'B').dtype !== 'uint8') throw new Error('B must be uint8 blocks');
      if (need(inputs[2], 'scales').dtype !== a.dtype) throw new Error('scales must have the dtype of A');
      return one(a.dtype, [...a.shape.slice(0, -1), N]);
    }
    case 'Shape': {
      const r = need(x, 'data').rank;
      const clampAxis = (a: number): number => Math.min(Math.max(a < 0 ? a + r : a, 0), r);
      return one('int64', [Math.max(0, clampAxis(attrInt(attrs, 'end', r)) - clampAxis(attrInt(attrs, 'start', 0)))]);
    }
    case 'Size':
      return one('int64', []);
    case 'ConstantOfShape': {
      const s = constInts(need(x, 'input'));
      if (s === undefined) throw new NotInferable('ConstantOfShape shape is not a constant; pass outputTypes');
      const a = attrs['value'];
      return one(a !== undefined && a.kind === 'tensor' ? a.dtype : 'float32', s);
    }
    case 'Constant': {
      const a = attrs['value'];
      if (a === undefined || a.kind !== 'tensor') throw new Error('Constant needs a tensor attribute value');
      return one(a.dtype, [...a.shape]);
    }
    case 'LayerNormalization': {
      const v = need(x, 'X');
      const s = need(inputs[1], 'Scale');
      if (!isFloat(v.dtype)) throw new Error('LayerNormalization needs float input');
      const axis = axisOf(attrInt(attrs, 'axis', -1), v.rank);
      if (broadcastShapes(v.shape.slice(axis), s.shape) === undefined) throw new Error('Scale does not broadcast to the normalized dims');
      return one(v.dtype, [...v.shape]);
    }
  }
  if (REDUCE.has(op)) {
    const v = need(x, 'data');
    const axes = inputs[1] === undefined ? undefined : constInts(inputs[1]);
    if (inputs[1] !== undefined && axes === undefined) throw new NotInferable(`${op} axes must be a constant`);
    return one(v.dtype, reduceShape(v, axes, attrInt(attrs, 'keepdims', 1) === 1, attrInt(attrs, 'noop_with_empty_axes', 0) === 1));
  }
  throw new NotInferable(`no shape inference for op ${op}; pass outputTypes`);
}

/** a + b for dims (numbers add; equal symbols double; otherwise unrepresentable). */
export function addDims(a: Dim, b: Dim): Dim {
  if (typeof a === 'number' && typeof b === 'number') return a + b;
  if (a === 0) return b;
  if (b === 0) return a;
  if (dimEq(a, b)) return mulDims(2, a);
  throw new NotInferable(`cannot add dims ${a} and ${b}; pass outputTypes`);
}
