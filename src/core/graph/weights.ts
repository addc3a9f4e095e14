// Base weights as external-data initializers that point straight into safetensors files (no conversion, no copy).
// The .onnx file must be written into the folder holding those files (or a folder of hard links to them): docs/ONNXRUNTIME.md.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { SafetensorsDtype, TensorEntry } from '../safetensors/types';
import { type DType, type Graph, GraphError, type Value } from './ir';

const FROM_SAFETENSORS: Partial<Record<SafetensorsDtype, DType>> = {
  F32: 'float32', F16: 'float16', BF16: 'bfloat16', F64: 'float64', I64: 'int64', I32: 'int32', I8: 'int8', U8: 'uint8', BOOL: 'bool',
};

export function dtypeFromSafetensors(d: SafetensorsDtype, tensor?: string): DType {
  const t = FROM_SAFETENSORS[d];
  if (t === undefined) throw new GraphError(`safetensors dtype ${d} has no ONNX equivalent here`, tensor);
  return t;
}

/**
 * An external-data initializer for a safetensors tensor, named by its HF name (or `name`). The location is the file's
 * base name, so the graph must be written beside the weights.
 */
export function weightFromSafetensors(g: Graph, entry: TensorEntry, name: string = entry.name): Value {
  return g.externalInitializer(name, dtypeFromSafetensors(entry.dtype, entry.name), [...entry.shape], {
    location: path.basename(entry.file),
    offset: entry.offset,
    length: entry.length,
  });
}

/**
 * Checks, before ORT does, that every external initializer's file is in `dir` (not a symlink out of it: ORT rejects
 * "External data path escapes model directory") and holds its byte range. Errors name the HF tensor.
 */
export function checkExternalData(g: Graph, dir: string): void {
  const root = fs.realpathSync(dir);
  const sizes = new Map<string, number>();
  for (const v of g.initializers) {
    if (v.external === undefined) continue;
    const loc = v.external.location;
    let size = sizes.get(loc);
    if (size === undefined) {
      const file = path.join(dir, loc);
      if (!fs.existsSync(file)) throw new GraphError(`external data file ${loc} is not in the graph folder ${dir}`, v.name);
      const real = fs.realpathSync(file);
      if (path.dirname(real) !== root && !real.startsWith(root + path.sep)) {
        throw new GraphError(`external data file ${loc} resolves outside the graph folder (${real}); ORT rejects it: use a hard link`, v.name);
      }
      size = fs.statSync(real).size;
      sizes.set(loc, size);
    }
    if (v.external.offset + v.external.length > size) {
      throw new GraphError(`external data range ends past the end of ${loc}`, v.name, `≤ ${size} bytes`, `${v.external.offset + v.external.length}`);
    }
  }
}
