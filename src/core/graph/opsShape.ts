// Builder functions for ONNX shape and indexing ops: Reshape, Transpose, (Un)Squeeze, Concat, Slice, Split, Gather*, Expand.
// Target shapes may hold symbolic dims ('B', 'B*T'); they become 0/-1 constants when possible, else Shape-derived tensors.
import { type Dim, dimEq, divDims, isStatic, mulDims, normDim, numel } from './dims';
import { type Graph, GraphError, type NodeOptions, type Value, int, ints } from './ir';

const dimCache = new WeakMap<Graph, Map<string, Value>>();

/** An int64[1] tensor holding the run-time size of a symbolic dim (from the graph input that declared it). */
export function dimTensor(g: Graph, d: Dim): Value {
  const key = String(normDim(d));
  let cache = dimCache.get(g);
  if (cache === undefined) dimCache.set(g, (cache = new Map()));
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  let v: Value;
  if (typeof d === 'number') v = g.int64s([d]);
  else {
    const factors = key.split('*');
    const parts = factors.map((f) => {
      if (/^\d+$/.test(f)) return g.int64s([Number(f)]);
      const src = g.symbolSources.get(f);
      if (src === undefined) throw new GraphError(`symbolic dim ${f} is not the dim of any graph input`);
      return g.op('Shape', [src.value], { start: int(src.axis), end: int(src.axis + 1) });
    });
    v = parts.reduce((a, b) => g.op('Mul', [a, b]));
  }
  cache.set(key, v);
  return v;
}

/** A 1-D int64 shape tensor for `target` (constant when static, else Concat of run-time dims). */
export function shapeTensor(g: Graph, target: readonly Dim[]): Value {
  if (isStatic(target)) return g.int64s([...target]);
  return g.op('Concat', target.map((d) => dimTensor(g, d)), { axis: int(0) });
}

/** Reshape to `target` (numbers, symbolic dims, or ONNX's 0 = keep and -1 = infer). */
export function reshape(x: Value, target: readonly Dim[], o: NodeOptions = {}): Value {
  const g = x.graph;
  if (target.every((d) => typeof d === 'number')) return g.op('Reshape', [x, g.int64s(target as number[])], {}, o);
  // Encode as constants: dims equal to the input's at the same index → 0, one remaining unknown → -1.
  const enc: (number | undefined)[] = target.map((d, i) => (typeof d === 'number' ? d : i < x.rank && dimEq(d, x.shape[i]!) ? 0 : undefined));
  const unknown = enc.flatMap((e, i) => (e === undefined ? [i] : []));
  if (unknown.length === 1) {
    enc[unknown[0]!] = -1;
    const known = mulDims(...target.filter((_, i) => i !== unknown[0]));
    if (divDims(numel(x.shape), known) !== undefined) return g.op('Reshape', [x, g.int64s(enc as number[])], {}, o);
  }
  if (unknown.length === 0) return g.op('Reshape', [x, g.int64s(enc as number[])], {}, o);
  if (target.some((d) => d === 0 || d === -1)) throw new GraphError('reshape: 0/-1 cannot be mixed with symbolic dims that need run-time sizes', x.name, undefined, `[${target.join(', ')}]`);
  if (!dimEq(numel(x.shape), numel(target))) throw new GraphError(`reshape changes the element count`, x.name, `${String(numel(x.shape))}`, `${String(numel(target))}`);
  return g.op('Reshape', [x, shapeTensor(g, target)], {}, { ...o, outputTypes: [{ dtype: x.dtype, shape: target.map(normDim) }] });
}

/** Reshape `x` to the (run-time) shape of `like`. */
export function reshapeLike(x: Value, like: Value, o: NodeOptions = {}): Value {
  if (isStatic(like.shape)) return reshape(x, like.shape, o);
  return x.graph.op('Reshape', [x, x.graph.op('Shape', [like])], {}, { ...o, outputTypes: [{ dtype: x.dtype, shape: [...like.shape] }] });
}

