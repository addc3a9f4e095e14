// The validator's one entry point: validate(text, ctx) → Problem[] for adapter_config.json, peft-train.yaml and
// dataset JSONL files. Pure (reads only what ctx allows) and total: it never throws, whatever the input.
import * as path from 'node:path';
import { validateAdapterConfig } from './adapterConfig';
import { lintDataset } from './dataset';
import { validateRecipe } from './recipe';
import { problem, ZERO_RANGE } from './text';
import type { FileKind, Problem, ValidationContext } from './types';

export type { FileKind, Position, Problem, QuickFix, Range, RecipeSummary, Severity, TextEdit, TokenCounter, ValidationContext } from './types';
export { DatasetLinter, lintDataset, detectFormat } from './dataset';
export { summarizeRecipe } from './recipe';
export { matchTargets, targetNameChoices } from './targets';
export { applyEdits } from './text';

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
      case 'dataset': {
        const r = ctx.recipe;
        return lintDataset(text, { format: r?.format ?? 'auto', maxLength: r?.maxLength ?? 512, trainOnPrompt: r?.trainOnPrompt ?? false, tokenizer: ctx.tokenizer ?? null }, ctx.maxLines);
      }
      case 'unknown':
        return [problem(ZERO_RANGE, 'info', 'unknown-file', `Not a PEFT Studio file: expected adapter_config.json, peft-train.yaml or a .jsonl data set`)];
    }
  } catch (e) {
    return [problem(ZERO_RANGE, 'error', 'internal', `Validator error (please report): ${e instanceof Error ? e.message : String(e)}`)];
  }
}
