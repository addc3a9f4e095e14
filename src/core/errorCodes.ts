// Every code a PeftStudioError (InputError, UsageError, GraphError) can carry: one kebab-case vocabulary, by area.
// Tests, the CLI and the editor match on these strings, so a code is renamed only together with its users.

/*
 * Style (docs/ARCHITECTURE.md, "Errors"): lower-case kebab-case, `<area>-<what>` where an area has several codes
 * ('generate-no-weights', 'safetensors-truncated'); no dots, underscores or camelCase. Add a new code to its area's list.
 */

/** General: command-line usage, files, sizes, devices, memory. */
export const GENERAL_CODES = [
  'bad-device', 'bad-json', 'bad-size', 'device-unavailable', 'file-not-found', 'out-of-memory', 'path-escape',
  'placement', 'usage', 'json-syntax', 'json-too-deep',
] as const;

/** File-system failures (util/fsErrors.ts): `fs-` and the lower-case errno name. */
export const FS_CODES = [
  'fs-enospc', 'fs-edquot', 'fs-eacces', 'fs-eperm', 'fs-erofs', 'fs-enotdir', 'fs-eisdir', 'fs-eexist', 'fs-enametoolong',
  'fs-emfile', 'fs-enfile', 'fs-eio', 'fs-enxio', 'fs-enodev', 'fs-eloop',
] as const;

/** The adapter server and the adapter version registry. */
export const SERVE_CODES = [
  'registry-integrity', 'registry-manifest', 'registry-name', 'registry-not-adapter', 'registry-rollback', 'registry-state', 'registry-version', 'registry-weight', 'serve-adapter', 'serve-adapter-in-route', 'serve-name', 'serve-name-taken', 'serve-path', 'serve-path-not-allowed', 'serve-registered', 'serve-remote', 'serve-request', 'serve-route', 'serve-unknown-model', 'serve-unreachable',
] as const;

/** The Playground's saved comparisons. */
export const PLAYGROUND_CODES = ['playground-comparison'] as const;

/** Training recipes, run folders, resume and sweeps. */
export const RECIPE_CODES = [
  'recipe-missing', 'recipe-missing-file', 'recipe-unknown-key', 'recipe-unreadable', 'recipe-value', 'recipe-yaml',
  'resume-bad-run', 'resume-data-changed', 'resume-mismatch', 'resume-missing', 'resume-no-checkpoint',
  'resume-no-run', 'resume-optimizer', 'run-busy', 'run-exists', 'run-info-json', 'run-name', 'scaffold-exists', 'sweep-adapter-config',
  'sweep-changed', 'sweep-empty', 'sweep-foreign-run', 'sweep-missing', 'sweep-trials-grid', 'train-not-a-recipe',
] as const;

/** Training setup and the training engine. */
export const TRAIN_CODES = [
  'engine-bad-batch', 'engine-bad-dropout', 'engine-bad-label', 'engine-bad-lr', 'engine-bad-token', 'engine-fp16',
  'engine-no-batch', 'engine-no-graph-folder', 'engine-no-targets', 'engine-output', 'engine-session',
  'engine-state', 'engine-state-missing', 'engine-state-shape', 'engine-unsupported-target', 'max-length',
  'no-targets', 'non-finite', 'sliding-window', 'trainer-unsupported',
  'quant-bits', 'quant-cache', 'quant-unsupported-model',
] as const;

/** Data sets (training data and the inspector). */
export const DATA_CODES = [
  'data-empty', 'data-field', 'data-format', 'data-json', 'data-line-too-long', 'data-missing', 'data-mixed', 'data-no-labels',
  'data-token', 'inspect-index', 'inspect-line', 'inspect-no-eval',
] as const;

