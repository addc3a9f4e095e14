// Everything a run needs before its first step: the recipe, the base model and its LoRA targets, the tokenized
// data, the device. Collaborators come in through TrainerDeps so that the loop is one code path for CLI and worker.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { InputError, errorMessage, withFile, type ErrorCode } from '../errors';
import type { ModelInventory } from '../hf/types';
import { openCheckpoint } from '../safetensors/checkpoint';
import { parseLoraConfig, type LoraConfig, type LoraConfigWarning } from '../peft/loraConfig';
import { savedModuleParams, tokenDeltaParams, type SavedModuleParam } from '../peft/savedModules';
import type { DeviceRequest } from '../runtime/device';
import type { DataTokenizer } from './data/formats';
import { datasetNotes, loadDataset, type DatasetOptions, type LoadedDataset } from './data/dataset';
import type { DeviceName, EngineOptions, LoraTarget, TrainEngine } from './engineApi';
import { type BiasParam, trainableBiases } from '../models/trainableBias';
import { parseRecipe, type Recipe } from './recipe';
import { parseJsonText } from '../util/safeJson';

export interface TrainerDeps {
  /** Local folder of a model given as a folder or a hub id (downloads when needed). */
  resolveModel(pathOrId: string, signal?: AbortSignal, onProgress?: (p: DownloadProgress) => void): Promise<string>;
  loadModel(dir: string): ModelInventory;
  /**
   * PEFT's matching rules: the adapted modules with r, alpha and scaling, and target_modules as PEFT saves it
   * (a null config value resolved to the model type's defaults).
   */
  resolveTargets(config: LoraConfig, inventory: ModelInventory): { targets: LoraTarget[]; targetModules: string[] | string; unmatched?: string[] };
  loadTokenizer(dir: string): Promise<DataTokenizer>;
  chooseDevice(request: DeviceRequest): Promise<{ device: DeviceName; reason: string }>;
  createEngine(opts: EngineOptions): Promise<TrainEngine>;
  /** Host memory the run may use, in bytes (MemAvailable); checked against the estimate on the CPU. */
  availableMemory(): number;
}

export interface LogNote {
  level: 'info' | 'warning';
  message: string;
}

export interface PreparedRun {
  recipe: Recipe;
  modelDir: string;
  inventory: ModelInventory;
  loraConfig: LoraConfig;
  targets: LoraTarget[];
  /** modules_to_save copies and trainable_token_indices deltas, after the LoRA tensors (empty without). */
  copies: SavedModuleParam[];
  targetModules: string[] | string;
  /** Base biases that train (LoraConfig bias: lora_only / all). */
  biases: BiasParam[];
  tokenizer: DataTokenizer;
  train: LoadedDataset;
  eval: LoadedDataset | null;
  device: DeviceName;
  deviceReason: string;
  notes: LogNote[];
}

export function readRecipeFile(configFile: string): Recipe {
  let text: string;
  try {
    text = readFileSync(configFile, 'utf8');
  } catch (e) {
    throw new InputError('recipe-missing-file', `cannot read the training recipe: ${errorMessage(e)}`, { file: configFile });
  }
  return parseRecipe(text, configFile);
}

export function readLoraConfig(file: string, warnings: LoraConfigWarning[]): LoraConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError('adapter-config-read', `cannot read adapter_config.json: ${errorMessage(e)}`, { file });
  }
  return parseLoraConfig(parseJsonText(text, file, 'adapter_config.json', 0, 'adapter-config-read'), file, { warnings });
}

/** A hub download's progress, as resolveModel reports it (bytes of `file` so far, of `total` when known). */
export interface DownloadProgress {
  file: string;
  bytes: number;
  total: number | null;
}

