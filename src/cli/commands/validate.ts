// `peft-studio validate FILE... [--model DIR] [--json]`: the editor's diagnostics on the command line
// (CONTRACTS.md §3: JSON [{file,line,column,endLine,endColumn,severity,code,message}], 1-based; exit 1 on errors).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CliCommand } from '../command';
import { InputError, UsageError, errorMessage } from '../../core/errors';
import { loadModel } from '../../core/hf/loadModel';
import { loadTokenizer } from '../../core/hf/tokenizer';
import type { ModelInventory } from '../../core/hf/types';
import { parse as parseJsonc } from 'jsonc-parser';
import { fileKind, validate, type FileKind, type Problem, type RecipeSummary, type TokenCounter, type ValidationContext } from '../../core/validate';
import { modelForAdapter } from '../../core/validate/adapterModel';
import { tokenizerProblems } from '../../core/validate/chatTemplateCheck';
import { summarizeRecipe } from '../../core/validate/recipe';
import { InventoryCache, findRecipeFor } from '../../core/validate/context';
import { SERVING_ENGINES, type ServingEngine } from '../../core/validate/serving';
import { modelOption } from '../modelArg';
import { deepNestingAt } from '../../core/util/safeJson';

export interface CliProblem {
  file: string;
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  severity: Problem['severity'];
  code: string;
  message: string;
}

export function toCliProblem(file: string, p: Problem): CliProblem {
  return {
    file,
    line: p.range.start.line + 1,
    column: p.range.start.character + 1,
    endLine: p.range.end.line + 1,
    endColumn: p.range.end.character + 1,
    severity: p.severity,
    code: p.code,
    message: p.message,
  };
}

async function tokenCounter(dir: string | null): Promise<TokenCounter | null> {
  if (dir === null || !fs.existsSync(path.join(dir, 'tokenizer.json'))) return null;
  try {
    const tok = await loadTokenizer(dir);
    return { count: (s: string) => tok.encode(s, { addSpecialTokens: false }).length };
  } catch {
    return null;
  }
}

const at1 = (file: string, code: string, message: string): CliProblem => ({ file, line: 1, column: 1, endLine: 1, endColumn: 1, severity: 'error', code, message });

/** LoraConfig fields that mark a JSON object as an adapter config whatever the file is called. */
const LORA_MARKERS = ['peft_type', 'r', 'target_modules', 'lora_alpha', 'lora_dropout', 'base_model_name_or_path'];

/**
 * The kind of a file given on the command line: by name (adapter_config.json, *.yaml, *.jsonl), else as the
 * adapter_config or data set of the recipe beside it, else a .json object with LoraConfig fields is an adapter config.
 */
export function cliFileKind(file: string, text: string, recipe: RecipeSummary | null): FileKind {
  const byName = fileKind(file);
  if (byName !== 'unknown') return byName;
  const abs = path.resolve(file);
  if (recipe?.adapterConfig === abs) return 'adapter_config';
  if (recipe?.datasets.includes(abs) === true) return 'dataset';
  if (/\.json$/i.test(file) && deepNestingAt(text) === null) {
    const v: unknown = parseJsonc(text);
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && LORA_MARKERS.some((k) => k in v)) return 'adapter_config';
  }
  return 'unknown';
}

/**
 * Diagnostics of one file on disk, with its context found as the CLI contract says. `notes` gets human remarks for
 * stderr that are not diagnostics (an adapter config that no base model could be found for).
 */
