// The table of every PeftConfig + LoraConfig field of PEFT 0.20.0 (name, JSON types, default, hover doc);
// the value rules (ranges, enums, cross-field) are in loraRules.ts.

/** A JSON value, as JSON.parse gives it. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** JSON types a field accepts. 'integer' is a number with no fractional part. */
export type JsonType = 'null' | 'boolean' | 'integer' | 'number' | 'string' | 'array' | 'object';

export interface LoraFieldSpec {
  name: string;
  /** Accepted JSON types of the value. */
  types: JsonType[];
  /** For 'array': the JSON type of the items. For 'object': the JSON type of the values (when uniform). */
  items?: JsonType[];
  /** PEFT's default (what a saved adapter_config.json shows when the field was not set). */
  default: JsonValue;
  /** One paragraph for a hover. */
  doc: string;
  /** Example values for the JSON schema. (Enums and ranges live in loraRules.ts.) */
  examples?: JsonValue[];
  /** The dataclass that declares the field. */
  owner: 'PeftConfig' | 'LoraConfig';
  /** False for fields PEFT never writes to adapter_config.json (runtime_config). */
  saved: boolean;
  /** PEFT's Python type is float: json.dumps writes it as a float (0.0, not 0). */
  pythonFloat?: boolean;
}

export const TASK_TYPES = ['SEQ_CLS', 'SEQ_2_SEQ_LM', 'CAUSAL_LM', 'TOKEN_CLS', 'QUESTION_ANS', 'FEATURE_EXTRACTION'] as const;

const P = 'PeftConfig' as const;
const L = 'LoraConfig' as const;

