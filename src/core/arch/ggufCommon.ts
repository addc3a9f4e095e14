// `<arch>.*` GGUF hyper-parameter keys shared by the descriptors (llama.cpp's convert_hf_to_gguf.py): the common
// block shape keys, and the RoPE decoder's kv heads, RMSNorm epsilon, rope base/dimensions and linear scaling.
import type { GgufKv } from '../export/gguf/writer';
import type { ModelSpec } from '../hf/types';
import { rotaryDim } from '../models/attention';

export function baseGgufMetadata(spec: ModelSpec, arch: string): GgufKv[] {
  const k = (s: string): string => `${arch}.${s}`;
  return [
    { key: k('context_length'), type: 'u32', value: spec.maxPositionEmbeddings },
    { key: k('embedding_length'), type: 'u32', value: spec.hiddenSize },
    { key: k('feed_forward_length'), type: 'u32', value: spec.intermediateSize },
    { key: k('block_count'), type: 'u32', value: spec.numLayers },
    { key: k('attention.head_count'), type: 'u32', value: spec.numHeads },
  ];
}

export function ropeGgufMetadata(spec: ModelSpec, arch: string): GgufKv[] {
  const k = (s: string): string => `${arch}.${s}`;
  const kv = baseGgufMetadata(spec, arch);
  kv.push(
    { key: k('attention.head_count_kv'), type: 'u32', value: spec.numKvHeads },
    { key: k('attention.layer_norm_rms_epsilon'), type: 'f32', value: spec.normEps },
    { key: k('rope.freq_base'), type: 'f32', value: spec.ropeTheta },
    { key: k('rope.dimension_count'), type: 'u32', value: rotaryDim(spec) },
    { key: k('attention.key_length'), type: 'u32', value: spec.headDim },
    { key: k('attention.value_length'), type: 'u32', value: spec.headDim },
    { key: k('vocab_size'), type: 'u32', value: spec.vocabSize },
  );
  const rs = spec.ropeScaling;
  if (rs !== null && rs.ropeType === 'linear') {
    kv.push({ key: k('rope.scaling.type'), type: 'string', value: 'linear' }, { key: k('rope.scaling.factor'), type: 'f32', value: rs.factor });
  }
  // longrope: the factor tensors travel as rope_factors_long/short; the cos/sin multiplier as attn_factor.
  if (rs !== null && rs.ropeType === 'longrope') kv.push({ key: k('rope.scaling.attn_factor'), type: 'f32', value: rs.attentionFactor ?? 1 });
  return kv;
}
