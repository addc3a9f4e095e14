// Human-readable dumps of a Graph for debugging model builders: one line per input, weight and node, with shapes.
// Not used on the hot path; error messages carry their own context (ir.ts withNodeContext, check.ts).
import { shapeStr } from './dims';
import type { Attr, Graph } from './ir';

function attrStr(a: Attr): string {
  switch (a.kind) {
    case 'int': case 'float': return String(a.value);
    case 'string': return JSON.stringify(a.value);
    case 'ints': case 'floats': return `[${a.value.join(',')}]`;
    case 'tensor': return `tensor ${a.dtype}${shapeStr(a.shape)}`;
  }
}

/** The graph as text: inputs, weights (external location), nodes in order (`out = Op(inputs) {attrs} : type`), outputs. */
export function formatGraph(g: Graph, opts: { limit?: number } = {}): string {
  const lines = [`graph ${g.name}: ${g.inputs.length} inputs, ${g.initializers.length} initializers, ${g.nodes.length} nodes`];
  for (const v of g.inputs) lines.push(`  input  ${v.toString()}`);
  for (const v of g.initializers) {
    if (g.constants.has(v)) continue;
    lines.push(`  weight ${v.toString()}${v.external !== undefined ? ` @ ${v.external.location}+${v.external.offset}` : ''}`);
  }
  const limit = opts.limit ?? Infinity;
  for (const n of g.nodes.slice(0, limit)) {
    const attrs = Object.entries(n.attrs).map(([k, a]) => `${k}=${attrStr(a)}`).join(' ');
    const ins = n.inputs.map((x) => (x === undefined ? '-' : x.name)).join(', ');
    const outs = n.outputs.map((o) => `${o.name}: ${o.dtype}${shapeStr(o.shape)}`).join(', ');
    lines.push(`  ${outs} = ${n.op}(${ins})${attrs !== '' ? ` {${attrs}}` : ''}`);
  }
  if (g.nodes.length > limit) lines.push(`  ... ${g.nodes.length - limit} more nodes`);
  for (const v of g.outputs) lines.push(`  output ${v.toString()}`);
  return lines.join('\n');
}

/** Node count per op type, most frequent first (e.g. to compare forward and backward sizes). */
export function opCounts(g: Graph): [string, number][] {
  const m = new Map<string, number>();
  for (const n of g.nodes) m.set(n.op, (m.get(n.op) ?? 0) + 1);
  return [...m].sort((a, b) => b[1] - a[1]);
}
