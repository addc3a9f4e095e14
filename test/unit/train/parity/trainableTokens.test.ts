// trainable_token_indices end to end against PyTorch + PEFT (test/reference): a [n, dim] delta holding the values of
// those embedding rows (W' = W.index_copy(0, idx, delta)), saved as <embedding>.token_adapter.trainable_tokens_delta. Tied head: test/slow/parity.
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { Rng } from '../../../../src/core/util/random';
import { type ParityCase, makeRows, readAll } from './project';
import { cleanUp, runVariantCase } from './variantCase';

describe('trainable_token_indices trains exactly as PEFT\'s TrainableTokens', function () {
  this.timeout(300_000);
  const dirs: string[] = [];
  after(() => cleanUp(dirs));

  it('llama (untied): 3 tokens of the data, one of them the padding_idx (its row gets no gradient), + q/v LoRA', async () => {
    const rows = makeRows(new Rng(81), 512, 5, 5, 12);
    const pad = rows[0]!.input_ids[2]!;
    const idx = [rows[0]!.input_ids[1]!, pad, rows[1]!.input_ids[4]!];
    assert.equal(new Set(idx).size, 3);
    const c: ParityCase = {
      arch: 'llama', overrides: { pad_token_id: pad }, targetModules: ['q_proj', 'v_proj'], r: 4, alpha: 8, trainableTokens: idx,
      rows, maxLength: 16, microBatch: 2, accumulation: 1, steps: 4, lr: 2e-3, weightDecay: 0.5, maxGradNorm: 3,
    };
    const { dir, adapter, trainable } = await runVariantCase('llama-tt', c, 91, dirs);
    assert.equal(trainable, 1792 + 3 * 64, 'LoRA q/v (2 layers) + a [3, 64] delta');
    const key = 'base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta';
    const init = readAll(path.join(dir, 'init_adapter', 'adapter_model.safetensors')).get(key)!;
    const d = adapter.get(key)!;
    for (let h = 0; h < 64; h++) {
      const want = init[64 + h]! * (1 - 2e-3 * 0.5) ** 4;
      assert.ok(Math.abs(d[64 + h]! - want) <= 1e-7 + 1e-6 * Math.abs(want), `padding row, feature ${h}: decay only`);
    }
  });
});
