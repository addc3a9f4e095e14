// Adapters with trainable_token_indices (…token_adapter.trainable_tokens_delta [n, dim]): greedy generation equals the
// PyTorch reference (a tied head reads the same rows), and `merge` writes W.index_copy(0, idx, delta).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mergeToHfFolder } from '../../../src/core/export/merge';
import { openCheckpoint } from '../../../src/core/safetensors/checkpoint';
import { readSafetensorsHeader, readTensorAsFloat32 } from '../../../src/core/safetensors/read';
import { writeSafetensors } from '../../../src/core/safetensors/write';
import { Rng } from '../../../src/core/util/random';
import { tinyModel, tmpDir } from '../train/engineHelpers';
import { assertMatchesReference, generateBaseAndTuned, generateMerged, referenceGenerate, writeAdapterFolder } from './helpers';

describe('trainable_token_indices in generation and merge', function () {
  this.timeout(120_000);
  for (const arch of ['llama', 'qwen2'] as const) {
    it(`${arch}${arch === 'qwen2' ? ' (tied head)' : ''}: greedy tokens equal the reference; the merged folder generates the same`, async () => {
      const work = tmpDir(`gen-tt-${arch}`);
      const inv = await tinyModel(arch, `${work}/model`);
      const adapter = writeAdapterFolder(`${work}/adapter`, inv, ['q_proj'], 4, 8);
      const rng = new Rng(13);
      const prompts = [Array.from({ length: 6 }, () => 4 + rng.int(inv.spec.vocabSize - 4))];
      const idx = [prompts[0]![1]!, prompts[0]![4]!, 9];
      const H = inv.spec.hiddenSize;
      const delta = new Float32Array(idx.length * H);
      rng.fillNormal(delta, 0, 1);
      const file = path.join(adapter.dir, 'adapter_model.safetensors');
      const key = 'base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta';
      const tensors = [...readSafetensorsHeader(file).tensors.values()].map((e) => ({ name: e.name, dtype: 'F32' as const, shape: [...e.shape], data: Float32Array.from(readTensorAsFloat32(e)) }));
      tensors.push({ name: key, dtype: 'F32', shape: [idx.length, H], data: delta });
      writeSafetensors(file, tensors, { format: 'pt' });
      const cfgFile = path.join(adapter.dir, 'adapter_config.json');
      fs.writeFileSync(cfgFile, JSON.stringify({ ...JSON.parse(fs.readFileSync(cfgFile, 'utf8')) as object, trainable_token_indices: idx }));

      const ref = referenceGenerate(inv, prompts, 12, [null, { ...adapter, tokens: [{ key, module: 'model.embed_tokens', rows: idx }] }], work);
      const { base, tuned } = await generateBaseAndTuned(inv.dir, adapter.dir, prompts[0]!, 12, `${work}/cache`);
      assertMatchesReference(base, ref[0]!, 'base');
      assertMatchesReference(tuned, ref[1]!, 'adapter');
      assert.notDeepEqual(base.logprobs, tuned.logprobs);
      const out = `${work}/merged`;
      mergeToHfFolder({ modelDir: inv.dir, adapterDir: adapter.dir, outDir: out, dtype: 'float32' });
      const W = readTensorAsFloat32(openCheckpoint(inv.dir).tensors.get('model.embed_tokens.weight')!);
      const merged = readTensorAsFloat32(openCheckpoint(out).tensors.get('model.embed_tokens.weight')!);
      const want = Float32Array.from(W);
      idx.forEach((r, j) => want.set(delta.subarray(j * H, (j + 1) * H), r * H));
      assert.deepEqual(merged, want);
      assert.deepEqual(await generateMerged(out, prompts[0]!, 12, `${work}/cache`), tuned.tokenIds);
    });
  }
});
