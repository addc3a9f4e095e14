// The one path from a recipe to a memory estimate, shared by `peft-studio estimate`, the editor's CodeLens and the
// trainer: the same shape (batch, accumulation, eval session) and the same sequence length (the longest tokenized example).
import * as fs from 'node:fs';
import { dataTokenizer, loadTokenizer } from '../hf/tokenizer';
import type { ModelInventory } from '../hf/types';
import type { LoraConfig } from '../peft/loraConfig';
import { type LoraBiasMode, trainableBiases } from '../models/trainableBias';
import { copiesMemoryShape, savedModuleParams } from '../peft/savedModules';
import type { QuantizationConfig } from '../quant/blockQuant';
import { buildDataset } from '../train/data/dataset';
import { isDataFormat, type DataTokenizer } from '../train/data/formats';
import { readJsonl } from '../train/data/jsonl';
import type { DeviceName, LoraTarget } from '../train/engineApi';
import type { RecipeSummary } from '../validate/types';
import { estimateMemory, type MemoryEstimate, type MemoryOptions } from './estimate';

/** What the estimate needs from a run besides the model and targets. */
export interface RunShape {
  batchSize: number;
  gradAccum: number;
  fp16: boolean;
  withEval: boolean;
  /** Tokens per row of the longest micro-batch: the longest example after truncation (max_length when packed). */
  seqLen: number;
  /** The recipe's `quantization:` (a 4-bit base), or null. */
  quantization?: QuantizationConfig | null;
}

export function memoryOptionsFor(shape: RunShape, device: DeviceName, loraDropout: number, variants?: PeftVariants): MemoryOptions {
  return {
    ...(variants !== undefined ? variantOptions(variants) : {}),
    batchSize: shape.batchSize,
    seqLen: shape.seqLen,
    device,
    precision: shape.fp16 && device !== 'cpu' ? 'fp16' : 'fp32',
    gradAccum: shape.gradAccum,
    loraDropout,
    withEval: shape.withEval,
    quantization: shape.quantization ?? null,
  };
}

/** The LoraConfig choices that add trainable tensors beside A and B. */
export interface PeftVariants {
  inventory: ModelInventory;
  targets: LoraTarget[];
  useDora: boolean;
  bias: LoraBiasMode;
  loraBias?: boolean;
}

/** DoRA magnitudes ([out] per target) and trained biases, as the trainer allocates them. */
function variantOptions(v: PeftVariants): Pick<MemoryOptions, 'extraTrainable' | 'dora'> {
  const perOut = (v.useDora ? 1 : 0) + (v.loraBias === true ? 1 : 0);
  const magnitudes = perOut * v.targets.reduce((a, t) => a + t.module.outFeatures, 0);
  const biases = trainableBiases(v.inventory, v.targets, v.bias).reduce((a, b) => a + b.shape.reduce((x, y) => x * y, 1), 0);
  return { extraTrainable: magnitudes + biases, dora: v.useDora };
}

/** PEFT Studio's defaults where no recipe is known (those of peft-train.yaml). */
export const DEFAULT_BATCH_SIZE = 4;
export const DEFAULT_MAX_LENGTH = 512;

const longestCache = new Map<string, number | null>();

/**
 * Examples read per data file: tokenizing is synchronous and the CodeLens runs on the editor's extension host, so a
 * huge file is sampled (its first examples); the trainer's own check before a run uses every example.
 */
export const LONGEST_SAMPLE = 1000;

/**
 * The longest row the trainer would build from the recipe's data (train and eval, tokenized as the trainer does,
 * truncated to max_length; max_length when packed; the first LONGEST_SAMPLE examples of each file), or null when
 * the data or tokenizer cannot be read.
 * Cached by file sizes and times, so the editor can ask on every refresh.
 */
