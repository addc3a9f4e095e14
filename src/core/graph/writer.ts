// Serializes a checked Graph to an ONNX ModelProto (opset 18, IR version 9) with the onnx-proto protobufjs bindings.
// External-data initializers become TensorProtos with data_location EXTERNAL pointing into files beside the .onnx file.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';
import { checkGraph } from './check';
import type { Dim } from './dims';
import type { Attr, Graph, Node, TensorData, Value } from './ir';
import { onnxDataType } from './onnxTypes';

/** Default-domain opset the IR's op semantics follow (Reduce* axes as inputs, Split num_outputs). */
export const OPSET = 18;
/** Contrib domains (com.microsoft: MatMulNBits) are imported at version 1 when a node uses them. */
/** IR version paired with opset 18 (onnx 1.13); onnxruntime-node 1.30 reads up to IR 11. */
export const IR_VERSION = 9;

function bytesOf(data: TensorData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function dimProto(d: Dim): onnx.TensorShapeProto.IDimension {
  return typeof d === 'number' ? { dimValue: d } : { dimParam: d };
}

function valueInfo(v: Value): onnx.IValueInfoProto {
  return {
    name: v.name,
    type: { tensorType: { elemType: onnxDataType(v.dtype), shape: { dim: v.shape.map(dimProto) } } },
  };
}

function tensorProto(v: Value): onnx.ITensorProto {
  const t: onnx.ITensorProto = { name: v.name, dataType: onnxDataType(v.dtype), dims: v.shape.map((d) => d as number) };
  if (v.external !== undefined) {
    t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    t.externalData = [
      { key: 'location', value: v.external.location },
      { key: 'offset', value: String(v.external.offset) },
      { key: 'length', value: String(v.external.length) },
    ];
  } else if (v.data !== undefined) {
    t.rawData = bytesOf(v.data);
  }
  return t;
}

function attrProto(name: string, a: Attr): onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.kind) {
    case 'int': return { name, type: T.INT, i: a.value };
    case 'float': return { name, type: T.FLOAT, f: a.value };
    case 'string': return { name, type: T.STRING, s: new TextEncoder().encode(a.value) };
    case 'ints': return { name, type: T.INTS, ints: a.value };
    case 'floats': return { name, type: T.FLOATS, floats: a.value };
    case 'tensor': return { name, type: T.TENSOR, t: { dataType: onnxDataType(a.dtype), dims: a.shape, rawData: bytesOf(a.data) } };
  }
}

/**
 * The nodes and initializers the outputs depend on. ORT runs every node of a model, even ones no output needs
 * (measured: 5 dead 1000² MatMuls cost 460 ms a run), so the writer emits only these. Graph inputs all stay.
 */
export function liveSubgraph(g: Graph): { nodes: Node[]; initializers: Value[] } {
  const need = new Set<Value>(g.outputs);
  const nodes: Node[] = [];
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i]!;
    if (!n.outputs.some((o) => need.has(o))) continue;
    nodes.push(n);
    for (const x of n.inputs) if (x !== undefined) need.add(x);
  }
  return { nodes: nodes.reverse(), initializers: g.initializers.filter((v) => need.has(v)) };
}

export interface WriteOptions {
  /** Drop nodes and initializers no output depends on (default true). */
  prune?: boolean;
}

/** The ModelProto of a graph (checked first, then pruned to what the outputs need). */
export function toModelProto(g: Graph, opts: WriteOptions = {}): onnx.ModelProto {
  checkGraph(g);
  const live = opts.prune === false ? { nodes: g.nodes, initializers: g.initializers } : liveSubgraph(g);
  const graph: onnx.IGraphProto = {
    name: g.name,
    node: live.nodes.map((n) => ({
      opType: n.op,
      ...(n.domain !== '' ? { domain: n.domain } : {}),
      name: n.name,
      input: n.inputs.map((x) => x?.name ?? ''),
      output: n.outputs.map((o) => o.name),
      attribute: Object.entries(n.attrs).map(([k, a]) => attrProto(k, a)),
    })),
    input: g.inputs.map(valueInfo),
    output: g.outputs.map(valueInfo),
    initializer: live.initializers.map(tensorProto),
  };
  return onnx.ModelProto.create({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET }, ...[...new Set(live.nodes.map((n) => n.domain).filter((d) => d !== ''))].map((domain) => ({ domain, version: 1 }))],
    producerName: 'peft-studio',
    graph,
  });
}

/** Serialized ONNX model bytes. */
export function toOnnxModel(g: Graph, opts: WriteOptions = {}): Uint8Array {
  return onnx.ModelProto.encode(toModelProto(g, opts)).finish();
}

/**
 * Writes the model to `file`. External-data locations resolve against the file's folder, so write it into the
 * folder that holds the weights (or a folder of hard links to them); ORT rejects paths escaping that folder.
 */
export function writeOnnx(g: Graph, file: string, opts: WriteOptions = {}): void {
  const bytes = toOnnxModel(g, opts);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, bytes);
}

/** Decodes an ONNX file (for tests and debugging). */
export function readOnnx(file: string): onnx.ModelProto {
  return onnx.ModelProto.decode(fs.readFileSync(file));
}
