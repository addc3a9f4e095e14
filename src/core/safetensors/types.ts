// Types of the safetensors reader/writer: header entries, dtypes, checkpoints (single file or sharded).
// Spec: huggingface/safetensors README + safetensors/src/tensor.rs (docs/FORMATS.md).

export type SafetensorsDtype =
  | 'BOOL' | 'F4' | 'F6_E2M3' | 'F6_E3M2' | 'U8' | 'I8' | 'F8_E5M2' | 'F8_E4M3' | 'F8_E8M0'
  | 'F8_E4M3FNUZ' | 'F8_E5M2FNUZ' | 'I16' | 'U16' | 'F16' | 'BF16' | 'I32' | 'U32' | 'F32'
  | 'C64' | 'F64' | 'I64' | 'U64';

/** One tensor as the header describes it; offsets are absolute file offsets (8 + headerLen + data_offsets). */
export interface TensorEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Absolute byte offset of the first byte in `file`. */
  offset: number;
  /** Byte length (end - begin). */
  length: number;
  /** Absolute path of the file that holds the tensor. */
  file: string;
}

export interface SafetensorsHeader {
  file: string;
  headerLength: number;
  /** Absolute offset of the data buffer (8 + headerLength). */
  dataStart: number;
  fileSize: number;
  metadata: Record<string, string>;
  tensors: Map<string, TensorEntry>;
}

/** A checkpoint folder: one model.safetensors, or shards listed in model.safetensors.index.json. */
export interface Checkpoint {
  dir: string;
  files: string[];
  tensors: Map<string, TensorEntry>;
}

/** A tensor to write. `data` is the raw little-endian bytes or a typed array matching dtype. */
export interface TensorToWrite {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  data: Uint8Array | Float32Array | Float64Array | Int32Array | BigInt64Array | Uint16Array | Int8Array | Int16Array;
}
