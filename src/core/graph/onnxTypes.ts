// The mapping between the IR's dtypes and ONNX TensorProto.DataType / onnxruntime-node tensor types.
// Numbers are onnx.proto's DataType enum (FLOAT=1 ... BFLOAT16=16).
import type { DType } from './ir';

const TO_ONNX: Record<DType, number> = {
  float32: 1, uint8: 2, int8: 3, int32: 6, int64: 7, bool: 9, float16: 10, float64: 11, bfloat16: 16,
};

export function onnxDataType(d: DType): number {
  return TO_ONNX[d];
}

export function dtypeFromOnnx(n: number): DType {
  for (const [k, v] of Object.entries(TO_ONNX)) if (v === n) return k as DType;
  throw new Error(`unsupported ONNX data type ${n}`);
}

/** onnxruntime-common's tensor type names. */
export const ORT_TYPE: Record<DType, string> = {
  float32: 'float32', float16: 'float16', bfloat16: 'bfloat16', float64: 'float64',
  int64: 'int64', int32: 'int32', int8: 'int8', uint8: 'uint8', bool: 'bool',
};
