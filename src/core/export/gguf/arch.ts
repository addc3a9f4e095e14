// llama.cpp's view of a Hugging Face model: GGUF architecture, `<arch>.*` hyper-parameter keys, and the GGUF name and
// layout change of every checkpoint tensor (llama.cpp's convert_hf_to_gguf.py / gguf-py tensor_mapping.py).
import { ARCHS, archOf } from '../../arch/registry';
import type { GgufTensorTarget, TensorTransform } from '../../arch/types';
import { InputError } from '../../errors';
import type { ModelSpec } from '../../hf/types';
import { longRopeFactors } from '../../models/attention';
import type { GgufKv } from './writer';

/** llama.cpp architecture name (llama, qwen2, gpt2, ...), from the family's descriptor. */
export type GgufArch = string;
export type { GgufTensorTarget, TensorTransform };

/** model_type → GGUF architecture (the descriptor's gguf.archOf; Mistral runs as llama, as llama.cpp's converter writes it). */
export function ggufArchOf(spec: ModelSpec, file?: string): GgufArch {
  const a = archOf(spec).gguf.archOf[spec.modelType];
  if (a === undefined) {
    const all = ARCHS.flatMap((d) => Object.keys(d.gguf.archOf));
    throw new InputError('gguf-arch', `model_type "${spec.modelType}" has no GGUF export`, { ...(file !== undefined ? { file } : {}), hint: `GGUF export supports ${all.join(', ')}` });
  }
  return a;
}

/** `<arch>.*` keys llama.cpp reads for the model's hyper-parameters. */
export function archMetadata(spec: ModelSpec, arch: GgufArch): GgufKv[] {
  return archOf(spec).gguf.metadata(spec, arch);
}

/**
 * llama3 rope_scaling as llama.cpp takes it: a `rope_freqs.weight` tensor of per-frequency divisors
 * (1 for short wavelengths, `factor` for long ones, smoothed in between; convert_hf_to_gguf's LlamaModel).
 */
export function llama3RopeFactors(spec: ModelSpec): Float32Array | null {
  const rs = spec.ropeScaling;
  if (rs === null || rs.ropeType !== 'llama3') return null;
  const low = rs.lowFreqFactor ?? 1;
  const high = rs.highFreqFactor ?? 4;
  const old = rs.originalMaxPositionEmbeddings ?? 8192;
  const out = new Float32Array(spec.headDim / 2);
  for (let i = 0; i < out.length; i++) {
    const freq = Math.fround(1 / Math.fround(spec.ropeTheta ** Math.fround((2 * i) / spec.headDim)));
    const wavelen = (2 * Math.PI) / freq;
    if (wavelen < old / high) out[i] = 1;
    else if (wavelen > old / low) out[i] = rs.factor;
    else {
      const smooth = (old / wavelen - low) / (high - low);
      out[i] = 1 / ((1 - smooth) / rs.factor + smooth);
    }
  }
  return out;
}

/**
 * RoPE tables llama.cpp takes as tensors: llama3's `rope_freqs.weight`, and longrope's `rope_factors_long.weight` /
 * `rope_factors_short.weight` (the per-frequency divisors as config.json lists them; Phi3MiniModel's extra tensors).
 */
export function ropeFactorTensors(spec: ModelSpec): { name: string; data: Float32Array }[] {
  const llama3 = llama3RopeFactors(spec);
  if (llama3 !== null) return [{ name: 'rope_freqs.weight', data: llama3 }];
  if (spec.ropeScaling?.ropeType !== 'longrope') return [];
  return [
    { name: 'rope_factors_long.weight', data: Float32Array.from(longRopeFactors(spec, 'long')) },
    { name: 'rope_factors_short.weight', data: Float32Array.from(longRopeFactors(spec, 'short')) },
  ];
}

/**
 * The GGUF tensor for checkpoint tensor `hfName` (weights and biases), or null for tensors llama.cpp does not load
 * (GPT-2's attn.bias causal-mask buffers, rotary inv_freq). An unknown tensor is an InputError.
 */
export function ggufTensorFor(hfName: string, spec: ModelSpec, arch: GgufArch): GgufTensorTarget | null {
  const t = archOf(spec).gguf.tensorFor(hfName, spec, arch);
  if (t === undefined) throw new InputError('gguf-unknown-tensor', `no llama.cpp tensor name for this ${spec.modelType} checkpoint tensor`, { tensor: hfName });
  return t;
}

/**
 * Row permutation of llama.cpp's converter for q/k under arch llama: rows [heads, 2, hd/2] → [heads, hd/2, 2]
 * (w.reshape(heads, 2, rows/heads/2, cols).swapaxes(1, 2)), so that rotate_half pairs (j, j+hd/2) become adjacent.
 */
export function permuteRows(w: Float32Array, rows: number, cols: number, heads: number): Float32Array {
  const hd = rows / heads;
  if (!Number.isInteger(hd) || hd % 2 !== 0) throw new InputError('gguf-permute', `cannot split ${rows} rows into ${heads} heads of even size`);
  const half = hd / 2;
  const out = new Float32Array(w.length);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < half; j++) {
        const src = (h * hd + i * half + j) * cols;
        const dst = (h * hd + 2 * j + i) * cols;
        out.set(w.subarray(src, src + cols), dst);
      }
    }
  }
  return out;
}

export function transpose2d(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c]!;
  return out;
}

/** Applies `t` to a tensor of `shape` (row-major) and returns the data and its new shape. */
export function applyTransform(t: TensorTransform, w: Float32Array, shape: readonly number[]): { data: Float32Array; shape: number[] } {
  const rows = shape[0] ?? 1;
  const cols = shape.length > 1 ? shape.slice(1).reduce((a, b) => a * b, 1) : 1;
  if (t.kind === 'permute') return { data: permuteRows(w, rows, cols, t.heads), shape: [...shape] };
  if (t.kind === 'transpose') return { data: transpose2d(w, rows, cols), shape: [cols, rows] };
  if (t.kind === 'affine') return { data: w.map((x) => (x + t.add) * t.mul), shape: [...shape] };
  return { data: w, shape: [...shape] };
}
