// Where the Playground's comparisons live: the run folder of an adapter or checkpoint (the folder above it that
// holds run.json), `<run>/playground/comparison-<time>.json`; and reading one back with a clear error.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../../core/errors';
import type { PgComparison } from '../../shared/playground';

/** The run folder that holds `dir` (an adapter, a checkpoint or the run itself), or undefined. */
export function runDirOf(dir: string): string | undefined {
  let d = path.resolve(dir);
  for (let i = 0; i < 4; i++) {
    if (fs.existsSync(path.join(d, 'run.json'))) return d;
    const up = path.dirname(d);
    if (up === d) break;
    d = up;
  }
  return undefined;
}

/** The base model an adapter was trained on: its run's base_model, else adapter_config.json's base_model_name_or_path. */
export function baseModelOf(adapterDir: string): string | undefined {
  const run = runDirOf(adapterDir);
  try {
    if (run !== undefined) {
      const info = JSON.parse(fs.readFileSync(path.join(run, 'run.json'), 'utf8')) as { base_model?: unknown };
      if (typeof info.base_model === 'string') return info.base_model;
    }
    const cfg = JSON.parse(fs.readFileSync(path.join(adapterDir, 'adapter_config.json'), 'utf8')) as { base_model_name_or_path?: unknown };
    return typeof cfg.base_model_name_or_path === 'string' ? cfg.base_model_name_or_path : undefined;
  } catch {
    return undefined;
  }
}

export function writeComparison(runDir: string, c: PgComparison): string {
  const dir = path.join(runDir, 'playground');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `comparison-${c.saved_at.replace(/[:.]/g, '-')}.json`);
  // Written beside under a hidden name, then renamed: a reader never sees a half-written comparison.
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
  fs.writeFileSync(tmp, JSON.stringify(c, null, 2) + '\n');
  fs.renameSync(tmp, file);
  return file;
}

export function readComparison(file: string): PgComparison {
  let c: unknown;
  try {
    c = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new InputError('playground-comparison', `cannot read the comparison: ${e instanceof Error ? e.message : String(e)}`, { file });
  }
  const x = c as Partial<PgComparison> | null;
  if (x === null || typeof x !== 'object' || x.kind !== 'peft-studio.playground-comparison' || !Array.isArray(x.columns)) {
    throw new InputError('playground-comparison', 'not a Playground comparison (kind "peft-studio.playground-comparison")', { file });
  }
  return x as PgComparison;
}
