// config.json of public checkpoints (values as published on their Hugging Face model cards), for config-only
// inspect/count/validate tests of the families the architecture registry adds.

/** Qwen/Qwen3-8B. */
export const QWEN3_8B_CONFIG: Record<string, unknown> = {
  architectures: ['Qwen3ForCausalLM'], attention_bias: false, attention_dropout: 0.0, bos_token_id: 151643, eos_token_id: 151645,
  head_dim: 128, hidden_act: 'silu', hidden_size: 4096, initializer_range: 0.02, intermediate_size: 12288, max_position_embeddings: 40960,
  max_window_layers: 36, model_type: 'qwen3', num_attention_heads: 32, num_hidden_layers: 36, num_key_value_heads: 8, rms_norm_eps: 1e-6,
  rope_scaling: null, rope_theta: 1000000, sliding_window: null, tie_word_embeddings: false, torch_dtype: 'bfloat16',
  transformers_version: '4.51.0', use_cache: true, use_sliding_window: false, vocab_size: 151936,
};

/**
 * microsoft/Phi-4-mini-instruct. Its rope_scaling is LongRoPE with 48 long_factor / short_factor values each: they
 * are replaced by 1.0 here (counting and validation do not read their values).
 */
export const PHI4_MINI_CONFIG: Record<string, unknown> = {
  architectures: ['Phi3ForCausalLM'], attention_bias: false, attention_dropout: 0.0, bos_token_id: 199999, embd_pdrop: 0.0, eos_token_id: 199999,
  full_attn_mod: 1, hidden_act: 'silu', hidden_size: 3072, initializer_range: 0.02, intermediate_size: 8192, interpolate_factor: 1,
  lm_head_bias: false, max_position_embeddings: 131072, mlp_bias: false, model_type: 'phi3', num_attention_heads: 24, num_hidden_layers: 32,
  num_key_value_heads: 8, original_max_position_embeddings: 4096, pad_token_id: 199999, partial_rotary_factor: 0.75, resid_pdrop: 0.0,
  rms_norm_eps: 1e-5, rope_scaling: { long_factor: Array<number>(48).fill(1), short_factor: Array<number>(48).fill(1), type: 'longrope' },
  rope_theta: 10000.0, sliding_window: 262144, tie_word_embeddings: true, torch_dtype: 'bfloat16', transformers_version: '4.45.0',
  use_cache: true, vocab_size: 200064,
};

/** google/gemma-2-9b. */
export const GEMMA2_9B_CONFIG: Record<string, unknown> = {
  architectures: ['Gemma2ForCausalLM'], attention_bias: false, attention_dropout: 0.0, attn_logit_softcapping: 50.0, bos_token_id: 2,
  cache_implementation: 'hybrid', eos_token_id: 1, final_logit_softcapping: 30.0, head_dim: 256, hidden_act: 'gelu_pytorch_tanh',
  hidden_activation: 'gelu_pytorch_tanh', hidden_size: 3584, initializer_range: 0.02, intermediate_size: 14336, max_position_embeddings: 8192,
  model_type: 'gemma2', num_attention_heads: 16, num_hidden_layers: 42, num_key_value_heads: 8, pad_token_id: 0, query_pre_attn_scalar: 256,
  rms_norm_eps: 1e-6, rope_theta: 10000.0, sliding_window: 4096, sliding_window_size: 4096, torch_dtype: 'float32',
  transformers_version: '4.42.0.dev0', use_cache: true, vocab_size: 256000,
};
