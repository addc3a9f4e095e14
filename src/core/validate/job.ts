// One editor validation as plain data that crosses a process boundary (ValidationJob), and the runner that does it with
// the same validate() as the CLI plus, for a recipe, the tokenizer and chat-template check (validate/chatTemplateCheck).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadTokenizer } from '../hf/tokenizer';
import { tokenizerProblems, type FileProblem } from './chatTemplateCheck';
import { InventoryCache } from './context';
import { DatasetLinter, datasetLintOptions, validate } from './index';
import { summarizeRecipe } from './recipe';
import { problem } from './text';
import type { FileKind, Problem, Range, RecipeSummary, TokenCounter, ValidationContext } from './types';
import type { ServingEngine } from './serving';

export interface ValidationJob {
  /** The document's text as the editor has it (unsaved edits included). */
  text: string;
  /** Absolute path of the document. */
  path: string;
  kind: Exclude<FileKind, 'unknown'>;
  /** The recipe beside an adapter config or data set (the host found it already to tell the kind). */
  recipe: RecipeSummary | null;
  servingEngines?: ServingEngine[];
  /** Texts of open documents by absolute path, read before the disk (the training set of a leakage check). */
  openTexts?: Record<string, string>;
}

/** A data-set lint publishes what it found so far at most this often. */
const PARTIAL_MS = 250;

/** Runs jobs with caches of model inventories, tokenizers and template checks per folder (one runner per worker). */
export class JobRunner {
  private readonly inventories = new InventoryCache();
  private readonly tokenizers = new Map<string, Promise<TokenCounter | null>>();
  private readonly templateChecks = new Map<string, Promise<FileProblem[]>>();

  /**
   * The problems of one job. A data set is linted in slices: `partial` gets the problems so far between slices and
   * `cancelled()` (checked between slices) stops it early with what was found.
   */
  async run(job: ValidationJob, partial?: (ps: Problem[]) => void, cancelled: () => boolean = () => false): Promise<Problem[]> {
    const readFile = (p: string): string | null => job.openTexts?.[path.resolve(p)] ?? readOrNull(p);
    const ctx: ValidationContext = { path: job.path, kind: job.kind, recipe: job.recipe, loadModel: (d) => this.inventories.get(d), readFile };
    if (job.servingEngines !== undefined && job.servingEngines.length > 0) ctx.servingEngines = job.servingEngines;
    if (job.kind === 'dataset') {
      const dir = job.recipe?.baseModelDir ?? null;
      ctx.tokenizer = dir !== null ? await this.tokenizer(dir) : null;
      const linter = new DatasetLinter(job.text, datasetLintOptions(ctx));
      while (!cancelled() && !linter.step({ ms: PARTIAL_MS })) {
        partial?.(linter.problems());
        await new Promise((r) => setImmediate(r));
      }
      return linter.problems();
    }
    const problems = validate(job.text, ctx);
    if (job.kind === 'recipe') problems.push(...(await this.recipeModelProblems(job.text, job.path)));
    return problems;
  }

  /** The recipe's tokenizer and chat template problems (cached per model folder and format), on its base_model line. */
  private async recipeModelProblems(text: string, file: string): Promise<Problem[]> {
    const summary = summarizeRecipe(text, file);
    if (summary === null || summary.baseModelDir === null) return [];
    const key = `${summary.baseModelDir}\0${summary.format}`;
    let check = this.templateChecks.get(key);
    if (check === undefined) {
      check = tokenizerProblems(summary.baseModelDir, summary.format);
      this.templateChecks.set(key, check);
    }
    const range = baseModelRange(text);
    return (await check).map((p) => problem(range, 'error', p.code, p.message.includes(p.file) ? p.message : `${p.file}: ${p.message}`));
  }

  private tokenizer(dir: string): Promise<TokenCounter | null> {
    let t = this.tokenizers.get(dir);
    if (t === undefined) {
      t = fs.existsSync(path.join(dir, 'tokenizer.json'))
        ? loadTokenizer(dir).then((tok) => ({ count: (s: string) => tok.encode(s, { addSpecialTokens: false }).length }), () => null)
        : Promise.resolve(null);
      this.tokenizers.set(dir, t);
    }
    return t;
  }

  /** A model file changed on disk: forget what was cached for its folder. */
  invalidate(file: string): void {
    const p = path.resolve(file);
    this.inventories.invalidate(p);
    const inside = (dir: string): boolean => p === dir || p.startsWith(dir + path.sep);
    for (const k of [...this.tokenizers.keys()]) if (inside(k)) this.tokenizers.delete(k);
    for (const k of [...this.templateChecks.keys()]) if (inside(k.split('\0')[0]!)) this.templateChecks.delete(k);
  }
}

/** The `base_model:` line of a recipe (its first line when there is none): where model-file problems are shown. */
export function baseModelRange(text: string): Range {
  const lines = text.split('\n');
  const i = lines.findIndex((l) => /^base_model\s*:/.test(l));
  if (i < 0) return { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };
  return { start: { line: i, character: 0 }, end: { line: i, character: lines[i]!.replace(/\r$/, '').length } };
}

function readOrNull(p: string): string | null {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return null;
  }
}
