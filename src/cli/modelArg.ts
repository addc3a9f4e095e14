// The MODEL / --model argument of the CLI commands: a model folder, or its config.json or weights file standing for it.
// Anything else that is a file is bad input (exit 1) with what to give instead.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError, UsageError } from '../core/errors';

/** MODEL as an absolute folder: a folder (existing or not) as given; config.json / *.safetensors / the shard index → their folder. */
export function modelDirOf(arg: string): string {
  const abs = path.resolve(arg);
  if (!fs.existsSync(abs) || fs.statSync(abs).isDirectory()) return abs;
  if (/^(config\.json|.*\.safetensors|model\.safetensors\.index\.json)$/.test(path.basename(abs))) return path.dirname(abs);
  throw new InputError('model-not-a-folder', 'a file, not a model folder', { file: abs, hint: 'Give the Hugging Face model folder (the one holding config.json and the .safetensors weights)' });
}

/** The --model option as an absolute folder (modelDirOf), or undefined when not given; a bare `--model` is a usage error. */
export function modelOption(values: Record<string, unknown>): string | undefined {
  const v = values['model'];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '') throw new UsageError('--model needs a folder');
  return modelDirOf(v);
}
