// The validator's vocabulary: Problem (a diagnostic with an exact 0-based range and an optional quick fix)
// and ValidationContext (what the validator may know beyond the text: the base model, the recipe, the disk).
import type { QuantizationConfig } from '../quant/blockQuant';
import type { ModelInventory } from '../hf/types';
import type { ServingEngine } from './serving';
import type { LintSeverities } from './lint/kinds';

export interface Position {
  /** 0-based line. */
  line: number;
  /** 0-based UTF-16 column, as VS Code counts. */
  character: number;
}

export interface Range {
  start: Position;
  end: Position;
}

export type Severity = 'error' | 'warning' | 'info';

export interface TextEdit {
  range: Range;
  newText: string;
}

export interface QuickFix {
  title: string;
  edits: TextEdit[];
}

export interface Problem {
  range: Range;
  severity: Severity;
  /** Stable id, e.g. `unknown-key`, `target-not-found` (the editor's diagnostic code, the CLI's `code`). */
  code: string;
  message: string;
  fix?: QuickFix;
  /** Further quick fixes, after `fix` (e.g. "mask the match", then "delete the line"). */
  moreFixes?: QuickFix[];
  /** Extra facts for the editor (e.g. the matched module names of a target_modules entry). */
  data?: Record<string, unknown>;
}

export type FileKind = 'adapter_config' | 'recipe' | 'dataset' | 'unknown';

/** What a peft-train.yaml says about its neighbours (enough to check an adapter_config.json or a dataset against it). */
export interface RecipeSummary {
  /** Absolute path of the peft-train.yaml. */
  path: string;
  /** base_model as written, and resolved to an absolute folder when it is a local path. */
  baseModel: string | null;
  baseModelDir: string | null;
  /** Absolute paths of adapter_config / dataset.train / dataset.eval. */
  adapterConfig: string | null;
  datasets: string[];
  /** Absolute paths of dataset.train and dataset.eval (null when not set). */
  trainFile?: string | null;
  evalFile?: string | null;
  /** Absolute path of dataset.eval_prompts when it names a JSONL file (validated as eval prompts, not as data). */
  evalPromptsFile?: string | null;
  /** dataset.lint severities, defaults filled in (absent: the defaults). */
  lint?: LintSeverities;
  format: string;
  maxLength: number;
  trainOnPrompt: boolean;
  packing: boolean;
  /** dataset.eval is set (the trainer then opens a second, forward-only session). */
  hasEval: boolean;
  /** Training shape and device, for the memory estimate. */
  batchSize: number;
  gradAccum: number;
  device: string;
  fp16: boolean;
  /** `quantization:` (a 4-bit base), or null/absent = full precision. */
  quantization?: QuantizationConfig | null;
}

/** Minimal tokenizer for the dataset lint (counts tokens; chat templates are the trainer's business). */
export interface TokenCounter {
  count(text: string): number;
}

export type PathKind = 'file' | 'dir' | null;

export interface ValidationContext {
  /** The file being validated (absolute or relative to the CWD); its basename picks the kind. */
  path: string;
  /** Override the kind chosen from the file name. */
  kind?: FileKind;
  /**
   * The base model's inventory. `undefined`: the validator may call `loadModel` for what the file names
   * (a recipe's base_model); `null`: no model is known (skip the model checks).
   */
  model?: ModelInventory | null;
  /** Loads (and the editor caches) an inventory by folder; return null when the folder is not a model. */
  loadModel?: (dir: string) => ModelInventory | null;
  /** The recipe beside an adapter_config.json or dataset, when there is one. */
  recipe?: RecipeSummary | null;
  /** Devices onnxruntime-node can use here (default: from listSupportedBackends and the installed providers). */
  availableDevices?: readonly string[];
  /** What is at a path (default: fs.statSync). */
  pathKind?: (absPath: string) => PathKind;
  /** Tokenizer of the base model, for the dataset lint's length checks. */
  tokenizer?: TokenCounter | null;
  /** Dataset lint: stop after this many lines (default: all). */
  maxLines?: number;
  /** adapter_config.json: also report what these serving engines refuse or ignore (serving.ts); default none. */
  servingEngines?: readonly ServingEngine[];
  /** Reads another file (the training set, for leakage checks of the eval set); default fs.readFileSync, null when unreadable. */
  readFile?: (absPath: string) => string | null;
}
