// LoRA on embedding layers end to end against PyTorch + PEFT (test/reference): lora_embedding_A [r, vocab] and
// lora_embedding_B [dim, r], base + F.embedding(ids, Aᵀ, padding_idx) @ Bᵀ · scaling, saved under PEFT's keys. GPT-2 wte/wpe: test/slow/parity.
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { Rng } from '../../../../src/core/util/random';
import { type ParityCase, makeRows, readAll } from './project';
import { cleanUp, runVariantCase } from './variantCase';

describe('embedding LoRA (lora_embedding_A/B) trains exactly as PEFT does', function () {
  this.timeout(300_000);
  const dirs: string[] = [];
  after(() => cleanUp(dirs));

  it('llama: embed_tokens + q/v; padding_idx = pad_token_id (a token of the data) keeps that column of A out of the gradient', async () => {
    const rows = makeRows(new Rng(61), 512, 5, 5, 12);
    const pad = rows[0]!.input_ids[2]!;
    const c: ParityCase = {
      arch: 'llama', overrides: { pad_token_id: pad }, targetModules: ['embed_tokens', 'q_proj', 'v_proj'], r: 4, alpha: 8,
      rows, maxLength: 16, microBatch: 2, accumulation: 1, steps: 4, lr: 2e-3, weightDecay: 0.5, maxGradNorm: 3,
    };
    const { dir, adapter, trainable } = await runVariantCase('llama-emb', c, 71, dirs);
    // By hand: embed_tokens A [4, 512] + B [64, 4] = 2304; q 4·(64+64) and v 4·(64+32) per layer × 2 = 1792.
    assert.equal(trainable, 2304 + 1792);
    const key = 'base_model.model.model.embed_tokens.lora_embedding_A';
    const init = readAll(path.join(dir, 'init_adapter', 'adapter_model.safetensors')).get(key)!;
    const a = adapter.get(key)!;
    assert.equal(a.length, 4 * 512);
    // Column `pad` of A: no gradient, so only AdamW's decoupled decay (1 − lr·wd)^steps moves it.
    for (let k = 0; k < 4; k++) {
      const want = init[k * 512 + pad]! * (1 - 2e-3 * 0.5) ** 4;
      assert.ok(Math.abs(a[k * 512 + pad]! - want) <= 1e-7 + 1e-6 * Math.abs(want), `A[${k}, pad]`);
    }
    const other = rows[0]!.input_ids[3]!;
    assert.ok(Math.abs(a[other]! - init[other]! * (1 - 2e-3 * 0.5) ** 4) > 1e-4, 'a seen token\'s column moves by its gradient');
  });
});
