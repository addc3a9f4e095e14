// The validator's one entry point: validate(text, ctx) → Problem[] for adapter_config.json, peft-train.yaml and
// dataset JSONL files. Pure (reads only what ctx allows) and total: it never throws, whatever the input.
import * as path from 'node:path';
import { validateAdapterConfig } from './adapterConfig';
import * as fs from 'node:fs';
import { lintDataset, type DatasetLintOptions } from './dataset';
import { validateRecipe } from './recipe';
import { validateEvalPrompts } from './evalPrompts';
import { problem, ZERO_RANGE } from './text';
import type { FileKind, Problem, ValidationContext } from './types';
import { errorMessage } from '../errors';

export type { FileKind, Position, Problem, QuickFix, Range, RecipeSummary, Severity, TextEdit, TokenCounter, ValidationContext } from './types';
export { DatasetLinter, lintDataset, detectFormat, type DatasetLintOptions } from './dataset';
export { LINT_KINDS, LINT_DEFAULTS, type LintKind, type LintSeverities } from './lint/kinds';
export { summarizeRecipe } from './recipe';
export { matchTargets, targetNameChoices } from './targets';
export { applyEdits } from './text';

/**
 * The dataset lint's options from the recipe beside a JSONL file: format, max_length, dataset.lint severities, and,
 * for the recipe's eval set, the training set to check leakage against (one rule for the CLI and the editor).
 */
export function datasetLintOptions(ctx: ValidationContext): DatasetLintOptions {
  const r = ctx.recipe;
  const opts: DatasetLintOptions = { format: r?.format ?? 'auto', maxLength: r?.maxLength ?? 512, trainOnPrompt: r?.trainOnPrompt ?? false, tokenizer: ctx.tokenizer ?? null };
  if (r?.lint) opts.lint = r.lint;
  if (r?.evalFile && r.trainFile && path.resolve(ctx.path) === r.evalFile && r.trainFile !== r.evalFile && r.lint?.leakage !== 'off') {
    const read = ctx.readFile ?? ((p: string): string | null => {
      try {
        return fs.readFileSync(p, 'utf8');
      } catch {
        return null;
      }
    });
    const text = read(r.trainFile);
    if (text !== null) opts.reference = { file: r.trainFile, text };
  }
  return opts;
}

/** The kind of file by name: adapter_config.json, *.yaml/*.yml recipes (peft-train.yaml and friends), *.jsonl data. */
export function fileKind(file: string): FileKind {
  const base = path.basename(file).toLowerCase();
  if (base === 'adapter_config.json') return 'adapter_config';
  if (base.endsWith('.jsonl')) return 'dataset';
  if (base === 'peft-train.yaml' || base === 'peft-train.yml' || /(^|[-_.])peft[-_.].*\.ya?ml$|\.peft\.ya?ml$/.test(base)) return 'recipe';
  if (base.endsWith('.yaml') || base.endsWith('.yml')) return 'recipe';
  return 'unknown';
}

export function validate(text: string, ctx: ValidationContext): Problem[] {
  const kind = ctx.kind ?? fileKind(ctx.path);
  try {
    switch (kind) {
      case 'adapter_config':
        return validateAdapterConfig(text, ctx);
      case 'recipe':
        return validateRecipe(text, ctx);
      case 'dataset':
        if (ctx.recipe?.evalPromptsFile === path.resolve(ctx.path)) return validateEvalPrompts(text);
        return lintDataset(text, datasetLintOptions(ctx), ctx.maxLines);
      case 'unknown':
        return [problem(ZERO_RANGE, 'info', 'unknown-file', `Not a PEFT Studio file: expected adapter_config.json, peft-train.yaml or a .jsonl data set`)];
    }
  } catch (e) {
    return [problem(ZERO_RANGE, 'error', 'internal', `Validator error (please report): ${errorMessage(e)}`)];
  }
}
