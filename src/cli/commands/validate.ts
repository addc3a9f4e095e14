// `peft-studio validate FILE... [--model DIR] [--json]`: the editor's diagnostics on the command line
// (CONTRACTS.md §3: JSON [{file,line,column,endLine,endColumn,severity,code,message}], 1-based; exit 1 on errors).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CliCommand } from '../command';
import { InputError, UsageError, errorMessage } from '../../core/errors';
import { loadModel } from '../../core/hf/loadModel';
import { loadTokenizer } from '../../core/hf/tokenizer';
import type { ModelInventory } from '../../core/hf/types';
import { fileKind, validate, type Problem, type TokenCounter, type ValidationContext } from '../../core/validate';
import { InventoryCache, findRecipeFor } from '../../core/validate/context';

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

/** Diagnostics of one file on disk, with its context found as the CLI contract says. */
export async function validateFile(file: string, model: ModelInventory | undefined, cache: InventoryCache): Promise<CliProblem[]> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    return [{ file, line: 1, column: 1, endLine: 1, endColumn: 1, severity: 'error', code: 'file-not-found', message: `Cannot read ${file}: ${errorMessage(e)}` }];
  }
  const kind = fileKind(file);
  const recipe = kind === 'recipe' ? null : findRecipeFor(file);
  const ctx: ValidationContext = { path: path.resolve(file), recipe, loadModel: (d) => cache.get(d) };
  if (model !== undefined && kind === 'adapter_config') ctx.model = model;
  if (kind === 'dataset') ctx.tokenizer = await tokenCounter(model?.dir ?? recipe?.baseModelDir ?? null);
  return validate(text, ctx).map((p) => toCliProblem(file, p));
}

export const validateCommand: CliCommand = {
  name: 'validate',
  summary: 'Check adapter_config.json, peft-train.yaml and dataset JSONL files against the base model',
  help: [
    'Usage: peft-studio validate FILE... [--model DIR] [--json]',
    '',
    'Prints the same diagnostics as the editor: unknown keys (with did-you-mean), wrong types and ranges, PEFT\'s',
    'cross-field rules, target_modules that match nothing (or only some layers) in the real base model, missing',
    'paths, devices not available here, examples longer than max_length, duplicates.',
    'The base model of an adapter_config.json is --model, else the base_model of a peft-train.yaml beside it,',
    'else its base_model_name_or_path when that is a local folder.',
    '',
    'Options:',
    '  --model DIR   base model folder for adapter_config.json files',
    '  --json        print [{"file","line","column","endLine","endColumn","severity","code","message"}] (1-based)',
    '',
    'Exit code: 0 no errors (warnings allowed), 1 at least one error, 2 usage error.',
  ].join('\n'),
  options: {
    model: { type: 'string', short: 'm' },
    json: { type: 'boolean' },
  },
  async run(args, io) {
    if (args.positionals.length === 0) throw new UsageError('missing FILE', 'Example: peft-studio validate adapter_config.json peft-train.yaml data/train.jsonl');
    const modelOpt = args.values['model'];
    if (modelOpt !== undefined && (typeof modelOpt !== 'string' || modelOpt === '')) throw new UsageError('--model needs a folder');
    const cache = new InventoryCache();
    let model: ModelInventory | undefined;
    if (typeof modelOpt === 'string') {
      try {
        model = loadModel(modelOpt);
      } catch (e) {
        throw e instanceof InputError ? e : new InputError('model-load', `cannot read the base model: ${errorMessage(e)}`, { file: modelOpt });
      }
    }
    const all: CliProblem[] = [];
    for (const f of args.positionals) all.push(...(await validateFile(f, model, cache)));
    if (args.values['json'] === true) io.out(JSON.stringify(all));
    else {
      for (const p of all) io.out(`${p.file}:${p.line}:${p.column}: ${p.severity}: ${p.message} [${p.code}]`);
      const n = (s: string): number => all.filter((p) => p.severity === s).length;
      io.err(`${args.positionals.length} file(s): ${n('error')} error(s), ${n('warning')} warning(s), ${n('info')} info`);
    }
    return all.some((p) => p.severity === 'error') ? 1 : 0;
  },
};