/** Base models: folders, config.json, the hub, weights, checkpoints, tokenizers, fixtures. */
export const MODEL_CODES = [
  'bad-safetensors-index', 'checkpoint-damaged', 'checkpoint-incomplete', 'checkpoint-index-json',
  'checkpoint-index-weight-map', 'checkpoint-no-tensor', 'checkpoint-no-weights', 'checkpoint-not-found',
  'checkpoint-shard-missing', 'checkpoint-shard-outside', 'checkpoint-tensor-missing', 'fixture-arch',
  'fixture-config', 'fixture-dtype', 'fixture-size', 'hub-bad-id', 'hub-bad-response', 'hub-download-failed',
  'hub-file-not-found', 'hub-gated', 'hub-http', 'hub-missing-shard', 'hub-no-config', 'hub-no-safetensors',
  'hub-not-found', 'hub-offline-missing', 'hub-revision-conflict', 'hub-revision-not-found', 'hub-unauthorized',
  'hub-unreachable', 'model-config-architecture', 'model-config-json', 'model-config-model-type',
  'model-config-not-object', 'model-config-rope', 'model-config-value', 'model-load', 'model-missing-tensor',
  'model-missing-weight', 'model-no-config', 'model-not-a-folder', 'model-not-found', 'model-not-local',
  'model-shape-mismatch', 'model-unsupported', 'model-weight-dtype', 'model-weight-shape', 'safetensors-bad-entry',
  'safetensors-bad-metadata', 'safetensors-bad-offsets', 'safetensors-bad-shape', 'safetensors-byte-length',
  'safetensors-duplicate-key', 'safetensors-header-json', 'safetensors-header-start', 'safetensors-header-too-large',
  'safetensors-header-utf8', 'safetensors-misaligned', 'safetensors-open', 'safetensors-overflow',
  'safetensors-reserved-name', 'safetensors-too-small', 'safetensors-trailing-bytes', 'safetensors-truncated',
  'safetensors-unknown-dtype', 'safetensors-unsupported-dtype', 'tokenizer-chat-messages',
  'tokenizer-chat-template-choice', 'tokenizer-chat-template-limit', 'tokenizer-chat-template-render', 'tokenizer-chat-template-syntax',
  'tokenizer-json', 'tokenizer-load', 'tokenizer-missing', 'tokenizer-no-chat-template', 'tokenizer-read', 'tokenizer-regex',
  'tokenizer-special-token',
] as const;

/** Adapters: adapter_config.json (plus the lora-config-<rule> codes of LORA_RULE_CODES), targets, weights, initial weights. */
export const ADAPTER_CODES = [
  'adapter-config-json', 'adapter-config-not-found', 'adapter-config-read', 'adapter-extra-tensor',
  'adapter-missing-tensor', 'adapter-no-config', 'adapter-no-weights', 'adapter-not-lora', 'adapter-shape',
  'adapter-tied-head', 'adapter-unsupported', 'init-adapter-extra', 'init-adapter-key', 'init-adapter-missing',
  'init-adapter-shape', 'lora-bad-rank', 'lora-config-not-object', 'lora-config-type', 'lora-duplicate-target',
  'lora-init-shape', 'lora-init-unknown', 'lora-init-unsupported', 'lora-unused-target', 'peft-all-excluded',
  'peft-layer-replication', 'peft-lora-bias-embedding', 'peft-no-default-targets', 'peft-no-targets', 'peft-regex',
  'peft-target-parameters', 'peft-targets-not-found', 'peft-unsupported-target',
] as const;

/** Generation. */
export const GENERATE_CODES = [
  'generate-batch-adapters', 'generate-busy', 'generate-config-json', 'generate-duplicate-module', 'generate-family',
  'generate-lora-module', 'generate-max-new-tokens', 'generate-messages-file', 'generate-no-tokenizer',
  'generate-no-weights', 'generate-prompt', 'generate-prompt-too-long', 'generate-sampling', 'generate-stop',
  'generate-token-id', 'generate-unknown-adapter', 'generate-unsupported',
  'generate-continuous',
] as const;

/** Export: GGUF and merged models. */
export const EXPORT_CODES = [
  'gguf-adapter-target', 'gguf-arch', 'gguf-config', 'gguf-no-tokenizer', 'gguf-no-weights', 'gguf-permute', 'gguf-tokenizer-json',
  'gguf-tokenizer-kind', 'gguf-unknown-tensor', 'merge-no-weights', 'merge-out-is-model', 'merge-out-not-empty',
] as const;

/** Graph compiler and onnxruntime (mostly bugs, not bad input). */
export const GRAPH_CODES = [
  'graph', 'graph-feed', 'graph-fetch', 'ort-session',
] as const;

/**
 * The codes of the LoraConfig rules (src/core/peft/loraRules.ts): the validator reports them as they are, the
 * trainer's parser throws InputError(`lora-config-${code}`) for the errors among them.
 */
export const LORA_RULE_CODES = [
  'out-of-range', 'dropout-one', 'bad-enum', 'task-type', 'layers-with-regex', 'pattern-without-layers', 'dora-megatron',
  'loftq-without-config', 'ignored-config', 'lora-ga-without-config', 'alora-task-type', 'lora-bias-dora', 'lora-bias-init',
] as const;

export type LoraRuleCode = (typeof LORA_RULE_CODES)[number];

export type ErrorCode =
  | (typeof GENERAL_CODES)[number]
  | (typeof FS_CODES)[number]
  | (typeof PLAYGROUND_CODES)[number]
  | (typeof SERVE_CODES)[number]
  | (typeof RECIPE_CODES)[number]
  | (typeof TRAIN_CODES)[number]
  | (typeof DATA_CODES)[number]
  | (typeof MODEL_CODES)[number]
  | (typeof ADAPTER_CODES)[number]
  | `lora-config-${LoraRuleCode}`
  | (typeof GENERATE_CODES)[number]
  | (typeof EXPORT_CODES)[number]
  | (typeof GRAPH_CODES)[number];
