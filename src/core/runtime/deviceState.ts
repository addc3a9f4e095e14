// The trainable state between steps (LoRA parameters, AdamW moments) as onnxruntime tensors: on the CPU, or left on
// the GPU by the WebGPU EP (`preferredOutputLocation: 'gpu-buffer'`) and fed back as the next step's inputs.
import * as ort from 'onnxruntime-node';
import { InputError, PeftStudioError } from '../errors';
import type { EngineState } from '../train/engineApi';

/** Graph input names of one trainable tensor's state: parameter, exp_avg, exp_avg_sq. */
export interface StateNames {
  key: string;
  shape: number[];
  expAvg: string;
  expAvgSq: string;
}

/** Output name of a state tensor in the read-back graph. */
export const hostName = (inputName: string): string => `${inputName}.host`;

/** Graph output name of an updated state tensor. */
export type OutputNameOf = (inputName: string) => string;

/**
 * State tensors by graph input name. With `onDevice`, step outputs stay GPU buffers: they are fed straight back and
 * the buffers they replace are released; `download()` reads them back (checkpoints, getState). Uploads happen when a
 * CPU tensor is first fed (after `upload`, i.e. setState), so setState costs nothing until the next step.
 */
export class DeviceState {
  private readonly tensors = new Map<string, ort.Tensor>();
  step = 0;

  constructor(readonly params: readonly StateNames[], readonly onDevice: boolean) {}

  /** Session option: keep the updated state outputs on the GPU (WebGPU only; other outputs come back to the CPU). */
  outputLocations(outputName: OutputNameOf): Record<string, ort.Tensor.DataLocation> {
    const loc: Record<string, ort.Tensor.DataLocation> = {};
    if (!this.onDevice) return loc;
    for (const p of this.params) for (const n of [p.key, p.expAvg, p.expAvgSq]) loc[outputName(n)] = 'gpu-buffer';
    return loc;
  }

  /** Replaces the whole state with host copies (PEFT keys → Float32Array); missing moments are zeros. */
  upload(state: EngineState): void {
    const take = (m: Map<string, Float32Array>, what: string, key: string, n: number, optional: boolean): Float32Array => {
      const v = m.get(key);
      if (v === undefined) {
        if (optional) return new Float32Array(n);
        throw new InputError('engine-state-missing', `state has no ${what} for a trainable tensor`, { tensor: key });
      }
      if (v.length !== n) throw new InputError('engine-state-shape', `${what} has the wrong size`, { tensor: key, expected: String(n), actual: String(v.length) });
      return Float32Array.from(v);
    };
    const next = new Map<string, ort.Tensor>();
    for (const p of this.params) {
      const n = p.shape.reduce((a, b) => a * b, 1);
      next.set(p.key, new ort.Tensor('float32', take(state.params, 'parameter', p.key, n, false), p.shape));
      next.set(p.expAvg, new ort.Tensor('float32', take(state.expAvg, 'exp_avg', p.key, n, true), p.shape));
      next.set(p.expAvgSq, new ort.Tensor('float32', take(state.expAvgSq, 'exp_avg_sq', p.key, n, true), p.shape));
    }
    this.release();
    for (const [k, v] of next) this.tensors.set(k, v);
    this.step = state.step;
  }

  private get(name: string): ort.Tensor {
    const t = this.tensors.get(name);
    if (t === undefined) throw new PeftStudioError('engine-state', 'no state tensor (setState was never called)', { tensor: name });
    return t;
  }

  /** Adds the parameters (and with `moments` the AdamW moments) to a feed map. */
  feed(feeds: Record<string, ort.Tensor>, moments: boolean): void {
    for (const p of this.params) {
      feeds[p.key] = this.get(p.key);
      if (moments) {
        feeds[p.expAvg] = this.get(p.expAvg);
        feeds[p.expAvgSq] = this.get(p.expAvgSq);
      }
    }
  }

  /** Takes the updated state from a step's outputs (GPU buffers stay where they are) and releases what it replaces. */
  take(out: ort.InferenceSession.OnnxValueMapType, outputName: OutputNameOf): void {
    const next = new Map<string, ort.Tensor>();
    for (const p of this.params) {
      for (const n of [p.key, p.expAvg, p.expAvgSq]) {
        const t = out[outputName(n)];
        if (t === undefined) throw new PeftStudioError('engine-output', 'missing graph output', { tensor: outputName(n) });
        next.set(n, t);
      }
    }
    this.release();
    for (const [k, v] of next) this.tensors.set(k, v);
    this.step += 1;
  }

  /** All state tensors by graph input name (to feed a download graph). */
  all(): Record<string, ort.Tensor> {
    const feeds: Record<string, ort.Tensor> = {};
    for (const [k, v] of this.tensors) feeds[k] = v;
    return feeds;
  }

  /**
   * Host copies of the state; the device copies stay in use. GPU buffers are read back by running `readBack` (a graph
   * of Identity nodes whose outputs `<name>.host` come back to the CPU): onnxruntime-node 1.30's Tensor.getData() on a
   * gpu-buffer tensor aborts the process (seen on lavapipe), while a session output copies correctly.
   */
  async download(readBack: (feeds: Record<string, ort.Tensor>) => Promise<ort.InferenceSession.OnnxValueMapType>): Promise<EngineState> {
    const onDevice = [...this.tensors.values()].some((t) => t.location !== 'cpu');
    const host = onDevice ? await readBack(this.all()) : undefined;
    const read = (name: string): Float32Array => {
      const t = host !== undefined ? host[hostName(name)] : this.get(name);
      if (t === undefined) throw new PeftStudioError('engine-output', 'missing state read-back output', { tensor: hostName(name) });
      return Float32Array.from(t.data as Float32Array);
    };
    const s: EngineState = { params: new Map(), shapes: new Map(), expAvg: new Map(), expAvgSq: new Map(), step: this.step };
    for (const p of this.params) {
      s.params.set(p.key, read(p.key));
      s.expAvg.set(p.key, read(p.expAvg));
      s.expAvgSq.set(p.key, read(p.expAvgSq));
      s.shapes.set(p.key, [...p.shape]);
    }
    return s;
  }

  /** Where the state lives now ('gpu-buffer' after the first WebGPU step). */
  location(): ort.Tensor.DataLocation | 'empty' {
    const first = this.tensors.values().next();
    return first.done === true ? 'empty' : first.value.location;
  }

  /** Frees GPU buffers (CPU tensors are left to the garbage collector). */
  release(): void {
    for (const t of this.tensors.values()) if (t.location === 'gpu-buffer') t.dispose();
    this.tensors.clear();
  }
}
