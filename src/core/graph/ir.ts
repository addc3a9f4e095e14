// The tensor IR: a Graph of typed Values and standard ONNX nodes, with inputs, inline and external-data initializers.
// Builders (ops.ts, nn.ts) append nodes with inferred shapes; writer.ts turns a Graph into an ONNX ModelProto.
import { PeftStudioError, errorMessage } from '../errors';
import { type Dim, type Shape, normDim, shapeStr } from './dims';
import { inferNode } from './infer';

export type DType = 'float32' | 'float16' | 'bfloat16' | 'float64' | 'int64' | 'int32' | 'int8' | 'uint8' | 'bool';

/** Inline tensor data; float16/bfloat16 as raw Uint16Array, bool as Uint8Array. */
export type TensorData = Float32Array | Float64Array | BigInt64Array | Int32Array | Int8Array | Uint8Array | Uint16Array;

/** Where an external-data initializer lives: a file next to the .onnx file (e.g. model.safetensors) and a byte range. */
export interface ExternalLocation {
  location: string;
  offset: number;
  length: number;
}

export type ValueKind = 'input' | 'initializer' | 'external' | 'node';

export interface ValueType {
  dtype: DType;
  shape: Dim[];
}

/** ONNX attributes, tagged with their ONNX attribute type. */
export type Attr =
  | { kind: 'int'; value: number }
  | { kind: 'float'; value: number }
  | { kind: 'string'; value: string }
  | { kind: 'ints'; value: number[] }
  | { kind: 'floats'; value: number[] }
  | { kind: 'tensor'; dtype: DType; shape: number[]; data: TensorData };
export type Attrs = Record<string, Attr>;

export const int = (value: number): Attr => ({ kind: 'int', value });
export const float = (value: number): Attr => ({ kind: 'float', value });
export const ints = (value: number[]): Attr => ({ kind: 'ints', value });
export const floats = (value: number[]): Attr => ({ kind: 'floats', value });
export const str = (value: string): Attr => ({ kind: 'string', value });

export function attrInt(attrs: Attrs, name: string, dflt: number): number {
  const a = attrs[name];
  return a !== undefined && (a.kind === 'int' || a.kind === 'float') ? a.value : dflt;
}
export function attrInts(attrs: Attrs, name: string): number[] | undefined {
  const a = attrs[name];
  return a !== undefined && a.kind === 'ints' ? a.value : undefined;
}
export function attrFloat(attrs: Attrs, name: string, dflt: number): number {
  const a = attrs[name];
  return a !== undefined && (a.kind === 'float' || a.kind === 'int') ? a.value : dflt;
}

export const isFloat = (d: DType): boolean => d === 'float32' || d === 'float16' || d === 'bfloat16' || d === 'float64';

/** A tensor in a Graph. Its producer is the node that computes it (none for inputs and initializers). */
export class Value {
  producer: Node | undefined;
  /** Data of an inline initializer (lets shape inference read shape/axes constants). */
  data: TensorData | undefined;
  external: ExternalLocation | undefined;
  constructor(
    readonly graph: Graph,
    readonly name: string,
    readonly dtype: DType,
    readonly shape: Dim[],
    readonly kind: ValueKind,
  ) {}
  get rank(): number {
    return this.shape.length;
  }
  toString(): string {
    return `${this.name}: ${this.dtype}${shapeStr(this.shape)}`;
  }
}

export class Node {
  constructor(
    readonly op: string,
    readonly name: string,
    /** `undefined` = an omitted optional input (written as ''). */
    readonly inputs: (Value | undefined)[],
    readonly outputs: Value[],
    readonly attrs: Attrs,
    /** Operator set domain: '' = ONNX, 'com.microsoft' = onnxruntime's contrib ops (MatMulNBits). */
    readonly domain = '',
  ) {}
}

export interface NodeOptions {
  /** Operator set domain of the op ('' = ONNX; 'com.microsoft' for onnxruntime contrib ops). */
  domain?: string;
  /** Node name (default: scope + op + counter). */
  name?: string;
  /** Names of the outputs (default: derived from the node name). */
  outputNames?: string[];
  /** Output types when inference cannot know them (e.g. a runtime-computed shape); checked for rank. */
  outputTypes?: ValueType[];
}

export class GraphError extends PeftStudioError {
  constructor(message: string, tensor?: string, expected?: string, actual?: string) {
    super('graph', message, {
      ...(tensor !== undefined ? { tensor } : {}),
      ...(expected !== undefined ? { expected } : {}),
      ...(actual !== undefined ? { actual } : {}),
    });
    this.name = 'GraphError';
  }
}