export async function prepareRun(
  recipe: Recipe,
  deviceOverride: string | undefined,
  deps: TrainerDeps,
  signal?: AbortSignal,
  onDownload?: (p: DownloadProgress) => void,
): Promise<PreparedRun> {
  const notes: LogNote[] = [];
  const modelDir = await deps.resolveModel(recipe.base_model, signal, onDownload);
  const inventory = deps.loadModel(modelDir);
  checkModelSupport(inventory, modelDir, notes);
  const warnings: LoraConfigWarning[] = [];
  const loraConfig = readLoraConfig(recipe.adapter_config, warnings);
  for (const w of warnings) notes.push({ level: 'warning', message: `${recipe.adapter_config}: ${w.key}: ${w.message}` });
  const unsupported: [boolean, string][] = [
    [loraConfig.layer_replication !== null, 'layer_replication'],
    [loraConfig.target_parameters !== null && loraConfig.target_parameters.length > 0, 'target_parameters'],
  ];
  for (const [on, what] of unsupported) {
    if (on) throw new InputError('trainer-unsupported', `${what} is not supported by the trainer yet`, { file: recipe.adapter_config, hint: 'LoRA and DoRA (with rslora, rank/alpha patterns, dropout, bias: none / lora_only / all, lora_bias) are supported' });
  }
  const { targets, targetModules, unmatched } = withFile(recipe.adapter_config, () => deps.resolveTargets(loraConfig, inventory));
  // PEFT raises only when nothing matches; an entry that matches nothing (a typo beside valid ones) trains silently there.
  for (const entry of unmatched ?? []) {
    notes.push({ level: 'warning', message: `${recipe.adapter_config}: target_modules entry "${entry}" matches no module of the model; training the others (\`peft-studio validate\` suggests names)` });
  }
  if (targets.length === 0) {
    throw new InputError('no-targets', 'adapter_config.json targets no module of the model', { file: recipe.adapter_config });
  }
  const adapted = new Set(targets.map((t) => t.module.name));
  if (recipe.quantization !== null && loraConfig.use_dora) {
    throw new InputError('quant-unsupported-model', 'use_dora on a 4-bit base is not supported yet: the DoRA norm needs the full-precision weight', {
      file: recipe.file, hint: 'Set quantization: null, or use_dora: false in adapter_config.json',
    });
  }
  const embedding = targets.find((t) => t.module.kind === 'embedding');
  const linearOnly = loraConfig.use_dora ? 'use_dora' : loraConfig.lora_bias ? 'lora_bias' : null;
  if (embedding !== undefined && linearOnly !== null) {
    throw new InputError('trainer-unsupported', `${linearOnly} on an embedding (${embedding.module.name}) is not supported yet: it trains on Linear and Conv1D layers here`, {
      file: recipe.adapter_config, hint: `Leave the embedding out of target_modules, or set ${linearOnly}: false`,
    });
  }
  if (loraConfig.ensure_weight_tying && inventory.spec.tieWordEmbeddings && targets.some((t) => t.module.kind === 'embedding')) {
    throw new InputError('trainer-unsupported', 'ensure_weight_tying with LoRA on a tied embedding (PEFT then adapts lm_head with the same LoRA) is not supported yet', {
      file: recipe.adapter_config, hint: 'Set ensure_weight_tying to false: the embedding LoRA then leaves lm_head as it is, as PEFT does by default',
    });
  }
  const copies = withFile(recipe.adapter_config, () => [...savedModuleParams(loraConfig, inventory, adapted), ...tokenDeltaParams(loraConfig, inventory, adapted)]);
  const { tokenizer, train, eval: evalData } = await loadRecipeData(recipe, modelDir, inventory, deps, notes, loadDataset);
  checkSequenceLengths(recipe, inventory, [train, evalData], notes);
  const request = (deviceOverride ?? recipe.device) as DeviceRequest;
  if (!['auto', 'cpu', 'webgpu', 'cuda'].includes(request)) {
    throw new InputError('bad-device', `unknown device "${request}"`, { hint: 'Use auto, cpu, webgpu or cuda' });
  }
  const choice = await deps.chooseDevice(request);
  if (recipe.training.fp16 && choice.device === 'cpu') notes.push({ level: 'warning', message: 'training.fp16 is ignored on the CPU (onnxruntime CPU computes in fp32)' });
  const biases = trainableBiases(inventory, targets, loraConfig.bias);
  return { recipe, modelDir, inventory, loraConfig, targets, copies, targetModules, biases, tokenizer, train, eval: evalData, device: choice.device, deviceReason: choice.reason, notes };
}

