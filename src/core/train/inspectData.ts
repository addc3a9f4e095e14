// `inspect-data`: a recipe's data sets prepared by the trainer's own functions (recipe → model → tokenizer →
// prepareDataset), summarised, with one example's fed tokens. Shared by the CLI and the editor's inspector.
import { InputError } from '../errors';
import { prepareDataset, type PreparedDataset } from './data/dataset';
import type { DataTokenizer } from './data/formats';
import { datasetStats, exampleView, type TrainPlan } from './data/inspect';
import { readJsonl } from './data/jsonl';
import { defaultDeps } from './deps';
import type { Recipe } from './recipe';
import type { DataInspectionView, LintRow } from '../../shared/inspector';
import { readFileSync } from 'node:fs';
import { summarizeRecipe, validate } from '../validate';
import { loadRecipeData, readRecipeFile, type LogNote, type TrainerDeps } from './setup';

export interface InspectDataOptions {
  configFile: string;
  split?: 'train' | 'eval';
  /** 0-based example index (file order); default 0. */
  index?: number;
  /** 1-based JSONL line of the example (instead of index). */
  line?: number;
  deps?: Pick<TrainerDeps, 'resolveModel' | 'loadModel' | 'loadTokenizer'>;
  signal?: AbortSignal;
}

/** One inspection (CONTRACTS.md §7); the type is shared with the editor's webview. */
export type DataInspection = DataInspectionView;

/** The dataset diagnostics of `file` with the recipe's settings (the same call as `peft-studio validate`). */
export function lintSummary(recipe: Recipe, file: string, tokenizer?: DataTokenizer, exampleLine?: number): DataInspection['lint'] {
  const text = readFileSync(file, 'utf8');
  const summary = summarizeRecipe(readFileSync(recipe.file, 'utf8'), recipe.file);
  const counter = tokenizer === undefined ? null : { count: (s: string) => tokenizer.encode(s, false).length };
  const problems = validate(text, { path: file, kind: 'dataset', recipe: summary, tokenizer: counter });
  const counts: Record<string, number> = {};
  for (const p of problems) counts[p.code] = (counts[p.code] ?? 0) + 1;
  const row = (p: (typeof problems)[number]): LintRow => ({ line: p.range.start.line + 1, severity: p.severity, code: p.code, message: p.message });
  return { counts, first: problems.slice(0, 20).map(row), atExample: problems.filter((p) => p.range.start.line + 1 === exampleLine).map(row) };
}

/** The trainer's batching settings from a recipe. */
export function trainPlan(recipe: Recipe): TrainPlan {
  const t = recipe.training;
  return { microBatchSize: t.per_device_train_batch_size, accumulation: t.gradient_accumulation_steps, maxSteps: t.max_steps, epochs: t.num_train_epochs, shuffle: recipe.dataset.shuffle, seed: t.seed };
}

/** The example index of `line` (1-based JSONL line), or an InputError naming the file. */
function indexOfLine(d: PreparedDataset, line: number): number {
  const i = d.tokenized.findIndex((e) => e.line === line);
  if (i < 0) throw new InputError('inspect-line', `line ${line} holds no example`, { file: d.file, hint: `Examples are on lines ${d.tokenized[0]?.line ?? 1} … ${d.tokenized[d.tokenized.length - 1]?.line ?? 1}` });
  return i;
}

export async function inspectData(opts: InspectDataOptions): Promise<DataInspection> {
  const deps = opts.deps ?? defaultDeps;
  const recipe = readRecipeFile(opts.configFile);
  const split = opts.split ?? 'train';
  if (split === 'eval' && recipe.dataset.eval === null) throw new InputError('inspect-no-eval', 'the recipe has no dataset.eval', { file: recipe.file });
  const modelDir = await deps.resolveModel(recipe.base_model, opts.signal);
  const inventory = deps.loadModel(modelDir);
  const notes: LogNote[] = [];
  const data = await loadRecipeData(recipe, modelDir, inventory, deps, notes, (o) => prepareDataset(readJsonl(o.file), o));
  const d = split === 'train' ? data.train : data.eval!;
  const packing = split === 'train' && recipe.dataset.packing;
  const plan = trainPlan(recipe);
  let index = opts.index ?? 0;
  if (opts.line !== undefined) index = indexOfLine(d, opts.line);
  if (!Number.isInteger(index) || index < 0 || index >= d.tokenized.length) {
    throw new InputError('inspect-index', `example index ${index} is out of range: the ${split} set has ${d.tokenized.length} examples (0 … ${d.tokenized.length - 1})`, { file: d.file });
  }
  const example = exampleView(d, index, data.tokenizer, recipe.dataset.max_length, packing, split === 'train' ? plan : null);
  return {
    recipe: recipe.file,
    split,
    stats: datasetStats(d, recipe.dataset.max_length, packing, plan, split),
    example,
    notes,
    lint: lintSummary(recipe, d.file, data.tokenizer, example.line),
  };
}