export class Graph {
  readonly nodes: Node[] = [];
  readonly inputs: Value[] = [];
  readonly initializers: Value[] = [];
  readonly outputs: Value[] = [];
  readonly values = new Map<string, Value>();
  /** Where each symbolic dim can be read at run time: the first graph input that has it, and the axis. */
  readonly symbolSources = new Map<string, { value: Value; axis: number }>();
  /** Initializers made by constant()/scalar()/int64s() (not weights). */
  readonly constants = new Set<Value>();
  /** Values autodiff treats as constants (outputs of stopGradient). */
  readonly stopped = new Set<Value>();
  private readonly nodeNames = new Set<string>();
  private counter = 0;
  private scopes: string[] = [];
  private readonly constCache = new Map<string, Value>();

  constructor(readonly name = 'peft_studio') {}

  /** Runs `fn` with node names prefixed by `prefix` (e.g. 'model.layers.3.mlp'), as candle's VarBuilder::pp. */
  scope<T>(prefix: string, fn: () => T): T {
    this.scopes.push(prefix);
    try {
      return fn();
    } finally {
      this.scopes.pop();
    }
  }

  /** A fresh unique name with the current scope. */
  freshName(base: string): string {
    const prefix = this.scopes.length > 0 ? `${this.scopes.join('.')}/` : '';
    let name: string;
    do name = `${prefix}${base}_${this.counter++}`;
    while (this.values.has(name) || this.nodeNames.has(name));
    return name;
  }

  private register(v: Value): Value {
    if (this.values.has(v.name)) throw new GraphError('duplicate value name', v.name);
    this.values.set(v.name, v);
    return v;
  }

  input(name: string, dtype: DType, shape: Dim[]): Value {
    const v = this.register(new Value(this, name, dtype, shape.map(normDim), 'input'));
    this.inputs.push(v);
    v.shape.forEach((d, axis) => {
      if (typeof d === 'string' && !d.includes('*') && !this.symbolSources.has(d)) this.symbolSources.set(d, { value: v, axis });
    });
    return v;
  }

  /** An initializer with inline data (small constants, LoRA init values in tests). */
  initializer(name: string, dtype: DType, shape: number[], data: TensorData): Value {
    const n = shape.reduce((a, b) => a * b, 1);
    if (data.length !== n) throw new GraphError('initializer data length does not match its shape', name, `${n} elements`, `${data.length}`);
    const v = this.register(new Value(this, name, dtype, [...shape], 'initializer'));
    v.data = data;
    this.initializers.push(v);
    return v;
  }

  /** An initializer whose bytes live in a file beside the .onnx file (data_location EXTERNAL), e.g. a safetensors tensor. */
  externalInitializer(name: string, dtype: DType, shape: number[], loc: ExternalLocation): Value {
    const v = this.register(new Value(this, name, dtype, [...shape], 'external'));
    v.external = { ...loc };
    this.initializers.push(v);
    return v;
  }

  /** A constant (inline initializer with a generated name); identical small constants are shared. */
  constant(dtype: DType, shape: number[], data: TensorData): Value {
    const key = data.length <= 16 ? `${dtype}|${shape.join(',')}|${Array.from(data as ArrayLike<number | bigint>, String).join(',')}` : undefined;
    const hit = key !== undefined ? this.constCache.get(key) : undefined;
    if (hit !== undefined) return hit;
    const v = this.initializer(this.freshName('const'), dtype, shape, data);
    this.constants.add(v);
    if (key !== undefined) this.constCache.set(key, v);
    return v;
  }

  /** A scalar constant (shape []) of a dtype. */
  scalar(x: number, dtype: DType = 'float32'): Value {
    return this.constant(dtype, [], typedArrayOf(dtype, [x]));
  }

  /** A 1-D int64 constant (shapes, axes, starts/ends). */
  int64s(xs: number[]): Value {
    return this.constant('int64', [xs.length], BigInt64Array.from(xs, (x) => BigInt(x)));
  }

  /** Appends a node; output types are inferred (infer.ts) unless given. Returns the outputs. */
  node(op: string, inputs: (Value | undefined)[], attrs: Attrs = {}, opts: NodeOptions = {}): Value[] {
    for (const x of inputs) if (x !== undefined && x.graph !== this) throw new GraphError(`${op}: input belongs to another graph`, x.name);
    const name = opts.name ?? this.freshName(op);
    if (this.nodeNames.has(name)) throw new GraphError(`duplicate node name "${name}" (ORT rejects the model)`);
    let types: ValueType[];
    try {
      types = opts.outputTypes ?? inferNode(op, inputs, attrs);
    } catch (e) {
      throw withNodeContext(e, op, name, inputs);
    }
    const outputs = types.map((t, i) => {
      const outName = opts.outputNames?.[i] ?? (types.length === 1 ? name : `${name}:${i}`);
      return this.register(new Value(this, outName, t.dtype, t.shape.map(normDim), 'node'));
    });
    const node = new Node(op, name, inputs, outputs, attrs, opts.domain ?? '');
    this.nodeNames.add(name);
    for (const o of outputs) o.producer = node;
    this.nodes.push(node);
    return outputs;
  }