/**
 * The recipe's tokenizer and data sets, read by `load` with the recipe's options (the trainer's loadDataset, or the
 * inspector's non-refusing prepareDataset): the one place that turns dataset.* settings into data-pipeline options.
 */
export async function loadRecipeData<D extends LoadedDataset>(
  recipe: Recipe,
  modelDir: string,
  inventory: ModelInventory,
  deps: Pick<TrainerDeps, 'loadTokenizer'>,
  notes: LogNote[],
  load: (opts: DatasetOptions) => D,
): Promise<{ tokenizer: DataTokenizer; train: D; eval: D | null }> {
  const tokenizer = await loadDataTokenizer(modelDir, recipe, inventory, deps, notes);
  const dataOpts = {
    maxLength: recipe.dataset.max_length,
    packing: recipe.dataset.packing,
    trainOnPrompt: recipe.dataset.train_on_prompt,
    format: recipe.dataset.format,
    tokenizer,
    vocabSize: inventory.spec.vocabSize,
  };
  const train = load({ ...dataOpts, file: recipe.dataset.train });
  notes.push(...datasetNotes(train, recipe.dataset.max_length, 'train'));
  let evalData: D | null = null;
  if (recipe.dataset.eval !== null) {
    // Eval rows are never packed: each example's loss is measured on its own.
    evalData = load({ ...dataOpts, packing: false, file: recipe.dataset.eval });
    notes.push(...datasetNotes(evalData, recipe.dataset.max_length, 'eval'));
  }
  return { tokenizer, train, eval: evalData };
}

/**
 * config.json settings the graph builders do not compute are refused (InputError naming config.json); model-internal
 * dropouts are a warning: the trainer runs the base model as model.eval() would, with lora_dropout only.
 */
function checkModelSupport(inventory: ModelInventory, modelDir: string, notes: LogNote[]): void {
  // read from config.json alone (validate and count accept that): training needs the weights, refused here, before a run folder
  if (inventory.source === 'config') openCheckpoint(modelDir);
  const spec = inventory.spec;
  const unsupported = spec.unsupportedForTraining ?? [];
  if (unsupported.length > 0) {
    throw new InputError('model-unsupported', `the trainer does not implement ${unsupported.join(', ')}`, {
      file: join(modelDir, 'config.json'), hint: 'PEFT Studio trains the standard Llama/Mistral/Qwen2 (silu) and GPT-2 (gelu_new) computations',
    });
  }
  const drop = Object.entries(spec.internalDropout ?? {});
  if (drop.length > 0) {
    notes.push({ level: 'warning', message: `config.json sets ${drop.map(([k, p]) => `${k} ${p}`).join(', ')}: PEFT Studio trains without the model's internal dropout (only lora_dropout applies)` });
  }
}

/**
 * max_length is a truncation limit, not a shape (as in HF/TRL): a max_length above max_position_embeddings is only a
 * warning while every sequence fits; a longer sequence is an error (RoPE models would run but past their context).
 */
function checkSequenceLengths(recipe: Recipe, inventory: ModelInventory, sets: (LoadedDataset | null)[], notes: LogNote[]): void {
  const maxPos = inventory.spec.maxPositionEmbeddings;
  const longest = sets.reduce((m, d) => d === null ? m : d.sequences.reduce((n, q) => Math.max(n, q.inputIds.length), m), 0);
  if (maxPos <= 0 || recipe.dataset.max_length <= maxPos) return;
  if (longest > maxPos) {
    throw new InputError('max-length', `a sequence has ${longest} tokens but the model's max_position_embeddings is ${maxPos} (dataset.max_length is ${recipe.dataset.max_length})`, {
      file: recipe.file,
      hint: `Set dataset.max_length to at most ${maxPos}`,
    });
  }
  notes.push({ level: 'warning', message: `dataset.max_length ${recipe.dataset.max_length} exceeds the model's max_position_embeddings ${maxPos}; every sequence fits (longest ${longest} tokens)` });
}

