// The shape of a vector-Jacobian rule: given a node and the gradients of its outputs, the gradients of its inputs.
// Rules may return gradients in the broadcast (output) shape; autodiff.ts un-broadcasts and sums fan-out once.
import type { Graph, Node, Value } from '../ir';

export interface VjpArgs {
  g: Graph;
  node: Node;
  /** Gradient of each output; undefined for outputs no loss depends on (only multi-output ops see that). */
  dys: (Value | undefined)[];
  /** Which inputs need a gradient; return undefined for the others and build nothing for them. */
  needs: boolean[];
}

/**
 * A sparse gradient (Gather*, as scatter-add of dy at the gathered indices): the engine applies it to the sum of the
 * input's other contributions, or to zeros when there are none, so no zero tensor + Add is built for it.
 */
export class ScatterAdd {
  constructor(readonly apply: (base: Value) => Value) {}
}

export type Grad = Value | ScatterAdd | undefined;
export type VjpRule = (a: VjpArgs) => Grad[];

/** The single output gradient of a one-output node. */
export function dyOf(a: VjpArgs): Value {
  const d = a.dys[0];
  if (d === undefined) throw new Error(`${a.node.op}: missing output gradient`);
  return d;
}

/** Input i of the node (throws for an omitted optional input). */
export function inp(a: VjpArgs, i: number): Value {
  const v = a.node.inputs[i];
  if (v === undefined) throw new Error(`${a.node.op}: input ${i} is omitted`);
  return v;
}

export function out(a: VjpArgs, i = 0): Value {
  return a.node.outputs[i]!;
}

/** Builds the gradient for input i only when it is needed. */
export function when<T extends Value | ScatterAdd>(a: VjpArgs, i: number, f: () => T): T | undefined {
  return a.needs[i] === true ? f() : undefined;
}
