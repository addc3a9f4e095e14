// Runs a Graph in onnxruntime-node: writes it to a folder, opens an InferenceSession from the file path, feeds typed arrays.
// Sessions load from a file (never bytes) so external-data initializers resolve against the model's folder.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { PeftStudioError, errorMessage } from '../errors';
import { shapeStr } from './dims';
import type { Graph, TensorData, Value } from './ir';
import { ORT_TYPE } from './onnxTypes';
import { checkExternalData } from './weights';
import { writeOnnx } from './writer';

export interface RunOptions {
  /** Folder to write the .onnx file into: the weights' folder when the graph has external data. Default: a temp folder. */
  dir?: string;
  /** File name inside `dir`, kept after release. Default: a unique name, deleted on release. */
  fileName?: string;
  executionProviders?: ort.InferenceSession.SessionOptions['executionProviders'];
  /** Default 'all', or 'basic' for graphs with float64 values (see defaultLevel). */
  graphOptimizationLevel?: ort.InferenceSession.SessionOptions['graphOptimizationLevel'];
  /** Any other session options (extra config entries such as session.disable_prepacking, threads, logging). */
  sessionOptions?: ort.InferenceSession.SessionOptions;
}

let fileCounter = 0;

/** A fed or fetched tensor: data plus dims (dims may be omitted in feeds when the input's shape is static). */
export interface HostTensor {
  data: TensorData;
  dims: number[];
}
export type Feed = TensorData | HostTensor;

/** An open session on a written graph; `run` can be called many times. */
export class GraphSession {
  private constructor(
    readonly session: ort.InferenceSession,
    readonly graph: Graph,
    readonly file: string,
    private readonly tempDir: string | undefined,
    private readonly tempFile: boolean,
  ) {}

  static async create(g: Graph, opts: RunOptions = {}): Promise<GraphSession> {
    const hasExternal = g.initializers.some((v) => v.external !== undefined);
    if (hasExternal && opts.dir === undefined) {
      throw new PeftStudioError('graph', 'a graph with external-data initializers must be written into the folder of its weight files', { hint: 'pass RunOptions.dir' });
    }
    const tempDir = opts.dir === undefined ? fs.mkdtempSync(path.join(os.tmpdir(), 'peft-graph-')) : undefined;
    const dir = opts.dir ?? (tempDir as string);
    const file = path.join(dir, opts.fileName ?? `peft-graph-${process.pid}-${++fileCounter}.onnx`);
    writeOnnx(g, file);
    if (hasExternal) checkExternalData(g, dir);
    const so: ort.InferenceSession.SessionOptions = {
      ...opts.sessionOptions,
      executionProviders: opts.executionProviders ?? opts.sessionOptions?.executionProviders ?? ['cpu'],
      graphOptimizationLevel: opts.graphOptimizationLevel ?? opts.sessionOptions?.graphOptimizationLevel ?? defaultLevel(g),
    };
    try {
      const session = await ort.InferenceSession.create(file, so);
      return new GraphSession(session, g, file, tempDir, opts.fileName === undefined);
    } catch (e) {
      if (tempDir !== undefined) fs.rmSync(tempDir, { recursive: true, force: true });
      else if (opts.fileName === undefined) fs.rmSync(file, { force: true });
      throw new PeftStudioError('ort-session', `onnxruntime could not load the graph: ${errorMessage(e)}`, { file });
    }
  }

  /** Runs with feeds keyed by graph input name; returns the requested outputs (default: all) keyed by name. */
  async run(feeds: Record<string, Feed>, fetch?: string[]): Promise<Record<string, HostTensor>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const v of this.graph.inputs) {
      const f = feeds[v.name];
      if (f === undefined) throw new PeftStudioError('graph-feed', 'missing feed for graph input', { tensor: v.name, expected: `${v.dtype}${shapeStr(v.shape)}` });
      ortFeeds[v.name] = toOrtTensor(v, f);
    }
    for (const k of Object.keys(feeds)) if (this.graph.values.get(k)?.kind !== 'input') throw new PeftStudioError('graph-feed', 'feed for a name that is not a graph input', { tensor: k });
    const names = fetch ?? this.graph.outputs.map((o) => o.name);
    const res = await this.session.run(ortFeeds, names);
    const out: Record<string, HostTensor> = {};
    for (const n of names) {
      const t = res[n];
      if (t === undefined) throw new PeftStudioError('graph-fetch', 'onnxruntime returned no such output', { tensor: n });
      out[n] = { data: t.data as TensorData, dims: t.dims.map(Number) };
    }
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
    if (this.tempDir !== undefined) fs.rmSync(this.tempDir, { recursive: true, force: true });
    else if (this.tempFile) fs.rmSync(this.file, { force: true });
  }
}

function toOrtTensor(v: Value, f: Feed): ort.Tensor {
  const host: HostTensor = ArrayBuffer.isView(f) ? { data: f, dims: staticDims(v) } : f;
  if (host.dims.length !== v.rank || host.dims.some((d, i) => typeof v.shape[i] === 'number' && v.shape[i] !== d)) {
    throw new PeftStudioError('graph-feed', 'feed shape does not match the graph input', { tensor: v.name, expected: shapeStr(v.shape), actual: shapeStr(host.dims) });
  }
  const n = host.dims.reduce((a, b) => a * b, 1);
  if (host.data.length !== n) throw new PeftStudioError('graph-feed', 'feed data length does not match its dims', { tensor: v.name, expected: String(n), actual: String(host.data.length) });
  const type = ORT_TYPE[v.dtype] as keyof ort.Tensor.DataTypeMap;
  return new ort.Tensor(type, host.data as ort.Tensor.DataTypeMap[typeof type], host.dims);
}

/**
 * 'all', except 'basic' for graphs with float64 values: ORT 1.30's extended fusions (e.g. QuickGeluFusion of x·σ(x))
 * emit com.microsoft kernels that exist only for float, and the session then fails to load.
 */
function defaultLevel(g: Graph): 'all' | 'basic' {
  return [...g.values.values()].some((v) => v.dtype === 'float64') ? 'basic' : 'all';
}

function staticDims(v: Value): number[] {
  if (v.shape.some((d) => typeof d !== 'number')) throw new PeftStudioError('graph-feed', 'input has symbolic dims: feed {data, dims}', { tensor: v.name, expected: shapeStr(v.shape) });
  return v.shape as number[];
}

/** One-shot: write, open, run, release. For tests and small jobs; training keeps a GraphSession open. */
export async function runGraph(g: Graph, feeds: Record<string, Feed>, opts: RunOptions = {}): Promise<Record<string, HostTensor>> {
  const s = await GraphSession.create(g, opts);
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}
