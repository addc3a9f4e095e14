// Diagnostics of a recipe's dataset.eval_prompts JSONL file: one {"prompt", "expected"?} object a line, checked
// with the rule the trainer applies (evalPromptProblem), instead of the data-set formats and lint.
import { evalPromptProblem } from '../train/recipeSchema';
import { LineIndex, problem } from './text';
import type { Problem } from './types';

export function validateEvalPrompts(text: string): Problem[] {
  const idx = new LineIndex(text);
  const out: Problem[] = [];
  const lines = text.split('\n');
  let count = 0;
  for (const [i, raw] of lines.entries()) {
    if (raw.trim() === '') continue;
    count++;
    let item: unknown;
    try {
      item = JSON.parse(raw) as unknown;
    } catch {
      out.push(problem(idx.lineRange(i), 'error', 'eval-prompt', 'Not valid JSON: an eval prompts file holds one {"prompt": "...", "expected": "..."} object a line'));
      continue;
    }
    const why = evalPromptProblem(item);
    if (why !== null) out.push(problem(idx.lineRange(i), 'error', 'eval-prompt', `This eval prompt ${why}`));
  }
  if (count === 0) out.push(problem(idx.range(0, 0), 'error', 'eval-prompt', 'The eval prompts file holds no prompt: one {"prompt": "...", "expected"?: "..."} object a line'));
  return out;
}
