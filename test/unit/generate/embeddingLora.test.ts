// Adapters with LoRA on the token embedding (lora_embedding_A [r, vocab], lora_embedding_B [dim, r]): greedy generation
// equals the PyTorch reference, and `merge` folds W + scaling·(B·A)ᵀ into the embedding.
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

describe('embedding LoRA in generation and merge', function () {
  this.timeout(120_000);
  it('llama: embed_tokens + q_proj: greedy tokens equal the reference; merged embedding = W + s·(B·A)ᵀ; the merged folder generates the same', async () => {
    const work = tmpDir('gen-emb');
    const inv = await tinyModel('llama', `${work}/model`);
    const adapter = writeAdapterFolder(`${work}/adapter`, inv, ['q_proj'], 4, 8);
    const file = path.join(adapter.dir, 'adapter_model.safetensors');
    const tensors = [...readSafetensorsHeader(file).tensors.values()].map((e) => ({ name: e.name, dtype: 'F32' as const, shape: [...e.shape], data: Float32Array.from(readTensorAsFloat32(e)) }));
    const V = inv.spec.vocabSize;
    const H = inv.spec.hiddenSize;
    const rng = new Rng(9);
    const A = new Float32Array(4 * V);
    const B = new Float32Array(H * 4);
    rng.fillNormal(A, 0, 1);
    rng.fillNormal(B, 0, 1);
    tensors.push({ name: 'base_model.model.model.embed_tokens.lora_embedding_A', dtype: 'F32', shape: [4, V], data: A });
    tensors.push({ name: 'base_model.model.model.embed_tokens.lora_embedding_B', dtype: 'F32', shape: [H, 4], data: B });
    writeSafetensors(file, tensors, { format: 'pt' });
    const cfgFile = path.join(adapter.dir, 'adapter_config.json');
    fs.writeFileSync(cfgFile, JSON.stringify({ ...JSON.parse(fs.readFileSync(cfgFile, 'utf8')) as object, target_modules: ['q_proj', 'embed_tokens'] }));
    const embedModule = inv.modules.find((m) => m.name === 'model.embed_tokens')!;
    const withEmbed = { ...adapter, targets: [...adapter.targets, { module: embedModule, r: 4, alpha: 8, scaling: 2 }] };

    const prompts = [Array.from({ length: 6 }, () => 4 + rng.int(V - 4))];
    const ref = referenceGenerate(inv, prompts, 12, [withEmbed], work);
    const { base, tuned } = await generateBaseAndTuned(inv.dir, adapter.dir, prompts[0]!, 12, `${work}/cache`);
    assertMatchesReference(tuned, ref[0]!, 'adapter');
    assert.notDeepEqual(base.logprobs, tuned.logprobs);

    const out = `${work}/merged`;
    mergeToHfFolder({ modelDir: inv.dir, adapterDir: adapter.dir, outDir: out, dtype: 'float32' });
    const W = readTensorAsFloat32(openCheckpoint(inv.dir).tensors.get('model.embed_tokens.weight')!);
    const merged = readTensorAsFloat32(openCheckpoint(out).tensors.get('model.embed_tokens.weight')!);
    let worst = 0;
    for (let v = 0; v < V; v++) {
      for (let h = 0; h < H; h++) {
        let d = 0;
        for (let k = 0; k < 4; k++) d += B[h * 4 + k]! * A[k * V + v]!;
        worst = Math.max(worst, Math.abs(merged[v * H + h]! - (W[v * H + h]! + 2 * d)));
      }
    }
    assert.ok(worst < 1e-5, `merged embedding error ${worst}`);
    assert.deepEqual(await generateMerged(out, prompts[0]!, 12, `${work}/cache`), tuned.tokenIds);
  });
});
