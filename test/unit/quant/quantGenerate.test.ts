// Generation on a 4-bit base: the same MatMulNBits graphs as training (one code path through WeightStore), greedy
// tokens and log-probabilities equal to the fp32 twin holding the dequantized weights; the CLI flag's parser.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../../../src/core/errors';
import { Generator } from '../../../src/core/generate/generator';
import { parseQuantizationFlag } from '../../../src/core/quant/flag';
import { tinyModel, tmpDir } from '../train/engineHelpers';
import { dequantizedTwin } from './helpers';

describe('4-bit base generation', function () {
  this.timeout(120000);
  let dir: string;
  before(() => { dir = tmpDir('quant-gen'); });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('greedy tokens and logprobs equal the dequantized fp32 twin\'s', async () => {
    const inv = await tinyModel('llama', path.join(dir, 'model'));
    const twin = dequantizedTwin(inv, path.join(dir, 'twin'), 16);
    const req = { inputIds: [1, 5, 9, 14, 3], maxNewTokens: 8, temperature: 0 };
    const run = async (d: string, quantization: { bits: 4; block_size: 16 } | null): Promise<{ tokenIds: number[]; logprobs: number[] }> => {
      const gen = await Generator.open(d, { cacheDir: path.join(dir, 'cache'), threads: 1, quantization });
      try {
        return await gen.generate(req);
      } finally {
        await gen.dispose();
      }
    };
    const q4 = await run(inv.dir, { bits: 4, block_size: 16 });
    const deq = await run(twin.dir, null);
    assert.equal(q4.tokenIds.length, 8);
    assert.deepEqual(q4.tokenIds, deq.tokenIds);
    q4.logprobs.forEach((l, i) => assert.ok(Math.abs(l - deq.logprobs[i]!) < 1e-4, `logprob ${i}: ${l} vs ${deq.logprobs[i]}`));
    assert.ok(fs.readdirSync(path.join(dir, 'cache', 'quantized')).some((f) => f.includes('-b16-')));
  });

  it('--quantization accepts BITS[:BLOCK] by the recipe\'s rules', () => {
    assert.deepEqual(parseQuantizationFlag('4'), { bits: 4, block_size: 32 });
    assert.deepEqual(parseQuantizationFlag('4:128'), { bits: 4, block_size: 128 });
    assert.equal(parseQuantizationFlag('none'), null);
    assert.throws(() => parseQuantizationFlag('8'), (e: unknown) => e instanceof UsageError && /"quantization.bits" must be 4, got 8/.test(e.message));
    assert.throws(() => parseQuantizationFlag('4:24'), (e: unknown) => e instanceof UsageError && /one of 16, 32, 64, 128/.test(e.message));
    assert.throws(() => parseQuantizationFlag('q4'), UsageError);
  });
});