export async function longestSequence(recipe: RecipeSummary, modelDir: string, inventory: ModelInventory): Promise<number | null> {
  if (recipe.packing) return recipe.maxLength;
  const format = recipe.format === 'auto' || isDataFormat(recipe.format) ? recipe.format : null;
  if (format === null || recipe.datasets.length === 0) return null;
  let key: string;
  try {
    key = JSON.stringify([recipe.datasets.map((f) => [f, fs.statSync(f).size, fs.statSync(f).mtimeMs]), format, recipe.maxLength, recipe.trainOnPrompt, modelDir]);
  } catch {
    return null;
  }
  if (longestCache.has(key)) return longestCache.get(key)!;
  let longest: number | null = null;
  try {
    const tokenizer: DataTokenizer = await loadTokenizer(modelDir).then(dataTokenizer, (e: unknown): DataTokenizer => {
      if (format !== 'tokenized') throw e;
      return { encode: () => [], applyChatTemplate: () => '', eosTokenId: null, padTokenId: null };
    });
    for (const file of recipe.datasets) {
      const records = readJsonl(file).slice(0, LONGEST_SAMPLE);
      const d = buildDataset(records, { file, format, maxLength: recipe.maxLength, packing: false, trainOnPrompt: recipe.trainOnPrompt, tokenizer, vocabSize: inventory.spec.vocabSize });
      for (const s of d.sequences) longest = Math.max(longest ?? 0, s.inputIds.length);
    }
  } catch {
    longest = null;
  }
  if (longestCache.size > 64) longestCache.clear();
  longestCache.set(key, longest);
  return longest;
}

export interface RecipeEstimate {
  estimate: MemoryEstimate;
  options: MemoryOptions;
  /** Where seqLen came from, for the CLI and hovers. */
  seqLenFrom: 'data' | 'max_length' | 'option';
}

/**
 * The estimate for an adapter config under a recipe (or PEFT Studio's defaults without one). The CLI and the
 * CodeLens call this with the same RecipeSummary (summarizeRecipe of the peft-train.yaml), so they agree.
 */
export async function estimateForRecipe(args: {
  recipe: RecipeSummary | null;
  loraConfig: LoraConfig;
  inventory: ModelInventory;
  targets: LoraTarget[];
  modelDir: string | null;
  device: DeviceName;
  overrides?: { batchSize?: number; seqLen?: number };
}): Promise<RecipeEstimate> {
  const r = args.recipe;
  const maxLength = r?.maxLength ?? DEFAULT_MAX_LENGTH;
  let seqLen = args.overrides?.seqLen;
  let seqLenFrom: RecipeEstimate['seqLenFrom'] = 'option';
  if (seqLen === undefined) {
    const fromData = r !== null && args.modelDir !== null ? await longestSequence(r, args.modelDir, args.inventory) : null;
    seqLen = fromData ?? maxLength;
    seqLenFrom = fromData !== null ? 'data' : 'max_length';
  }
  const shape: RunShape = {
    batchSize: args.overrides?.batchSize ?? r?.batchSize ?? DEFAULT_BATCH_SIZE,
    gradAccum: r?.gradAccum ?? 1,
    fp16: r?.fp16 ?? false,
    withEval: r?.hasEval ?? false,
    seqLen,
    quantization: r?.quantization ?? null,
  };
  const options = memoryOptionsFor(shape, args.device, args.loraConfig.lora_dropout, {
    inventory: args.inventory, targets: args.targets, useDora: args.loraConfig.use_dora, bias: args.loraConfig.bias, loraBias: args.loraConfig.lora_bias,
  });
  let copies: MemoryOptions['copies'];
  try {
    copies = copiesMemoryShape(savedModuleParams(args.loraConfig, args.inventory, new Set(args.targets.map((t) => t.module.name))), args.inventory);
  } catch {
    copies = undefined; // a modules_to_save the trainer refuses is the validator's business; estimate without it
  }
  if (copies !== undefined) options.copies = copies;
  return { estimate: estimateMemory(args.inventory, args.targets, options), options, seqLenFrom };
}
