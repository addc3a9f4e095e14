// Adapters with modules_to_save (full copies saved as base_model.model.<module>.weight): greedy generation equals the
// PyTorch reference with the copies in place, and `merge` writes the copies (a tied head as its own lm_head.weight; a
// copied embedding of a tied model leaves lm_head.weight the base embedding).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mergeToHfFolder } from '../../../src/core/export/merge';
import { Generator } from '../../../src/core/generate/generator';
import { openCheckpoint } from '../../../src/core/safetensors/checkpoint';
import { readSafetensorsHeader, readTensorAsFloat32 } from '../../../src/core/safetensors/read';
import { Rng } from '../../../src/core/util/random';
import { tinyModel, tmpDir } from '../train/engineHelpers';
import { addCopies, assertMatchesReference, generateBaseAndTuned, generateMerged, referenceGenerate, writeAdapterFolder } from './helpers';

const CASES = [
  { arch: 'llama', entries: ['lm_head', 'model.norm'], modules: ['lm_head', 'model.norm'] },
  { arch: 'qwen2', entries: ['lm_head'], modules: ['lm_head'] }, // tied embeddings: the head's own copy
  // tied embeddings, only the embedding copied: the head keeps reading the original embedding (PEFT deep-copies the
  // embedding module; lm_head keeps the original parameter), so the merge writes it as lm_head.weight and unties.
  { arch: 'qwen2', entries: ['embed_tokens'], modules: ['model.embed_tokens'] },
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
      const { base, tuned } = await generateBaseAndTuned(inv.dir, adapter.dir, prompts[0]!, 12, `${work}/cache`);
      assertMatchesReference(base, ref[0]!, 'base (the graph feeds the base tensors for the base model)');
      assertMatchesReference(tuned, ref[1]!, 'adapter');
      assert.notDeepEqual(base.logprobs, tuned.logprobs);
      // merge: the copies replace the base tensors (a tied head's copy becomes lm_head.weight, config unties).
      const out = `${work}/merged`;
      mergeToHfFolder({ modelDir: inv.dir, adapterDir: adapter.dir, outDir: out, dtype: 'float32' });
      const merged = openCheckpoint(out).tensors;
      const adapterTensors = readSafetensorsHeader(path.join(adapter.dir, 'adapter_model.safetensors')).tensors;
      for (const [key, param] of keys) assert.deepEqual(readTensorAsFloat32(merged.get(param)!), readTensorAsFloat32(adapterTensors.get(key)!), param);
      const cfg = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
      if (inv.spec.tieWordEmbeddings) {
        assert.equal(cfg['tie_word_embeddings'], false);
        const untouched = (c.modules as readonly string[]).includes('lm_head') ? 'model.embed_tokens.weight' : 'lm_head.weight';
        assert.deepEqual(readTensorAsFloat32(merged.get(untouched)!), readTensorAsFloat32(openCheckpoint(inv.dir).tensors.get('model.embed_tokens.weight')!), `${untouched} holds the base embedding`);
      }
      assert.deepEqual(await generateMerged(out, prompts[0]!, 12, `${work}/cache`), tuned.tokenIds);
    });
  }
});

describe('stacked generation refuses copies of per-head norms, by name', function () {
  this.timeout(60_000);
  it('Generator.open(lora: stacked) with a copy of a qwen3 q_norm names the adapter folder and the tensor', async () => {
    const work = tmpDir('gen-mts-stacked');
    const inv = await tinyModel('qwen3', `${work}/model`);
    const adapter = writeAdapterFolder(`${work}/adapter`, inv, ['v_proj']);
    addCopies(adapter, inv, ['model.layers.0.self_attn.q_norm'], ['model.layers.0.self_attn.q_norm']);
    await assert.rejects(Generator.open(inv.dir, { adapters: [adapter.dir], lora: 'stacked', cacheDir: `${work}/cache`, threads: 1 }),
      (e: unknown) => e instanceof Error && e.message.includes('modules_to_save copy of model.layers.0.self_attn.q_norm.weight') && e.message.includes(adapter.dir));
  });
});
