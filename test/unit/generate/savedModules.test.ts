// Adapters with modules_to_save (full copies saved as base_model.model.<module>.weight): greedy generation equals the
// PyTorch reference with the copies in place, and `merge` writes the copies (a tied head as its own lm_head.weight).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mergeToHfFolder } from '../../../src/core/export/merge';
import { Generator } from '../../../src/core/generate/generator';
import type { ModelInventory } from '../../../src/core/hf/types';
import { openCheckpoint } from '../../../src/core/safetensors/checkpoint';
import { readSafetensorsHeader, readTensorAsFloat32 } from '../../../src/core/safetensors/read';
import { writeSafetensors } from '../../../src/core/safetensors/write';
import { Rng } from '../../../src/core/util/random';
import { tinyModel, tmpDir } from '../train/engineHelpers';
import { type AdapterFolder, referenceGenerate, writeAdapterFolder } from './helpers';

/** Adds modules_to_save copies (base + N(0, 0.3²)) of `modules` to an adapter folder; returns their PEFT keys → HF names. */
function addCopies(a: AdapterFolder, inv: ModelInventory, entries: string[], modules: string[]): Map<string, string> {
  const file = path.join(a.dir, 'adapter_model.safetensors');
  const tensors = [...readSafetensorsHeader(file).tensors.values()].map((e) => ({ name: e.name, dtype: 'F32' as const, shape: [...e.shape], data: Float32Array.from(readTensorAsFloat32(e)) }));
  const base = openCheckpoint(inv.dir).tensors;
  const rng = new Rng(5);
  const keys = new Map<string, string>();
  for (const name of modules) {
    const m = inv.modules.find((x) => x.name === name)!;
    const e = base.get(m.weightKey)!;
    const data = Float32Array.from(readTensorAsFloat32(e));
    const noise = new Float32Array(data.length);
    rng.fillNormal(noise, 0, 0.3);
    for (let i = 0; i < data.length; i++) data[i] = data[i]! + noise[i]!;
    const key = `base_model.model.${name}.weight`;
    tensors.push({ name: key, dtype: 'F32', shape: [...e.shape], data });
    keys.set(key, `${name}.weight`);
  }
  writeSafetensors(file, tensors, { format: 'pt' });
  const cfgFile = path.join(a.dir, 'adapter_config.json');
  fs.writeFileSync(cfgFile, JSON.stringify({ ...JSON.parse(fs.readFileSync(cfgFile, 'utf8')) as object, modules_to_save: entries }));
  return keys;
}

const CASES = [
  { arch: 'llama', entries: ['lm_head', 'model.norm'], modules: ['lm_head', 'model.norm'] },
  { arch: 'qwen2', entries: ['lm_head'], modules: ['lm_head'] }, // tied embeddings: the head's own copy
] as const;

describe('modules_to_save in generation and merge', function () {
  this.timeout(120_000);
  for (const c of CASES) {
    it(`${c.arch}: greedy tokens equal the reference; the merged folder generates the same tokens`, async () => {
      const work = tmpDir(`gen-mts-${c.arch}`);
      const inv = await tinyModel(c.arch, `${work}/model`);
      const adapter = writeAdapterFolder(`${work}/adapter`, inv, ['q_proj', 'v_proj']);
      const keys = addCopies(adapter, inv, [...c.entries], [...c.modules]);
      const rng = new Rng(12);
      const prompts = [Array.from({ length: 6 }, () => rng.int(inv.spec.vocabSize))];
      const ref = referenceGenerate(inv, prompts, 12, [null, { ...adapter, copies: [...keys].map(([key, param]) => ({ key, param })) }], work);
      const gen = await Generator.open(inv.dir, { adapters: [adapter.dir], cacheDir: `${work}/cache`, threads: 1 });
      let withAdapter: number[];
      try {
        const base = await gen.generate({ inputIds: prompts[0]!, maxNewTokens: 12, ignoreEos: true });
        const tuned = await gen.generate({ inputIds: prompts[0]!, maxNewTokens: 12, ignoreEos: true, adapter: gen.adapterIds[0]! });
        assert.deepEqual(base.tokenIds, ref[0]!.token_ids, 'base tokens (the graph feeds the base tensors for the base model)');
        assert.deepEqual(tuned.tokenIds, ref[1]!.token_ids, 'adapter tokens');
        const err = Math.max(...tuned.logprobs.map((lp, j) => Math.abs(lp - ref[1]!.logprobs[j]!)));
        assert.ok(err < 1e-4, `adapter logprob error ${err}`);
        assert.notDeepEqual(base.logprobs, tuned.logprobs);
        withAdapter = tuned.tokenIds;
      } finally {
        await gen.dispose();
      }
      // merge: the copies replace the base tensors (a tied head's copy becomes lm_head.weight, config unties).
      const out = `${work}/merged`;
      mergeToHfFolder({ modelDir: inv.dir, adapterDir: adapter.dir, outDir: out, dtype: 'float32' });
      const merged = openCheckpoint(out).tensors;
      const adapterTensors = readSafetensorsHeader(path.join(adapter.dir, 'adapter_model.safetensors')).tensors;
      for (const [key, param] of keys) assert.deepEqual(readTensorAsFloat32(merged.get(param)!), readTensorAsFloat32(adapterTensors.get(key)!), param);
      const cfg = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
      if (inv.spec.tieWordEmbeddings) {
        assert.equal(cfg['tie_word_embeddings'], false);
        assert.deepEqual(readTensorAsFloat32(merged.get('model.embed_tokens.weight')!), readTensorAsFloat32(openCheckpoint(inv.dir).tensors.get('model.embed_tokens.weight')!), 'the embedding is unchanged');
      }
      const mg = await Generator.open(out, { cacheDir: `${work}/cache`, threads: 1 });
      try {
        assert.deepEqual((await mg.generate({ inputIds: prompts[0]!, maxNewTokens: 12, ignoreEos: true })).tokenIds, withAdapter);
      } finally {
        await mg.dispose();
      }
    });
  }
});

describe('stacked generation refuses modules_to_save adapters by name', function () {
  this.timeout(60_000);
  it('Generator.open(lora: stacked) names the adapter folder', async () => {
    const work = tmpDir('gen-mts-stacked');
    const inv = await tinyModel('llama', `${work}/model`);
    const adapter = writeAdapterFolder(`${work}/adapter`, inv, ['q_proj']);
    addCopies(adapter, inv, ['lm_head'], ['lm_head']);
    await assert.rejects(Generator.open(inv.dir, { adapters: [adapter.dir], lora: 'stacked', cacheDir: `${work}/cache`, threads: 1 }),
      (e: unknown) => e instanceof Error && e.message.includes('modules_to_save') && e.message.includes(adapter.dir));
  });
});