/**
 * The model's tokenizer. A model folder without tokenizer.json (or with one this runtime cannot build) still trains
 * `tokenized` data (HF's Trainer needs no tokenizer for input_ids): padding then uses config.json's pad/eos id, and a
 * text format fails with the original error when it first encodes.
 */
/** What loadTokenizer throws when the folder's tokenizer is missing or cannot be built. */
const TOKENIZER_LOAD_ERRORS: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['tokenizer-missing', 'tokenizer-read', 'tokenizer-json', 'tokenizer-load', 'tokenizer-special-token', 'tokenizer-chat-template-choice']);

async function loadDataTokenizer(modelDir: string, recipe: Recipe, inventory: ModelInventory, deps: Pick<TrainerDeps, 'loadTokenizer'>, notes: LogNote[]): Promise<DataTokenizer> {
  try {
    return await deps.loadTokenizer(modelDir);
  } catch (e) {
    const format = recipe.dataset.format;
    if (!(e instanceof InputError && TOKENIZER_LOAD_ERRORS.has(e.code)) || (format !== 'tokenized' && format !== 'auto')) throw e;
    if (e.code !== 'tokenizer-missing' && format === 'tokenized') notes.push({ level: 'warning', message: `the model's tokenizer is not usable (${e.message}); token ids are taken as given and padded with config.json's pad/eos id` });
    const { eosTokenId, padTokenId } = inventory.spec;
    const needsTokenizer = (): never => {
      throw e;
    };
    return { encode: needsTokenizer, applyChatTemplate: needsTokenizer, eosTokenId: Array.isArray(eosTokenId) ? (eosTokenId[0] ?? null) : eosTokenId, padTokenId };
  }
}

/** Folder for compiled graphs: beside the runs, so hard links to a project-local model stay on one file system. */
export function graphCacheDir(recipe: Recipe): string {
  return process.env['PEFT_STUDIO_GRAPH_CACHE'] ?? join(recipe.output_dir, '.graph-cache');
}

/**
 * Per-module trainable parameters: r · (in + out) for LoRA (+ out per DoRA magnitude / lora_B bias); a
 * modules_to_save copy's size with r 0. Trained base biases are not rows here (trainableCount adds them).
 */
export function moduleCounts(
  targets: readonly LoraTarget[], copies: readonly SavedModuleParam[] = [], variants: { dora?: boolean; loraBias?: boolean } = {},
): { name: string; r: number; in: number; out: number; params: number }[] {
  const perOut = (variants.dora === true ? 1 : 0) + (variants.loraBias === true ? 1 : 0);
  const lora = targets.map((t) => ({
    name: t.module.name,
    r: t.r,
    in: t.module.inFeatures,
    out: t.module.outFeatures,
    params: t.r * (t.module.inFeatures + t.module.outFeatures) + perOut * t.module.outFeatures,
  }));
  const byModule = new Map<string, { name: string; r: number; in: number; out: number; params: number }>();
  for (const c of copies) {
    const name = c.param.replace(/\.(weight|bias)$/, '');
    const e = byModule.get(name) ?? { name, r: 0, in: c.shape[c.shape.length - 1]!, out: c.shape[0]!, params: 0 };
    e.params += c.shape.reduce((a, b) => a * b, 1);
    byModule.set(name, e);
  }
  return [...lora, ...byModule.values()];
}

/**
 * Trainable parameters of a run (PEFT's print_trainable_parameters): LoRA A/B (+ DoRA magnitudes, lora_B biases), the
 * modules_to_save copies and the base biases that train.
 */
export function trainableCount(
  targets: readonly LoraTarget[], copies: readonly SavedModuleParam[], variants: { dora?: boolean; loraBias?: boolean; biases?: readonly BiasParam[] } = {},
): number {
  const biases = (variants.biases ?? []).reduce((s, b) => s + b.shape.reduce((x, y) => x * y, 1), 0);
  return moduleCounts(targets, copies, variants).reduce((s, m) => s + m.params, 0) + biases;
}

export const configDir = (recipe: Recipe): string => dirname(recipe.file);
