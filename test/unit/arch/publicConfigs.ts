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