  /** Single-output convenience for `node`. */
  op(op: string, inputs: (Value | undefined)[], attrs: Attrs = {}, opts: NodeOptions = {}): Value {
    const out = this.node(op, inputs, attrs, opts);
    if (out.length !== 1) throw new GraphError(`${op} has ${out.length} outputs; use graph.node()`);
    return out[0] as Value;
  }

  /** An Identity of `v` that autodiff treats as a constant (torch's .detach()). */
  stopGradient(v: Value): Value {
    const out = this.op('Identity', [v], {}, { name: this.freshName('StopGradient') });
    this.stopped.add(out);
    return out;
  }

  /** Marks a value as a graph output; with a different `name`, an Identity node gives it that name. */
  output(v: Value, name?: string): Value {
    const out = name !== undefined && name !== v.name ? this.op('Identity', [v], {}, { name }) : v;
    if (this.outputs.includes(out)) throw new GraphError('value is already a graph output', out.name);
    this.outputs.push(out);
    return out;
  }
}

const VIEW_OPS = new Set(['Cast', 'Identity', 'Reshape', 'Transpose', 'Unsqueeze', 'Squeeze']);

/** The weight (external or named initializer) a value is a view or cast of, if any: the HF tensor to blame. */
export function sourceWeight(v: Value | undefined): Value | undefined {
  for (let cur = v, hops = 0; cur !== undefined && hops < 8; hops++) {
    if (cur.kind === 'external' || (cur.kind === 'initializer' && !cur.graph.constants.has(cur))) return cur;
    const p = cur.producer;
    if (p === undefined || !VIEW_OPS.has(p.op)) return undefined;
    cur = p.inputs[0];
  }
  return undefined;
}

/** The first weight among a node's inputs. */
export function weightAmong(inputs: (Value | undefined)[]): Value | undefined {
  for (const x of inputs) {
    const w = sourceWeight(x);
    if (w !== undefined) return w;
  }
  return undefined;
}

/** Wraps an inference error with the node and, where an input is a weight, the tensor name. */
export function withNodeContext(e: unknown, op: string, name: string, inputs: (Value | undefined)[]): GraphError {
  const msg = errorMessage(e);
  const types = inputs.map((x) => (x === undefined ? '-' : x.toString())).join(', ');
  return new GraphError(`${op} node "${name}": ${msg} (inputs: ${types})`, weightAmong(inputs)?.name);
}

export function typedArrayOf(dtype: DType, xs: number[]): TensorData {
  switch (dtype) {
    case 'float32': return Float32Array.from(xs);
    case 'float64': return Float64Array.from(xs);
    case 'int64': return BigInt64Array.from(xs, (x) => BigInt(x));
    case 'int32': return Int32Array.from(xs);
    case 'int8': return Int8Array.from(xs);
    case 'uint8': case 'bool': return Uint8Array.from(xs);
    case 'float16': return Uint16Array.from(xs, toHalf);
    case 'bfloat16': return Uint16Array.from(xs, toBfloat16);
  }
}

/** float → bfloat16 bits (round to nearest even, as torch's .to(torch.bfloat16)). */
export function toBfloat16(x: number): number {
  const b = new Uint32Array(Float32Array.of(x).buffer)[0]!;
  if (Number.isNaN(x)) return 0x7fc0;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

/** float → IEEE half bits (round to nearest even). */
export function toHalf(x: number): number {
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  f[0] = x;
  const b = u[0]!;
  const sign = (b >>> 16) & 0x8000;
  const exp = ((b >>> 23) & 0xff) - 127 + 15;
  const mant = b & 0x7fffff;
  if (((b >>> 23) & 0xff) === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  if (exp >= 0x1f) return sign | 0x7c00;
  if (exp <= 0) {
    if (exp < -10) return sign;
    const m = (mant | 0x800000) >>> (1 - exp);
    return sign | ((m + 0xfff + ((m >>> 13) & 1)) >>> 13);
  }
  const h = sign | (exp << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  return rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1) ? h + 1 : h;
}

export const BYTES: Record<DType, number> = {
  float32: 4, float16: 2, bfloat16: 2, float64: 8, int64: 8, int32: 4, int8: 1, uint8: 1, bool: 1,
};

export type { Dim, Shape };
