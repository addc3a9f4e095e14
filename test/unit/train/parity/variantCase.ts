// One PEFT-variant parity run (DoRA, biases, modules_to_save, embedding LoRA, trainable tokens): `peft-studio train` against the
// PyTorch reference (checkRun), and the run's trainable count against PEFT's (count.ts), for the unit and slow suites.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { countParameters } from '../../../../src/core/peft/count';
import { parseLoraConfig } from '../../../../src/core/peft/loraConfig';
import { tmpDir } from '../engineHelpers';
import { checkRun, train } from './check';
import { type ParityCase, readAll, runTrainerRef, writeProject } from './project';

export interface VariantRun {
  dir: string;
  runDir: string;
  /** The final adapter's tensors by key. */
  adapter: Map<string, Float32Array>;
  trainable: number;
  /** The run's total parameter count (start record). */
  total: number;
}

export async function runVariantCase(name: string, c: ParityCase, seed: number, dirs: string[]): Promise<VariantRun> {
  const dir = tmpDir(`variant-parity-${name}`);
  dirs.push(dir);
  const p = await writeProject(dir, c, seed);
  const r = await train(p.recipe);
  assert.equal(r.code, 0, r.err);
  checkRun(name, c, p, r.records, runTrainerRef(p));
  const start = r.records[0]!;
  assert.ok(start.event === 'start');
  // The run's trainable count is PEFT's (print_trainable_parameters: LoRA + copies + token deltas), as `count` computes it.
  const cfg = parseLoraConfig(JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8')) as unknown);
  assert.equal(start.trainable, countParameters(cfg, p.inventory).trainable, `${name}: PEFT's count`);
  return { dir, runDir: start.run_dir, adapter: readAll(path.join(start.run_dir, 'adapter', 'adapter_model.safetensors')), trainable: start.trainable, total: start.total };
}

export function cleanUp(dirs: string[]): void {
  if (process.env['PARITY_KEEP'] === undefined) for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
}
