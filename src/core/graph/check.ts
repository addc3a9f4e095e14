// checkGraph: the gate every emitted graph passes before ORT sees it (defined-before-use, unique names, shapes, outputs).
// Errors name the node and, when a weight is involved, the HF tensor, so a bad model config points at its tensor.
import { shapeEq, shapeStr } from './dims';
import { BYTES, GraphError, type Graph, type Node, type Value, weightAmong } from './ir';
import { NotInferable, inferNode } from './infer';
import { errorMessage } from '../errors';

function weightOf(n: Node): string | undefined {
  return weightAmong(n.inputs)?.name;
}

function fail(n: Node, msg: string, expected?: string, actual?: string): never {
  const w = weightOf(n);
  throw new GraphError(`${n.op} node "${n.name}": ${msg}${w !== undefined ? ` (weight ${w})` : ''}`, w, expected, actual);
}

/** Throws a GraphError on the first problem found; returns the graph for chaining. */
export function checkGraph(g: Graph): Graph {
  const defined = new Set<Value>();
  const names = new Set<string>();
  const define = (v: Value, where: string): void => {
    if (names.has(v.name)) throw new GraphError(`duplicate name (${where})`, v.name);
    names.add(v.name);
    defined.add(v);
  };
  for (const v of g.inputs) {
    if (v.graph !== g) throw new GraphError('graph input belongs to another graph', v.name);
    define(v, 'graph input');
  }
  for (const v of g.initializers) {
    if (v.graph !== g) throw new GraphError('initializer belongs to another graph', v.name);
    if (v.shape.some((d) => typeof d !== 'number' || d < 0)) throw new GraphError('initializer shape must be static', v.name, undefined, shapeStr(v.shape));
    const n = (v.shape as number[]).reduce((a, b) => a * b, 1);
    if (v.external !== undefined) {
      const want = n * BYTES[v.dtype];
      if (v.external.length !== want) throw new GraphError(`external data length does not match ${v.dtype}${shapeStr(v.shape)}`, v.name, `${want} bytes`, `${v.external.length}`);
      if (v.external.offset < 0 || v.external.location === '' || v.external.location.includes('..')) throw new GraphError('bad external data location', v.name);
    } else if (v.data === undefined || v.data.length !== n) {
      throw new GraphError('initializer without matching data', v.name, `${n} elements`, `${v.data?.length ?? 0}`);
    }
    define(v, 'initializer');
  }
  const nodeNames = new Set<string>();
  for (const n of g.nodes) {
    if (n.name === '' || nodeNames.has(n.name)) fail(n, 'node name is empty or used twice');
    nodeNames.add(n.name);
    n.inputs.forEach((x, i) => {
      if (x === undefined) return;
      if (!defined.has(x)) {
        const why = x.graph !== g ? 'comes from another graph' : g.values.get(x.name) !== x ? 'is not in this graph' : 'is used before it is defined (not topological order)';
        fail(n, `input ${i} "${x.name}" ${why}`);
      }
    });
    let inferred;
    try {
      inferred = inferNode(n.op, n.inputs, n.attrs);
    } catch (e) {
      if (!(e instanceof NotInferable)) fail(n, errorMessage(e));
    }
    if (inferred !== undefined) {
      if (inferred.length !== n.outputs.length) fail(n, 'wrong number of outputs', String(inferred.length), String(n.outputs.length));
      inferred.forEach((t, i) => {
        const o = n.outputs[i]!;
        if (t.dtype !== o.dtype || !shapeEq(t.shape, o.shape)) fail(n, `output "${o.name}" type mismatch`, `${t.dtype}${shapeStr(t.shape)}`, `${o.dtype}${shapeStr(o.shape)}`);
      });
    }
    for (const o of n.outputs) {
      if (o.producer !== n) fail(n, `output "${o.name}" has another producer`);
      define(o, `output of ${n.name}`);
    }
  }
  if (g.outputs.length === 0) throw new GraphError('graph has no outputs');
  for (const o of g.outputs) if (!defined.has(o)) throw new GraphError('graph output is not computed by the graph', o.name);
  return g;
}
