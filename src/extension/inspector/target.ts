// What `PEFT: Inspect Dataset` inspects for a file: the recipe that trains on it, the split and the example.
// Free of the vscode module, so it is unit-tested with plain mocha.
import * as path from 'node:path';
import { summarizeRecipe } from '../../core/validate';
import { findRecipeFor } from '../../core/validate/context';

/** What to inspect: a recipe's split and one example (by 1-based JSONL line or 0-based index). */
export interface InspectTarget {
  recipe: string;
  split: 'train' | 'eval';
  line?: number;
  index?: number;
}

/** What to inspect for `file` (a JSONL data set or a recipe) and an optional 1-based line; a message when nothing fits. */
export function inspectTarget(file: string, line: number | undefined, readText: (p: string) => string | null): InspectTarget | string {
  const abs = path.resolve(file);
  if (/\.ya?ml$/i.test(abs)) {
    const text = readText(abs);
    const s = text === null ? null : summarizeRecipe(text, abs);
    if (s === null || s.trainFile === null || s.trainFile === undefined) return `${path.basename(abs)} names no dataset.train to inspect.`;
    return { recipe: abs, split: 'train', index: 0 };
  }
  if (!abs.toLowerCase().endsWith('.jsonl')) return 'Inspect Dataset works on a JSONL data set or a peft-train.yaml.';
  const recipe = findRecipeFor(abs, readText);
  if (recipe === null) return `No peft-train.yaml in this folder or the two above names ${path.basename(abs)} as dataset.train or dataset.eval: the inspector shows what the trainer feeds, so it needs the recipe (model, tokenizer, max_length).`;
  const split = recipe.evalFile === abs && recipe.trainFile !== abs ? 'eval' : 'train';
  return line !== undefined ? { recipe: recipe.path, split, line } : { recipe: recipe.path, split, index: 0 };
}

