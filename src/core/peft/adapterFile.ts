// Reading an adapter_config.json file from disk and finding its base model folder (--model, a peft-train.yaml
// beside it, or base_model_name_or_path when that is a local folder), shared by the count and estimate commands.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseJsonc, printParseErrorCode } from 'jsonc-parser';
import type { ParseError } from 'jsonc-parser';
import { parse as parseYaml } from 'yaml';
import { InputError } from '../errors';
import { parseLoraConfig } from './loraConfig';
import type { LoraConfig, LoraConfigWarning } from './loraConfig';
import { assertJsonDepth } from '../util/safeJson';

export interface AdapterConfigFile {
  file: string;
  config: LoraConfig;
  /** The JSON object as written (before defaults). */
  raw: Record<string, unknown>;
  warnings: LoraConfigWarning[];
}

function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** Read and parse an adapter_config.json (InputError with the line of a JSON syntax error). */
export function readAdapterConfigFile(file: string): AdapterConfigFile {
  const abs = path.resolve(file);
  let text: string;
  try {
    text = fs.readFileSync(abs, 'utf8');
  } catch {
    throw new InputError('adapter-config-not-found', 'file not found', { file: abs });
  }
  assertJsonDepth(text, abs, 'adapter_config.json');
  const errors: ParseError[] = [];
  const raw: unknown = parseJsonc(text, errors, { allowTrailingComma: false, disallowComments: true });
  const first = errors[0];
  if (first !== undefined) {
    // "CloseBracketExpected" → "close bracket expected", at line:column, with what to do.
    const what = printParseErrorCode(first.error).replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
    const line = lineOf(text, first.offset);
    const column = first.offset - text.lastIndexOf('\n', first.offset - 1);
    throw new InputError('adapter-config-json', text.trim() === '' ? 'the file is empty' : `invalid JSON: ${what} at column ${column}`, {
      file: abs,
      line,
      hint: `An adapter config is one JSON object of LoraConfig fields; \`peft-studio validate ${path.basename(abs)}\` lists every problem`,
    });
  }
  const warnings: LoraConfigWarning[] = [];
  const config = parseLoraConfig(raw, abs, { warnings });
  return { file: abs, config, raw: raw as Record<string, unknown>, warnings };
}

function isModelDir(dir: string): boolean {
  return fs.existsSync(path.join(dir, 'config.json'));
}

/**
 * The base model folder of an adapter_config.json: `explicit` (--model) when given, else the `base_model` of a
 * peft-train.yaml beside it that points to this adapter config, else base_model_name_or_path when it is a local
 * folder (relative to the working directory, then to the config's folder). Null when none is found.
 */
export function findBaseModelDir(configFile: string, cfg: LoraConfig, explicit?: string): string | null {
  if (explicit !== undefined) return path.resolve(explicit);
  const dir = path.dirname(path.resolve(configFile));
  const yamlFile = path.join(dir, 'peft-train.yaml');
  if (fs.existsSync(yamlFile)) {
    try {
      const y: unknown = parseYaml(fs.readFileSync(yamlFile, 'utf8'));
      if (y !== null && typeof y === 'object') {
        const rec = y as Record<string, unknown>;
        const ac = rec['adapter_config'];
        const bm = rec['base_model'];
        const pointsHere = typeof ac !== 'string' || path.resolve(dir, ac) === path.resolve(configFile);
        if (pointsHere && typeof bm === 'string' && isModelDir(path.resolve(dir, bm))) return path.resolve(dir, bm);
      }
    } catch {
      // a broken recipe is the validator's business; fall through to base_model_name_or_path
    }
  }
  const b = cfg.base_model_name_or_path;
  if (b !== null && b !== '') {
    for (const cand of [path.resolve(b), path.resolve(dir, b)]) if (isModelDir(cand)) return cand;
  }
  return null;
}