export const transpose = (x: Value, perm: number[], o?: NodeOptions): Value => x.graph.op('Transpose', [x], { perm: ints(perm) }, o);
export const unsqueeze = (x: Value, axes: number[], o?: NodeOptions): Value => x.graph.op('Unsqueeze', [x, x.graph.int64s(axes)], {}, o);
export const squeeze = (x: Value, axes: number[], o?: NodeOptions): Value => x.graph.op('Squeeze', [x, x.graph.int64s(axes)], {}, o);
export const concat = (xs: Value[], axis: number, o?: NodeOptions): Value => xs[0]!.graph.op('Concat', xs, { axis: int(axis) }, o);

/** Slice with constant bounds (steps default 1). */
export function slice(x: Value, starts: number[], ends: number[], axes?: number[], steps?: number[], o?: NodeOptions): Value {
  const g = x.graph;
  const ins = [x, g.int64s(starts), g.int64s(ends), axes !== undefined ? g.int64s(axes) : undefined, steps !== undefined ? g.int64s(steps) : undefined];
  while (ins[ins.length - 1] === undefined) ins.pop();
  return g.op('Slice', ins, {}, o);
}

/** Split along `axis` into pieces of the given sizes. */
export function split(x: Value, sizes: number[], axis: number, o?: NodeOptions): Value[] {
  return x.graph.node('Split', [x, x.graph.int64s(sizes)], { axis: int(axis) }, o);
}

export const gather = (x: Value, indices: Value, axis = 0, o?: NodeOptions): Value => x.graph.op('Gather', [x, indices], { axis: int(axis) }, o);
export const gatherElements = (x: Value, indices: Value, axis: number, o?: NodeOptions): Value =>
  x.graph.op('GatherElements', [x, indices], { axis: int(axis) }, o);

/** ScatterElements(data, indices, updates) with reduction 'none' or 'add' (opset 18). */
export function scatterElements(data: Value, indices: Value, updates: Value, axis: number, reduction: 'none' | 'add' = 'none', o?: NodeOptions): Value {
  return data.graph.op('ScatterElements', [data, indices, updates], { axis: int(axis), reduction: { kind: 'string', value: reduction } }, o);
}

/** ScatterND(data, indices, updates) with reduction 'none' or 'add'. */
export function scatterND(data: Value, indices: Value, updates: Value, reduction: 'none' | 'add' = 'none', o?: NodeOptions): Value {
  return data.graph.op('ScatterND', [data, indices, updates], { reduction: { kind: 'string', value: reduction } }, o);
}

/** Expand (broadcast) to `target`; a symbolic target dim equal to the input's aligned dim is encoded as 1 (keep). */
export function expand(x: Value, target: readonly Dim[], o: NodeOptions = {}): Value {
  const g = x.graph;
  const off = target.length - x.rank;
  const enc = target.map((d, i) => (typeof d === 'number' ? d : i >= off && dimEq(d, x.shape[i - off]!) ? 1 : d));
  if (enc.every((d) => typeof d === 'number')) {
    const out = g.op('Expand', [x, g.int64s(enc as number[])], {}, o);
    return out;
  }
  return g.op('Expand', [x, shapeTensor(g, enc)], {}, { ...o, outputTypes: [{ dtype: x.dtype, shape: target.map(normDim) }] });
}

/** Expand `x` to the (run-time) shape of `like` (for broadcasting a gradient back). */
export function expandLike(x: Value, like: Value, o: NodeOptions = {}): Value {
  return expand(x, like.shape, o);
}

/**
 * Zeros with the shape and dtype of `like`: Expand of a scalar zero to Shape(like). Not ConstantOfShape: the WebGPU EP
 * has no float ConstantOfShape kernel, so the zeros would be filled on the CPU and copied to the GPU every step.
 */
export function zerosLike(like: Value, o: NodeOptions = {}): Value {
  const g = like.graph;
  if (like.dtype !== 'float32' && like.dtype !== 'float64' && like.dtype !== 'float16') throw new GraphError('zerosLike supports float32/float16/float64', like.name);
  return g.op('Expand', [g.scalar(0, like.dtype), shapeTensor(g, like.shape)], {}, { ...o, outputTypes: [{ dtype: like.dtype, shape: [...like.shape] }] });
}
