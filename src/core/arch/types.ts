// The architecture descriptor: everything family-specific about a causal LM (config parsing and refusals, module
// layout, forward builder, named_modules extras, memory labels, GGUF names), looked up by config.json model_type.
import type { GgufKv } from '../export/gguf/writer';
import type { ModelSpec, ModuleInfo } from '../hf/types';
import type { ActivationDtype, ComputeDtype, FinalHidden, ModelInputs, VarBuilder } from '../models/common';
import type { LoraHook } from '../models/lora';
import type { Json, Reader } from './configReader';

/** transformers' config class defaults for one model_type (used where config.json omits a key). */
export interface ConfigDefaults {
  vocab: number; hidden: number; intermediate: number | null; layers: number; heads: number; kvHeads: number | null;
  maxPos: number; eps: number; bos: number | null; eos: number | null; tie: boolean; act: string;
  /** Config classes with an explicit head_dim default (Qwen3Config: 128); otherwise hidden / heads. */
  headDim?: number;
  /** Config classes with an original_max_position_embeddings attribute (Phi3Config: 4096). */
  originalMaxPos?: number;
}

export interface ModelTypeInfo {
  architectures: string[];
  defaults: ConfigDefaults;
}

/** What a descriptor's parser receives: the raw JSON, a typed reader, and the fields every family shares. */
export interface ConfigContext {
  json: Json;
  r: Reader;
  file: string;
  modelType: string;
  architectures: string[];
  torchDtype: string | null;
  d: ConfigDefaults;
}

/** Modules in named_modules() order and parameters in named_parameters() order (shapes as in the checkpoint). */
export interface Layout {
  modules: ModuleInfo[];
  parameters: { name: string; shape: number[] }[];
}

/** How a checkpoint tensor changes on its way into GGUF (see export/gguf/arch.ts). */
export type TensorTransform =
  | { kind: 'none' }
  | { kind: 'transpose' }
  | { kind: 'permute'; heads: number }
  /** (w + add) · mul element-wise: Gemma's RMSNorm (1 + w) stored as llama.cpp's plain norm weight, a folded q scale. */
  | { kind: 'affine'; add: number; mul: number };

export interface GgufTensorTarget {
  name: string;
  transform: TensorTransform;
}

/** llama.cpp's view of the family: architecture name per model_type, `<arch>.*` keys and tensor names. */
export interface GgufNames {
  /** model_type → llama.cpp architecture (absent: no GGUF export). */
  archOf: Readonly<Record<string, string>>;
  metadata(spec: ModelSpec, arch: string): GgufKv[];
  /** The GGUF tensor for a checkpoint tensor; null = not exported (buffers); undefined = unknown. */
  tensorFor(hfName: string, spec: ModelSpec, arch: string): GgufTensorTarget | null | undefined;
}

export interface ArchDescriptor {
  /** Builder family name (ModelSpec.family) and the name messages use (GPT-2, Llama, ...). */
  family: string;
  displayName: string;
  /** model_type → accepted architectures and config class defaults. */
  modelTypes: Readonly<Record<string, ModelTypeInfo>>;
  /** config.json → ModelSpec (refusing what the family cannot describe). */
  parseConfig(c: ConfigContext): ModelSpec;
  /** Prefix of the base model inside *ForCausalLM ('model.', 'transformer.') and of its decoder layers. */
  basePrefix: string;
  layersPrefix: string;
  layout(spec: ModelSpec): Layout;
  /** Final hidden states and head weight (the forward pass), for training and generation graphs. */
  hidden(spec: ModelSpec, vb: VarBuilder, inputs: ModelInputs, lora: LoraHook, dtype: ComputeDtype, act: ActivationDtype): FinalHidden;
  /** Learned absolute positions (int64 position ids into an embedding) instead of RoPE (float positions). */
  learnedPositions: boolean;
  /** nn.Embedding's padding_idx of the token embeddings (embedding LoRA gives that row no gradient); default config.pad_token_id. */
  paddingIdx?: (s: ModelSpec) => number | null;
  /** KV heads of the generation cache. */
  cacheKvHeads(spec: ModelSpec): number;
  /** Name of the norm epsilon key and the family-specific part of `inspect`'s hyper-parameter line. */
  normEpsKey: string;
  inspectExtra(spec: ModelSpec): string;
  /** named_modules(): class names of containers by last name part, and parameter-less leaves after a module. */
  containerClasses: Readonly<Record<string, string>>;
  modulesAfter(name: string): string[];
  /** Label of the MLP activation intermediates in the memory estimate. */
  mlpLabel: string;
  gguf: GgufNames;
}
