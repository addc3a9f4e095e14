// The contract between the trainer (core/train) and the compiled training step (core/graph + core/models):
// the trainer feeds batches and a learning rate, the engine runs forward + backward + clip + AdamW in ORT.
import type { ModelInventory, ModuleInfo } from '../hf/types';
import type { BiasParam } from '../models/trainableBias';
import type { SavedModuleParam } from '../peft/savedModules';
import type { QuantizationConfig } from '../quant/blockQuant';

/** One adapted module, as PEFT's matching rules resolved it (core/peft). */
export interface LoraTarget {
  module: ModuleInfo;
  r: number;
  alpha: number;
  /** alpha / r, or alpha / sqrt(r) with use_rslora. */
  scaling: number;
}

export type DeviceName = 'cpu' | 'webgpu' | 'cuda';

export interface OptimizerOptions {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 0 disables clipping. */
  maxGradNorm: number;
}

export interface EngineOptions {
  inventory: ModelInventory;
  targets: LoraTarget[];
  loraDropout: number;
  /** modules_to_save: trainable full copies (trained after the LoRA tensors, saved under their PEFT keys). */
  copies?: SavedModuleParam[];
  optimizer: OptimizerOptions;
  device: DeviceName;
  /** fp32 everywhere, or fp16 base weights/activations with fp32 LoRA master weights (GPU only). */
  precision: 'fp32' | 'fp16';
  /** Folder for compiled graphs, keyed by a hash of what they depend on. */
  cacheDir: string;
  /** Hints for static shapes; the graph may keep batch and sequence symbolic. */
  maxBatchSize?: number;
  maxSeqLen?: number;
  /** ORT intra-op threads (default: all cores). */
  threads?: number;
  /** use_dora: a magnitude vector `…lora_magnitude_vector` [out] per target trains beside A and B. */
  dora?: boolean;
  /** Base biases that train (LoraConfig bias: lora_only / all; models/trainableBias.ts). */
  biases?: BiasParam[];
  /** lora_bias: `…lora_B.bias` [out] per target trains (zeros at PEFT's init). */
  loraBias?: boolean;
  /** A 4-bit base (recipe `quantization:`); null/absent = full precision. */
  quantization?: QuantizationConfig | null;
}

/**
 * One micro-batch, HF style: `labels` sit at the same positions as `inputIds` (the engine shifts them:
 * logits at t predict labels at t+1), -100 = ignored. Row-major [batchSize, seqLen].
 */
export interface Batch {
  batchSize: number;
  seqLen: number;
  inputIds: BigInt64Array;
  labels: BigInt64Array;
  /** 1 = real token, 0 = padding (right padding). */
  attentionMask: BigInt64Array;
  /** Position ids per token (restart at 0 per packed sequence); default 0..seqLen-1 per row. */
  positionIds?: BigInt64Array;
}

export interface StepResult {
  /** Mean cross-entropy over all label tokens of all micro-batches (before the update). */
  loss: number;
  /** Global L2 norm of the LoRA gradients before clipping. */
  gradNorm: number;
  /** Number of label tokens (not -100 after the shift) in the step. */
  labelTokens: number;
  /** Number of input tokens (attention mask = 1). */
  inputTokens: number;
  /** fp16 only: the gradients held inf/nan, so the update was skipped (GradScaler) and gradNorm is not finite. */
  skipped?: boolean;
  /** fp16 only: the loss scale this step used. */
  lossScale?: number;
}

/** Trainable state, keyed by PEFT adapter key (base_model.model.<module>.lora_A.weight). */
export interface EngineState {
  params: Map<string, Float32Array>;
  shapes: Map<string, number[]>;
  /** AdamW first and second moments, same keys. */
  expAvg: Map<string, Float32Array>;
  expAvgSq: Map<string, Float32Array>;
  /** Optimizer steps taken (AdamW bias correction uses step + 1 for the next one). */
  step: number;
  /** fp16 only: GradScaler's state (scale, good steps since it last changed); absent = initial (2^16, 0). */
  lossScale?: { scale: number; growthTracker: number };
}

export interface TrainEngine {
  /** PEFT adapter keys of all trainable tensors, in a fixed order. */
  readonly parameterNames: readonly string[];
  readonly device: DeviceName;
  getState(): Promise<EngineState>;
  setState(state: EngineState): Promise<void>;
  /** One optimizer step over the micro-batches (gradient accumulation, token-weighted). */
  step(microBatches: Batch[], lr: number, dropoutSeed: number): Promise<StepResult>;
  /** Summed loss and label-token count of a batch without updating anything. */
  evalLoss(batch: Batch): Promise<{ lossSum: number; labelTokens: number }>;
  dispose(): Promise<void>;
}
