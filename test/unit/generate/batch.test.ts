// Batched generation with stacked adapters: every row of one batch uses its own adapter (or the base model), with
// its own prompt length (left padding), settings and limits, and gets what a separate single-adapter run gets.
import * as assert from 'node:assert/strict';
import { Generator } from '../../../src/core/generate/generator';
import type { GenerateRequest } from '../../../src/core/generate/types';
import { Rng } from '../../../src/core/util/random';
import { tinyModel, tmpDir } from '../train/engineHelpers';
import { writeAdapterFolder } from './helpers';

describe('generate: per-row adapters in one batch', function () {
  this.timeout(120_000);
  for (const arch of ['llama', 'gpt2'] as const) {
    it(`${arch}: base + two adapters (different ranks and modules) in one batch equal separate runs`, async () => {
      const work = tmpDir(`gen-batch-${arch}`);
      const inv = await tinyModel(arch, `${work}/model`);
      const a1 = writeAdapterFolder(`${work}/a1`, inv, arch === 'gpt2' ? ['c_attn'] : ['q_proj', 'v_proj'], 4, 8, 3);
      const a2 = writeAdapterFolder(`${work}/a2`, inv, arch === 'gpt2' ? ['c_proj', 'c_fc'] : ['o_proj', 'up_proj', 'q_proj'], 8, 16, 4);
      const rng = new Rng(2);
      const prompt = (n: number): number[] => Array.from({ length: n }, () => rng.int(inv.spec.vocabSize));
      const reqs: GenerateRequest[] = [
        { inputIds: prompt(7), maxNewTokens: 10, ignoreEos: true, adapter: null },
        { inputIds: prompt(3), maxNewTokens: 12, ignoreEos: true, adapter: a1.dir },
        { inputIds: prompt(5), maxNewTokens: 6, ignoreEos: true, adapter: a2.dir },
        { inputIds: prompt(4), maxNewTokens: 12, ignoreEos: true, adapter: a1.dir, temperature: 1, topK: 20, seed: 9 },
      ];
      const opts = { adapters: [a1.dir, a2.dir], cacheDir: `${work}/cache`, threads: 1 };
      const stacked = await Generator.open(inv.dir, { ...opts, lora: 'stacked' });
      const single = await Generator.open(inv.dir, opts);
      try {
        const rows: number[] = [];
        const batch = await stacked.generateBatch(reqs, { onToken: (t) => rows.push(t.row) });
        assert.equal(rows.length, 10 + 12 + 6 + 12);
        for (let i = 0; i < reqs.length; i++) {
          const alone = await single.generate(reqs[i]!);
          assert.deepEqual(batch[i]!.tokenIds, alone.tokenIds, `row ${i} tokens`);
          const err = Math.max(...alone.logprobs.map((lp, j) => Math.abs(lp - batch[i]!.logprobs[j]!)));
          assert.ok(err < 1e-4, `row ${i} logprob error ${err}`);
        }
        assert.notDeepEqual(batch[1]!.tokenIds.slice(0, 6), batch[2]!.tokenIds, 'the adapters differ');
        // A single request through the stacked graph is the same as well.
        const one = await stacked.generate(reqs[2]!);
        assert.deepEqual(one.tokenIds, batch[2]!.tokenIds);
        await assert.rejects(single.generateBatch(reqs), /need a Generator opened with lora: "stacked"/);
      } finally {
        await stacked.dispose();
        await single.dispose();
      }
    });
  }
});