export async function validateFile(file: string, model: ModelInventory | undefined, cache: InventoryCache, notes: string[] = [], serving: readonly ServingEngine[] = []): Promise<CliProblem[]> {
  let bytes: Buffer;
  try {
    if (fs.statSync(file).isDirectory()) {
      return [at1(file, 'is-a-directory', `${file} is a folder, not a file: give the files to check, e.g. ${path.join(file, 'adapter_config.json')} ${path.join(file, 'peft-train.yaml')}`)];
    }
    bytes = fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return [at1(file, 'file-not-found', code === 'ENOENT' ? `File not found: ${file}` : `Cannot read ${file}: ${errorMessage(e)}`)];
  }
  if (bytes.includes(0)) {
    return [at1(file, 'binary-file', `${file} is a binary file, not text: expected adapter_config.json (JSON), peft-train.yaml (YAML) or a .jsonl data set`)];
  }
  let text = bytes.toString('utf8');
  const bom = text.startsWith('\uFEFF');
  // A byte-order mark breaks JSON readers (Python's json.load, ours): one error for it, the rest checked without it,
  // so that positions are the editor's (VS Code hides the BOM and does not count it as a column).
  if (bom) text = text.slice(1);
  const pre = fileKind(file);
  const recipe = pre === 'recipe' ? null : findRecipeFor(file);
  const kind = cliFileKind(file, text, recipe);
  if (kind === 'adapter_config' && text.trim() === '') {
    return [at1(file, 'empty-file', `${file} is empty: an adapter config is a JSON object of LoraConfig fields, e.g. {"peft_type": "LORA", "r": 8, "lora_alpha": 16, "target_modules": ["q_proj", "v_proj"]}`)];
  }
  const ctx: ValidationContext = { path: path.resolve(file), kind, recipe, loadModel: (d) => cache.get(d) };
  if (serving.length > 0) ctx.servingEngines = serving;
  if (model !== undefined && kind === 'adapter_config') ctx.model = model;
  if (kind === 'dataset') ctx.tokenizer = await tokenCounter(model?.dir ?? recipe?.baseModelDir ?? null);
  const problems = validate(text, ctx).map((p) => toCliProblem(file, p));
  if (kind === 'adapter_config' && ctx.model === undefined && deepNestingAt(text) === null) {
    const v: unknown = parseJsonc(text);
    const base = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)['base_model_name_or_path'] : undefined;
    if (modelForAdapter(ctx, base) === null) {
      notes.push(`note: ${file}: no base model found (--model DIR, a peft-train.yaml beside it, or base_model_name_or_path as a local folder${typeof base === 'string' && base !== '' ? `; "${base}" is not one` : ''}): target_modules were not checked against a model`);
    }
  }
  if (kind === 'recipe') {
    const summary = summarizeRecipe(text, path.resolve(file));
    if (summary !== null && summary.baseModelDir !== null) {
      for (const p of await tokenizerProblems(summary.baseModelDir, summary.format)) problems.push(at1(p.file, p.code, p.message));
    }
  }
  if (bom && (kind === 'adapter_config' || kind === 'dataset')) {
    problems.unshift({ ...at1(file, 'utf8-bom', `${file} starts with a UTF-8 byte-order mark, which JSON readers (PEFT's json.load, the trainer) reject: save it as UTF-8 without BOM`), endColumn: 2 });
  }
  return problems;
}

export const validateCommand: CliCommand = {
  name: 'validate',
  summary: 'Check adapter_config.json, peft-train.yaml and dataset JSONL files against the base model',
  help: [
    'Usage: peft-studio validate FILE... [--model DIR] [--serve ENGINES] [--json]',
    '',
    'Prints the same diagnostics as the editor: unknown keys (with did-you-mean), wrong types and ranges, PEFT\'s',
    'cross-field rules, target_modules that match nothing (or only some layers) in the real base model, missing',
    'paths, devices not available here, examples longer than max_length, duplicates.',
    'The base model of an adapter_config.json is --model, else the base_model of a peft-train.yaml beside it,',
    'else its base_model_name_or_path when that is a local folder.',
    '',
    'Options:',
    '  --model DIR   base model folder for adapter_config.json files',
    '  --serve E,..  also report what these serving engines refuse or ignore in adapter_config.json: vllm, llama.cpp, lorax',
    '  --json        print [{"file","line","column","endLine","endColumn","severity","code","message"}] (1-based)',
    '',
    'Exit code: 0 no errors (warnings allowed), 1 at least one error, 2 usage error.',
  ].join('\n'),
  options: {
    model: { type: 'string', short: 'm' },
    serve: { type: 'string' },
    json: { type: 'boolean' },
  },
  async run(args, io) {
    const serveOpt = args.values['serve'];
    const serving = typeof serveOpt === 'string' ? serveOpt.split(',').map((x) => x.trim()).filter((x) => x !== '') : [];
    const badEngine = serving.find((e) => !(SERVING_ENGINES as readonly string[]).includes(e));
    if (badEngine !== undefined) throw new UsageError(`--serve: unknown engine "${badEngine}"`, `Engines: ${SERVING_ENGINES.join(', ')}`);
    if (args.positionals.length === 0) throw new UsageError('missing FILE', 'Example: peft-studio validate adapter_config.json peft-train.yaml data/train.jsonl');
    const modelOpt = modelOption(args.values);
    const cache = new InventoryCache();
    let model: ModelInventory | undefined;
    if (modelOpt !== undefined) {
      try {
        model = loadModel(modelOpt);
      } catch (e) {
        throw e instanceof InputError ? e : new InputError('model-load', `cannot read the base model: ${errorMessage(e)}`, { file: modelOpt });
      }
    }
    const all: CliProblem[] = [];
    const notes: string[] = [];
    for (const f of args.positionals) all.push(...(await validateFile(f, model, cache, notes, serving as ServingEngine[])));
    if (args.values['json'] === true) io.out(JSON.stringify(all));
    else {
      for (const n of notes) io.err(n);
      for (const p of all) io.out(`${p.file}:${p.line}:${p.column}: ${p.severity}: ${p.message} [${p.code}]`);
      const n = (s: string): number => all.filter((p) => p.severity === s).length;
      io.err(`${args.positionals.length} file(s): ${n('error')} error(s), ${n('warning')} warning(s), ${n('info')} info`);
    }
    return all.some((p) => p.severity === 'error') ? 1 : 0;
  },
};
