// Base weights as external-data initializers that point straight into safetensors files (no conversion, no copy).
// The .onnx file must be written into the folder holding those files (or a folder of hard links to them): FACTS.md.
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
