// The normalised description of a Hugging Face causal-LM checkpoint that every other part builds on:
// ModelSpec (architecture hyper-parameters) and ModelInventory (modules and parameters, from headers or config).

/** Builder family (the architecture descriptor's `family`, core/arch/registry.ts): llama, gpt2, ... */
export type ModelFamily = string;

export interface RopeScaling {
  /** transformers' rope_type (older configs call it `type`). */
  ropeType: 'default' | 'linear' | 'llama3' | 'dynamic' | 'longrope';
  factor: number;
  /** longrope (Phi-3 "su"): per-frequency divisors of inv_freq up to / beyond original_max_position_embeddings. */
  shortFactor?: number[];
  longFactor?: number[];
  /** longrope: the cos/sin multiplier (resolved: rope_scaling.attention_factor or sqrt(1 + ln(factor) / ln(original))). */
  attentionFactor?: number;
  lowFreqFactor?: number;
  highFreqFactor?: number;
  originalMaxPositionEmbeddings?: number;
}

export interface ModelSpec {
  family: ModelFamily;
  /** config.json `model_type`: llama, mistral, qwen2, gpt2, ... */
  modelType: string;
  /** config.json `architectures`, e.g. ["LlamaForCausalLM"]. */
  architectures: string[];
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  maxPositionEmbeddings: number;
  /** rms_norm_eps (llama family) or layer_norm_epsilon (gpt2). */
  normEps: number;
  /** Llama family only; 10000 default. gpt2: 0. */
  ropeTheta: number;
  ropeScaling: RopeScaling | null;
  tieWordEmbeddings: boolean;
  /** q/k/v projections have a bias (Qwen2 always; llama when attention_bias). */
  qkvBias: boolean;
  /** o_proj has a bias (llama attention_bias). gpt2: c_proj always has one. */
  oBias: boolean;
  /** gate/up/down have a bias (llama mlp_bias). */
  mlpBias: boolean;
  /** silu for llama family, gelu_new for gpt2. */
  hiddenAct: string;
  /** torch_dtype / dtype from config.json (float32, float16, bfloat16) or null. */
  torchDtype: string | null;
  bosTokenId: number | null;
  eosTokenId: number | number[] | null;
  padTokenId: number | null;
  /** config.json settings the graph builders do not compute (e.g. `hidden_act "gelu"`): the trainer refuses them. */
  unsupportedForTraining?: string[];
  /** Model-internal dropout probabilities above 0 (attn_pdrop, attention_dropout, ...): the trainer runs without them. */
  internalDropout?: Record<string, number>;
  /** Sliding-window attention width when some layer uses one (Mistral sliding_window; Qwen2 use_sliding_window). */
  slidingWindow?: number | null;
  /** Which decoder layers use the window (absent: every layer, as Mistral). */
  slidingLayers?: boolean[];
  /** Per-head RMSNorm of queries and keys before RoPE (Qwen3 q_norm / k_norm, weight [head_dim]). */
  qkNorm?: boolean;
  /** Fraction of each head's features RoPE rotates (Phi-3 partial_rotary_factor; 1 = all). */
  partialRotaryFactor?: number;
  /** Gemma 2: attention scale query_pre_attn_scalar^-0.5, score and final-logit soft-capping (null = off). */
  queryPreAttnScalar?: number;
  attnLogitSoftcap?: number | null;
  finalLogitSoftcap?: number | null;
  /** config.json original_max_position_embeddings (Phi3Config: 4096 by default): the pre-training context. */
  originalMaxPositionEmbeddings?: number;
  /** Gemma 3: RoPE base of the sliding (local) layers (rope_local_base_freq), without rope_scaling. */
  ropeLocalTheta?: number;
}

export type ModuleKind = 'linear' | 'conv1d' | 'embedding' | 'layernorm' | 'rmsnorm';

/** One nn.Module with parameters, named as in the transformers model class (`model.named_modules()`). */
export interface ModuleInfo {
  /** Module path in the loaded model, e.g. model.layers.0.self_attn.q_proj or transformer.h.0.attn.c_attn. */
  name: string;
  kind: ModuleKind;
  /** Linear/Conv1D: in/out features. Embedding: in = num_embeddings, out = embedding_dim. Norms: in = out = dim. */
  inFeatures: number;
  outFeatures: number;
  hasBias: boolean;
  /** Decoder layer index, or null for embeddings, final norm, head. */
  layer: number | null;
  /** The output embedding (lm_head): excluded from all-linear. */
  isOutputHead: boolean;
  /** Checkpoint tensor holding the weight (may differ from name + ".weight": gpt2 hub layout; tied head). */
  weightKey: string;
  biasKey: string | null;
}

/** One parameter (not buffer) of the base model, as `model.named_parameters()` lists it (tied ones once). */
export interface ParameterInfo {
  name: string;
  shape: number[];
  /** safetensors dtype in the checkpoint (F32, F16, BF16), or the config's dtype when config-only. */
  dtype: string;
  /** Tensor name in the checkpoint files; null when derived from config.json only. */
  checkpointKey: string | null;
}

export interface ModelInventory {
  spec: ModelSpec;
  /** Folder of the model (config.json, safetensors files). */
  dir: string;
  /** 'safetensors' when read from headers, 'config' when only config.json was available. */
  source: 'safetensors' | 'config';
  modules: ModuleInfo[];
  parameters: ParameterInfo[];
  /** Sum of numel over `parameters` (tied weights once, buffers excluded). */
  totalParameters: number;
  /** Checkpoint tensors that are neither parameters nor known buffers (transformers: "Some weights ... were not used"). */
  unusedCheckpointKeys?: string[];
}
