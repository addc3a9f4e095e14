// Test helpers for DoRA / bias adapters: a DoRA adapter folder from a plain one, and greedy generation checked
// against the PyTorch reference in the single and stacked graphs.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Generator } from '../../../src/core/generate/generator';
import type { ModelInventory } from '../../../src/core/hf/types';
import { doraMagnitude, magnitudeKey } from '../../../src/core/models/dora';
import { loraKey } from '../../../src/core/models/lora';
import { openCheckpoint } from '../../../src/core/safetensors/checkpoint';
import { readTensorAsFloat32 } from '../../../src/core/safetensors/read';
import { Rng } from '../../../src/core/util/random';
import { readAdapter, writeAdapter } from '../train/engineHelpers';
import { type AdapterFolder, referenceGenerate, writeAdapterFolder } from './helpers';

/** A plain adapter folder turned into a DoRA one: magnitudes = ||W + s·B·A|| times factors in [0.6, 1.4]. */
export function writeDoraFolder(dir: string, inv: ModelInventory, suffixes: string[], seed: number): AdapterFolder {
  const a = writeAdapterFolder(dir, inv, suffixes, 4, 8, seed);
  const file = path.join(dir, 'adapter_model.safetensors');
  const params = readAdapter(file);
  const base = openCheckpoint(inv.dir).tensors;
  const rng = new Rng(seed + 100);
  const state = { params, shapes: new Map<string, number[]>(), expAvg: new Map(), expAvgSq: new Map(), step: 0 };
  for (const [k, e] of openCheckpoint(file).tensors) state.shapes.set(k, [...e.shape]);
  for (const t of a.targets) {
    const w = readTensorAsFloat32(base.get(t.module.weightKey)!);
    const norms = doraMagnitude(w, t, params.get(loraKey(t.module.name, 'A'))!, params.get(loraKey(t.module.name, 'B'))!);
    const m = norms.map((x) => x * (0.6 + 0.8 * rng.uniform()));
    params.set(magnitudeKey(t.module.name), m);
    state.shapes.set(magnitudeKey(t.module.name), [t.module.outFeatures]);
  }
  writeAdapter(file, state);
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
  fs.writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify({ ...cfg, use_dora: true }));
  return a;
}

/** Greedy generation with `a` (single and stacked graphs, beside the base model) equals the reference. */
export async function checkGeneration(inv: ModelInventory, a: AdapterFolder, work: string): Promise<void> {
  const rng = new Rng(13);
  const prompt = Array.from({ length: 5 }, () => rng.int(inv.spec.vocabSize));
  const ref = referenceGenerate(inv, [prompt], 10, [a, null], work);
  for (const lora of ['single', 'stacked'] as const) {
    const gen = await Generator.open(inv.dir, { adapters: [a.dir], cacheDir: `${work}/cache`, threads: 1, lora });
    try {
      for (const [i, adapter] of [a.dir, null].entries()) {
        const r = await gen.generate({ inputIds: prompt, maxNewTokens: 10, ignoreEos: true, adapter });
        assert.deepEqual(r.tokenIds, ref[i]!.token_ids, `${lora} ${adapter === null ? 'base' : 'adapter'} tokens`);
        const err = Math.max(...r.logprobs.map((lp, j) => Math.abs(lp - ref[i]!.logprobs[j]!)));
        assert.ok(err < 1e-4, `${lora} ${adapter === null ? 'base' : 'adapter'} logprob error ${err}`);
      }
    } finally {
      await gen.dispose();
    }
  }
}

