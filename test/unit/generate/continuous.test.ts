// Continuous batching: rows that join a running stacked-LoRA batch at later steps (prefilled on their own, their
// caches appended, left-padded) and leave it when done get what separate runs get; a bad request fails alone.
import * as assert from 'node:assert/strict';
import { type ContinuousRequest, Generator } from '../../../src/core/generate/generator';
import type { GenerateRequest, GenerateResult } from '../../../src/core/generate/types';
import { Rng } from '../../../src/core/util/random';
import { tinyModel, tmpDir } from '../train/engineHelpers';
import { writeAdapterFolder } from './helpers';

describe('generate: continuous batching', function () {
  this.timeout(120_000);
  for (const arch of ['llama', 'gpt2'] as const) {
    it(`${arch}: rows joining at steps 0, 0, 3, 5 and 9 equal separate runs`, async () => {
      const work = tmpDir(`gen-cont-${arch}`);
      const inv = await tinyModel(arch, `${work}/model`);
      const a1 = writeAdapterFolder(`${work}/a1`, inv, arch === 'gpt2' ? ['c_attn'] : ['q_proj', 'v_proj'], 4, 8, 3);
      const a2 = writeAdapterFolder(`${work}/a2`, inv, arch === 'gpt2' ? ['c_fc'] : ['o_proj', 'up_proj'], 8, 16, 4);
      const rng = new Rng(8);
      const prompt = (n: number): number[] => Array.from({ length: n }, () => rng.int(inv.spec.vocabSize));
      const reqs: GenerateRequest[] = [
        { inputIds: prompt(5), maxNewTokens: 8, ignoreEos: true, adapter: a1.dir },
        { inputIds: prompt(3), maxNewTokens: 4, ignoreEos: true, adapter: null },
        { inputIds: prompt(9), maxNewTokens: 10, ignoreEos: true, adapter: a2.dir },
        { inputIds: prompt(2), maxNewTokens: 7, ignoreEos: true, adapter: a1.dir, temperature: 1, topK: 20, seed: 4 },
        { inputIds: prompt(6), maxNewTokens: 3, ignoreEos: true, adapter: a2.dir },
      ];
      const joinAt = [0, 0, 3, 5, 9];
      const opts = { adapters: [a1.dir, a2.dir], cacheDir: `${work}/cache`, threads: 1 };
      const stacked = await Generator.open(inv.dir, { ...opts, lora: 'stacked' });
      const single = await Generator.open(inv.dir, opts);
      try {
        const results: (GenerateResult | undefined)[] = [];
        const streamed: number[][] = reqs.map(() => []);
        const sizes: number[] = [];
        let step = 0;
        let badError: unknown;
        await stacked.generateContinuous((free) => {
          const now = step++;
          const out: ContinuousRequest[] = [];
          reqs.forEach((req, i) => {
            if (joinAt[i] === now && out.length < free) out.push({ req, onToken: (t) => streamed[i]!.push(t.id), done: (r) => { results[i] = r; }, fail: (e) => { throw e; } });
          });
          if (now === 1) out.push({ req: { inputIds: [inv.spec.vocabSize + 5], maxNewTokens: 2 }, done: () => undefined, fail: (e) => { badError = e; } });
          return out;
        }, 8, (rows) => sizes.push(rows));
        assert.match(String(badError), /outside the vocabulary/);
        assert.ok(Math.max(...sizes) >= 3, `batch sizes ${sizes.join(',')}`);
        for (let i = 0; i < reqs.length; i++) {
          const alone = await single.generate(reqs[i]!);
          assert.deepEqual(results[i]!.tokenIds, alone.tokenIds, `row ${i} tokens`);
          assert.deepEqual(streamed[i], alone.tokenIds, `row ${i} streamed`);
          const err = Math.max(...alone.logprobs.map((lp, j) => Math.abs(lp - results[i]!.logprobs[j]!)));
          assert.ok(err < 1e-4, `row ${i} logprob error ${err}`);
        }
      } finally {
        await stacked.dispose();
        await single.dispose();
      }
    });
  }
});