export const LORA_CONFIG_FIELDS: readonly LoraFieldSpec[] = [
  // ---- PeftConfigMixin / PeftConfig ----
  { name: 'task_type', owner: P, saved: true, types: ['string', 'null'], default: null,
    doc: 'The type of task the base model is used for. `CAUSAL_LM` wraps the model in PeftModelForCausalLM (the usual choice for decoder LLMs). Any other string raises an error in PEFT. When null, PEFT saves an `auto_mapping` naming the base model class instead.' },
  { name: 'peft_type', owner: P, saved: true, types: ['string', 'null'], default: 'LORA',
    doc: 'The PEFT method. LoraConfig always sets it to `LORA`; it is the only key PEFT requires when loading a config, because it selects the config class.' },
  { name: 'auto_mapping', owner: P, saved: true, types: ['object', 'null'], default: null,
    doc: 'Written by PEFT when `task_type` is null: `{"base_model_class": ..., "parent_library": ...}`, so the base model class can be found again at load time. Leave it alone.' },
  { name: 'peft_version', owner: P, saved: true, types: ['string', 'null'], default: null,
    doc: 'The PEFT version that saved the adapter, filled in automatically (a release writes e.g. `"0.20.0"`, a dev build `"<version>@<commit>"`). First written by PEFT 0.18.0.' },
  { name: 'base_model_name_or_path', owner: P, saved: true, types: ['string', 'null'], default: null,
    doc: 'The base model this adapter was trained on: a Hugging Face hub id (`org/name`) or a local folder. PEFT fills it in from the model when saving.' },
  { name: 'revision', owner: P, saved: true, types: ['string', 'null'], default: null,
    doc: 'The revision (branch, tag or commit) of the base model on the hub.' },
  { name: 'inference_mode', owner: P, saved: true, types: ['boolean'], default: false,
    doc: 'Whether the adapter is loaded for inference only (no trainable parameters). PEFT always saves `true`; `PeftModel.from_pretrained(..., is_trainable=True)` turns it off again.' },
  // ---- LoraConfig ----
  { name: 'r', owner: L, saved: true, types: ['integer'], default: 8,
    doc: 'LoRA rank: the inner dimension of the low-rank update `B @ A` (A is [r, in_features], B is [out_features, r]). Must be a positive integer. Trainable parameters per adapted layer are `r * (in + out)`.' },
  { name: 'target_modules', owner: L, saved: true, types: ['array', 'string', 'null'], items: ['string'], default: null, examples: [['q_proj', 'v_proj'], 'all-linear'],
    doc: 'Modules to adapt. A list matches a module whose full name equals an entry or ends with `"." + entry` (e.g. `["q_proj", "v_proj"]`); a string is a Python regex that must match the full module name; `"all-linear"` adapts every linear/Conv1D layer except the output head. When null, PEFT uses the defaults for the model type (llama/mistral/qwen2: q_proj, v_proj; gpt2: c_attn).' },
  { name: 'exclude_modules', owner: L, saved: true, types: ['array', 'string', 'null'], items: ['string'], default: null,
    doc: 'Modules not to adapt even when `target_modules` matches them. Same matching rules as `target_modules`: a list entry matches the full name or a `"." + entry` suffix, a string is a regex that must match the full name.' },
  { name: 'lora_alpha', owner: L, saved: true, types: ['number'], default: 8,
    doc: 'LoRA scaling numerator: the update is multiplied by `lora_alpha / r` (or `lora_alpha / sqrt(r)` with `use_rslora`). A common choice is `2 * r`.' },
  { name: 'lora_dropout', owner: L, saved: true, types: ['number'], default: 0.0, pythonFloat: true,
    doc: 'Dropout probability applied to the input of the LoRA branch only (the frozen base layer sees the undropped input). 0 disables it.' },
  { name: 'fan_in_fan_out', owner: L, saved: true, types: ['boolean'], default: false,
    doc: 'Set to true if the layer to adapt stores its weight as (fan_in, fan_out), like GPT-2\'s Conv1D. PEFT forces it to true for Conv1D and false for nn.Linear (with a warning), so it rarely needs setting.' },
  { name: 'bias', owner: L, saved: true, types: ['string'], default: 'none',
    doc: 'Which biases to train: `none` (no biases), `all` (every bias of the base model), `lora_only` (only the biases of the adapted layers). Trained biases change the base model\'s output even with the adapter disabled.' },
  { name: 'use_rslora', owner: L, saved: true, types: ['boolean'], default: false,
    doc: 'Rank-Stabilized LoRA: scale the update by `lora_alpha / sqrt(r)` instead of `lora_alpha / r`, which keeps the update\'s magnitude stable as r grows.' },
  { name: 'modules_to_save', owner: L, saved: true, types: ['array', 'null'], items: ['string'], default: null,
    doc: 'Modules other than LoRA layers to make fully trainable and save with the adapter (PEFT keeps a trainable copy), e.g. `["lm_head"]` or a classification head. Matched like a list in `target_modules`.' },
  { name: 'init_lora_weights', owner: L, saved: true, types: ['boolean', 'string'], default: true,
    doc: 'How to initialise the LoRA weights. `true`: A ~ kaiming_uniform(a=sqrt(5)), B = 0, so the adapter starts as a no-op. `"gaussian"`: A ~ N(0, 1/r), B = 0. `false`: A and B both random (for debugging; not a no-op). Data- or weight-driven schemes: `eva`, `olora`, `pissa`, `pissa_niter_<N>`, `corda`, `loftq`, `orthogonal`, `mica`, `lora_ga` (needs `lora_ga_config`).' },
  { name: 'layers_to_transform', owner: L, saved: true, types: ['integer', 'array', 'null'], items: ['integer'], default: null,
    doc: 'Only adapt the decoder layers with these indices (an int or a list of ints). The index is read from the module name (`model.layers.<i>.` or `transformer.h.<i>.`). Works only when `target_modules` is a list.' },
  { name: 'layers_pattern', owner: L, saved: true, types: ['string', 'array', 'null'], items: ['string'], default: null,
    doc: 'Name of the nn.ModuleList that holds the layers (e.g. `"layers"` or `"h"`), used with `layers_to_transform` when the layer index cannot be found by the default rule. Requires `layers_to_transform`; works only when `target_modules` is a list.' },
  { name: 'rank_pattern', owner: L, saved: true, types: ['object', 'null'], items: ['integer'], default: {},
    doc: 'Per-module ranks overriding `r`: a map from a regex to a rank. The first key `k` for which `re.match(rf"(.*\\.)?({k})$", module_name)` matches wins, e.g. `{"down_proj": 16}` or `{"model.layers.0.self_attn.q_proj": 32}`.' },
  { name: 'alpha_pattern', owner: L, saved: true, types: ['object', 'null'], items: ['number'], default: {},
    doc: 'Per-module alphas overriding `lora_alpha`: a map from a regex to an alpha, matched like `rank_pattern` (first key `k` with `re.match(rf"(.*\\.)?({k})$", module_name)` wins).' },
  { name: 'megatron_config', owner: L, saved: true, types: ['object', 'null'], default: null,
    doc: 'Megatron TransformerConfig, to create LoRA\'s parallel linear layers for Megatron ColumnParallelLinear/RowParallelLinear. Not used by PEFT Studio.' },
  { name: 'megatron_core', owner: L, saved: true, types: ['string', 'null'], default: 'megatron.core',
    doc: 'The Megatron core module used to create LoRA\'s parallel linear layers; only needed with a modified Megatron. Not used by PEFT Studio.' },
  { name: 'trainable_token_indices', owner: L, saved: true, types: ['array', 'object', 'null'], default: null,
    doc: 'Fine-tune only these token rows of the embedding (TrainableTokens) instead of the whole matrix: a list of token ids for the input embedding, or a map from embedding module name to token ids, e.g. `{"embed_tokens": [0, 1]}`.' },
  { name: 'loftq_config', owner: L, saved: true, types: ['object'], default: {},
    doc: 'LoftQ settings (`loftq_bits`, `loftq_iter`): quantise the backbone and initialise LoRA from the quantisation error. Used only with `init_lora_weights: "loftq"` (required then); ignored and reset to `{}` otherwise.' },
  { name: 'eva_config', owner: L, saved: true, types: ['object', 'null'], default: null,
    doc: 'Settings of EVA (Explained Variance Adaptation), a data-driven initialisation. Used only with `init_lora_weights: "eva"`.' },
  { name: 'corda_config', owner: L, saved: true, types: ['object', 'null'], default: null,
    doc: 'Settings of CorDA (context-oriented decomposition adaptation), which builds the adapter from covariance of sample data. Used only with `init_lora_weights: "corda"`.' },
  { name: 'lora_ga_config', owner: L, saved: true, types: ['object', 'null'], default: null,
    doc: 'Settings of LoRA-GA (gradient-approximation initialisation). Used only with `init_lora_weights: "lora_ga"`.' },
  { name: 'use_dora', owner: L, saved: true, types: ['boolean'], default: false,
    doc: 'Weight-Decomposed Low-Rank Adaptation (DoRA): splits the update into a magnitude (a trainable vector of size out_features per layer) and a direction handled by LoRA. Often better at low ranks, but slower; merge for inference.' },
  { name: 'velora_config', owner: L, saved: true, types: ['object', 'null'], default: null,
    doc: 'Enables VeLoRA, a LoRA variant with a custom backward pass for lora_A that stores compressed activations to save memory.' },
  { name: 'alora_invocation_tokens', owner: L, saved: true, types: ['array', 'null'], items: ['integer'], default: null,
    doc: 'Activated LoRA (aLoRA): the token ids of the invocation string; the adapter only acts on tokens from the invocation on, so the KV cache before it is shared with the base model. Causal LM only; cannot be merged.' },
  { name: 'use_qalora', owner: L, saved: true, types: ['boolean'], default: false,
    doc: 'Quantization-Aware LoRA (QALoRA), implemented for GPTQ-quantised linear layers only.' },
  { name: 'qalora_group_size', owner: L, saved: true, types: ['integer'], default: 16,
    doc: 'QALoRA pooling group size: input features are averaged in groups of this size. Used only with `use_qalora`.' },
  { name: 'monteclora_config', owner: L, saved: true, types: ['object', 'null'], default: null,
    doc: 'Settings of MonteCLoRA (Monte Carlo Low-Rank Adaptation), which adds variational sampling on top of the LoRA adapters.' },
  { name: 'layer_replication', owner: L, saved: true, types: ['array', 'null'], items: ['array'], default: null,
    doc: 'Expand the model by repeating layers: a list of [start, end) ranges to stack, e.g. `[[0, 4], [2, 5]]` turns layers 0..4 into 0,1,2,3,2,3,4. Base weights are shared; each copy gets its own adapter.' },
  { name: 'runtime_config', owner: L, saved: false, types: ['object'], default: { ephemeral_gpu_offload: false },
    doc: 'Runtime-only settings (`ephemeral_gpu_offload`); never saved to adapter_config.json.' },
  { name: 'lora_bias', owner: L, saved: true, types: ['boolean'], default: false,
    doc: 'Add a trainable bias to lora_B (saved as `lora_B.bias`). Meant for LoRA weights extracted from fully fine-tuned models; only with `init_lora_weights` true/false and without DoRA.' },
  { name: 'target_parameters', owner: L, saved: true, types: ['array', 'null'], items: ['string'], default: null,
    doc: 'Parameter names (not modules) to adapt with LoRA, for models that use bare nn.Parameter instead of nn.Linear (e.g. MoE experts: `["feed_forward.experts.down_proj"]`). Must be a list.' },
  { name: 'use_bdlora', owner: L, saved: true, types: ['object', 'null'], default: null,
    doc: 'BD-LoRA (Block-Diagonal LoRA) settings: block-diagonal A or B factors for faster multi-LoRA serving.' },
  { name: 'arrow_config', owner: L, saved: true, types: ['object', 'null'], default: null,
    doc: 'Settings of Arrow routing (and GenKnowSub), which combines several trained LoRA adapters per token.' },
  { name: 'ensure_weight_tying', owner: L, saved: true, types: ['boolean'], default: false,
    doc: 'Keep tied weights tied after PEFT wraps the model: adapters (or trainable copies) added to tied layers, e.g. lm_head and embed_tokens, are tied too. Applies to `modules_to_save`, `target_modules` and `trainable_token_indices`.' },
];

export const LORA_FIELD_NAMES: readonly string[] = LORA_CONFIG_FIELDS.map((f) => f.name);

export function loraField(name: string): LoraFieldSpec | undefined {
  return LORA_CONFIG_FIELDS.find((f) => f.name === name);
}

/** PEFT's default of a field (undefined for an unknown key). */
export function defaultOf(name: string): JsonValue | undefined {
  return loraField(name)?.default;
}
