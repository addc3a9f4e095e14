// Greedy generation with DoRA adapters (llama incl. lm_head, gpt2 Conv1D) equals the PyTorch reference's
// DoraLinearLayer forward, in the single and stacked graphs, beside a plain LoRA adapter (slow: two fixtures).
import * as assert from 'node:assert/strict';
import { Generator } from '../../../src/core/generate/generator';
import { Rng } from '../../../src/core/util/random';
import { tinyModel, tmpDir } from '../../unit/train/engineHelpers';
import { writeDoraFolder } from '../../unit/generate/doraHelpers';
import { referenceGenerate, writeAdapterFolder } from '../../unit/generate/helpers';

describe('DoRA adapters: greedy generation equals the PyTorch reference', function () {
  this.timeout(300_000);
  for (const c of [{ arch: 'llama', suffixes: ['q_proj', 'v_proj', 'down_proj', 'lm_head'] }, { arch: 'gpt2', suffixes: ['c_attn', 'c_fc'] }] as const) {
    it(`${c.arch}: greedy generation (single and stacked graphs, beside a plain LoRA adapter) equals DoraLinearLayer's forward`, async () => {
      const work = tmpDir(`gen-dora-${c.arch}`);
      const inv = await tinyModel(c.arch, `${work}/model`);
      const dora = writeDoraFolder(`${work}/dora`, inv, [...c.suffixes], 5);
      const plain = writeAdapterFolder(`${work}/plain`, inv, [c.suffixes[0]], 4, 8, 6);
      const rng = new Rng(12);
      const prompt = Array.from({ length: 6 }, () => rng.int(inv.spec.vocabSize));
      const ref = referenceGenerate(inv, [prompt], 12, [dora, plain], work);
      for (const lora of ['single', 'stacked'] as const) {
        const gen = await Generator.open(inv.dir, { adapters: [dora.dir, plain.dir], cacheDir: `${work}/cache`, threads: 1, lora });
        try {
          for (const [i, a] of [dora, plain].entries()) {
            const r = await gen.generate({ inputIds: prompt, maxNewTokens: 12, ignoreEos: true, adapter: a.dir });
            assert.deepEqual(r.tokenIds, ref[i]!.token_ids, `${lora} ${i === 0 ? 'DoRA' : 'plain'} tokens`);
            const err = Math.max(...r.logprobs.map((lp, j) => Math.abs(lp - ref[i]!.logprobs[j]!)));
            assert.ok(err < 1e-4, `${lora} ${i === 0 ? 'DoRA' : 'plain'} logprob error ${err}`);
          }
        } finally {
          await gen.dispose();
        }
      }
      // Without the magnitudes (the same A, B as plain LoRA) the result differs: the scale is really applied.
      const noMag = referenceGenerate(inv, [prompt], 12, [{ ...dora, dir: writeAdapterFolder(`${work}/same-ab`, inv, [...c.suffixes], 4, 8, 5).dir }], work);
      assert.notDeepEqual(noMag[0]!.logprobs, ref[0]!.logprobs);
    });
  }
});
