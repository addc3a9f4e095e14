// The evaluation table of a run (pure, no DOM): one column per evaluation, rows of scores (eval loss, perplexity,
// exact match, contains) and one row per eval prompt with its answer at each step, changed answers flagged.
import type { RunView } from '../../../src/shared/dashboard';
import { bestCheckpointOf } from '../../../src/core/runs/runState';

export interface AnswerCell {
  output: string;
  /** The answer differs from the previous evaluation's (false in the first column). */
  changed: boolean;
  /** Against the expected answer: exact match, contains it, or neither; undefined without one. */
  score?: 'exact' | 'contains' | 'miss';
  finishReason: string;
}

export interface AnswerRow {
  prompt: string;
  expected?: string;
  cells: (AnswerCell | undefined)[];
}

export interface EvalAnswersTable {
  steps: number[];
  /** The column of the best checkpoint's step, when the run tracks one. */
  bestStep?: number;
  /** Score rows: label and one value per column (undefined where not measured). */
  scores: { key: string; label: string; values: (number | undefined)[] }[];
  rows: AnswerRow[];
}

/** The table, or undefined when the run has evaluated nothing yet (no eval record, no eval prompts' answers). */
export function evalAnswersTable(run: RunView): EvalAnswersTable | undefined {
  const gens = [...(run.evalGenerations ?? [])].sort((a, b) => a.step - b.step);
  const steps = [...new Set([...run.evals.map((e) => e.step), ...gens.map((g) => g.step)])].sort((a, b) => a - b);
  if (steps.length === 0) return undefined;
  const evalAt = new Map(run.evals.map((e) => [e.step, e]));
  const genAt = new Map(gens.map((g) => [g.step, g]));
  const scores: EvalAnswersTable['scores'] = [
    // records written before perplexity was logged: exp(eval_loss), the same number
    { key: 'eval_loss', label: 'eval loss', values: steps.map((s) => evalAt.get(s)?.eval_loss) },
    { key: 'eval_perplexity', label: 'perplexity', values: steps.map((s) => { const e = evalAt.get(s); return e === undefined ? undefined : e.eval_perplexity ?? Math.exp(e.eval_loss); }) },
    { key: 'exact_match', label: 'exact match', values: steps.map((s) => genAt.get(s)?.exact_match) },
    { key: 'contains', label: 'contains', values: steps.map((s) => genAt.get(s)?.contains) },
  ].filter((r) => r.values.some((v) => v !== undefined));
  // Rows follow the prompts of the latest evaluation (a resumed run with edited prompts shows the current ones).
  const latest = gens[gens.length - 1]?.samples ?? [];
  const rows: AnswerRow[] = latest.map((sample, i) => {
    let previous: string | undefined;
    const cells = steps.map((step) => {
      const s = genAt.get(step)?.samples[i];
      if (s === undefined || s.prompt !== sample.prompt) return undefined;
      const cell: AnswerCell = { output: s.output, changed: previous !== undefined && previous !== s.output, finishReason: s.finish_reason };
      if (s.expected !== undefined) cell.score = s.exact_match === true ? 'exact' : s.contains === true ? 'contains' : 'miss';
      previous = s.output;
      return cell;
    });
    return { prompt: sample.prompt, ...(sample.expected !== undefined ? { expected: sample.expected } : {}), cells };
  });
  const best = bestCheckpointOf(run);
  const m = best === undefined ? null : /step-(\d+)[\\/]*$/.exec(best);
  const table: EvalAnswersTable = { steps, scores, rows };
  if (m !== null && steps.includes(Number(m[1]))) table.bestStep = Number(m[1]);
  return table;
}
