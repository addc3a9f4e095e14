// llama.cpp's view of a Hugging Face model: GGUF architecture, `<arch>.*` hyper-parameter keys, and the GGUF name and
// layout change of every checkpoint tensor (llama.cpp's convert_hf_to_gguf.py / gguf-py tensor_mapping.py).
import { InputError } from '../../errors';
import type { ModelSpec } from '../../hf/types';
import type { GgufKv } from './writer';

export type GgufArch = 'llama' | 'qwen2' | 'gpt2';

/**
 * How a tensor changes on its way into GGUF: `permute` = the q/k row order of llama.cpp's RoPE for arch llama
 * (with `heads` = attention heads for q, kv heads for k); `transpose` = GPT-2 Conv1D [in, out] → [out, in].
 */
export type TensorTransform = { kind: 'none' } | { kind: 'transpose' } | { kind: 'permute'; heads: number };

export interface GgufTensorTarget {
  name: string;
  transform: TensorTransform;
}

/** model_type → GGUF architecture: Mistral runs as llama (as llama.cpp's converter writes it). */
export function ggufArchOf(spec: ModelSpec, file?: string): GgufArch {
  const a = ({ llama: 'llama', mistral: 'llama', qwen2: 'qwen2', gpt2: 'gpt2' } as Record<string, GgufArch>)[spec.modelType];
  if (a === undefined) throw new InputError('gguf-arch', `model_type "${spec.modelType}" has no GGUF export`, { ...(file !== undefined ? { file } : {}), hint: 'GGUF export supports llama, mistral, qwen2 and gpt2' });
  return a;
}

/** `<arch>.*` keys llama.cpp reads for the model's hyper-parameters. */
export function archMetadata(spec: ModelSpec, arch: GgufArch): GgufKv[] {
  const k = (s: string): string => `${arch}.${s}`;
  const kv: GgufKv[] = [
    { key: k('context_length'), type: 'u32', value: spec.maxPositionEmbeddings },
    { key: k('embedding_length'), type: 'u32', value: spec.hiddenSize },
    { key: k('feed_forward_length'), type: 'u32', value: spec.intermediateSize },
    { key: k('block_count'), type: 'u32', value: spec.numLayers },
    { key: k('attention.head_count'), type: 'u32', value: spec.numHeads },
  ];
  if (arch === 'gpt2') {
    kv.push({ key: k('attention.layer_norm_epsilon'), type: 'f32', value: spec.normEps });
    return kv;
  }
  kv.push(
    { key: k('attention.head_count_kv'), type: 'u32', value: spec.numKvHeads },
    { key: k('attention.layer_norm_rms_epsilon'), type: 'f32', value: spec.normEps },
    { key: k('rope.freq_base'), type: 'f32', value: spec.ropeTheta },
    { key: k('rope.dimension_count'), type: 'u32', value: spec.headDim },
    { key: k('attention.key_length'), type: 'u32', value: spec.headDim },
    { key: k('attention.value_length'), type: 'u32', value: spec.headDim },
    { key: k('vocab_size'), type: 'u32', value: spec.vocabSize },
  );
  const rs = spec.ropeScaling;
  if (rs !== null && rs.ropeType === 'linear') {
    kv.push({ key: k('rope.scaling.type'), type: 'string', value: 'linear' }, { key: k('rope.scaling.factor'), type: 'f32', value: rs.factor });
  }
  return kv;
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

const LLAMA_LAYER: Record<string, string> = {
  'self_attn.q_proj': 'attn_q', 'self_attn.k_proj': 'attn_k', 'self_attn.v_proj': 'attn_v', 'self_attn.o_proj': 'attn_output',
  'mlp.gate_proj': 'ffn_gate', 'mlp.up_proj': 'ffn_up', 'mlp.down_proj': 'ffn_down',
  input_layernorm: 'attn_norm', post_attention_layernorm: 'ffn_norm',
};
const GPT2_LAYER: Record<string, string> = {
  ln_1: 'attn_norm', 'attn.c_attn': 'attn_qkv', 'attn.c_proj': 'attn_output', ln_2: 'ffn_norm', 'mlp.c_fc': 'ffn_up', 'mlp.c_proj': 'ffn_down',
};

/**
 * The GGUF tensor for checkpoint tensor `hfName` (weights and biases), or null for tensors llama.cpp does not load
 * (GPT-2's attn.bias causal-mask buffers, rotary inv_freq). An unknown tensor is an InputError.
 */
export function ggufTensorFor(hfName: string, spec: ModelSpec, arch: GgufArch): GgufTensorTarget | null {
  const none: TensorTransform = { kind: 'none' };
  if (arch === 'gpt2') {
    const n = hfName.replace(/^transformer\./, '');
    if (/^h\.\d+\.attn\.(bias|masked_bias)$/.test(n)) return null;
    const fixed: Record<string, string> = { 'wte.weight': 'token_embd.weight', 'wpe.weight': 'position_embd.weight', 'ln_f.weight': 'output_norm.weight', 'ln_f.bias': 'output_norm.bias', 'lm_head.weight': 'output.weight' };
    if (fixed[n] !== undefined) return { name: fixed[n], transform: none };
    const m = /^h\.(\d+)\.(.+)\.(weight|bias)$/.exec(n);
    const g = m !== null ? GPT2_LAYER[m[2]!] : undefined;
    if (m !== null && g !== undefined) {
      const conv = m[3] === 'weight' && m[2]!.includes('.');
      return { name: `blk.${m[1]}.${g}.${m[3]}`, transform: conv ? { kind: 'transpose' } : none };
    }
  } else {
    if (/rotary_emb\.inv_freq$/.test(hfName)) return null;
    const fixed: Record<string, string> = { 'model.embed_tokens.weight': 'token_embd.weight', 'model.norm.weight': 'output_norm.weight', 'lm_head.weight': 'output.weight' };
    if (fixed[hfName] !== undefined) return { name: fixed[hfName], transform: none };
    const m = /^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(hfName);
    const g = m !== null ? LLAMA_LAYER[m[2]!] : undefined;
    if (m !== null && g !== undefined) {
      let transform: TensorTransform = none;
      if (arch === 'llama' && g === 'attn_q') transform = { kind: 'permute', heads: spec.numHeads };
      if (arch === 'llama' && g === 'attn_k') transform = { kind: 'permute', heads: spec.numKvHeads };
      return { name: `blk.${m[1]}.${g}.${m[3]}`, transform };
    }
  }
  throw new InputError('gguf-unknown-tensor', `no llama.cpp tensor name for this ${spec.modelType} checkpoint tensor`, { tensor: hfName });
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
  return { data: w, shape: [...shape] };
}
