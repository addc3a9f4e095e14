// LoRA on embedding layers end to end against PyTorch + PEFT (test/reference): lora_embedding_A [r, vocab] and
// lora_embedding_B [dim, r], base + F.embedding(ids, Aᵀ, padding_idx) @ Bᵀ · scaling, saved under PEFT's keys.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { countParameters } from '../../../src/core/peft/count';
import { parseLoraConfig } from '../../../src/core/peft/loraConfig';
import { Rng } from '../../../src/core/util/random';
import { tmpDir } from '../engine/helpers';
import { checkRun, train } from './check';
import { type ParityCase, makeRows, readAll, runTrainerRef, writeProject } from './project';

describe('embedding LoRA (lora_embedding_A/B) trains exactly as PEFT does', function () {
  this.timeout(300_000);
  const dirs: string[] = [];
  after(() => {
    if (process.env['PARITY_KEEP'] === undefined) for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  async function runCase(name: string, c: ParityCase, seed: number): Promise<{ dir: string; adapter: Map<string, Float32Array>; trainable: number }> {
    const dir = tmpDir(`emb-parity-${name}`);
    dirs.push(dir);
    const p = await writeProject(dir, c, seed);
    const r = await train(p.recipe);
    assert.equal(r.code, 0, r.err);
    checkRun(name, c, p, r.records, runTrainerRef(p));
    const start = r.records[0]!;
    assert.ok(start.event === 'start');
    const cfg = parseLoraConfig(JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8')) as unknown);
    assert.equal(start.trainable, countParameters(cfg, p.inventory).trainable, 'PEFT\'s count');
    return { dir, adapter: readAll(path.join(start.run_dir, 'adapter', 'adapter_model.safetensors')), trainable: start.trainable };
  }

  it('llama: embed_tokens + q/v; padding_idx = pad_token_id (a token of the data) keeps that column of A out of the gradient', async () => {
    const rows = makeRows(new Rng(61), 512, 5, 5, 12);
    const pad = rows[0]!.input_ids[2]!;
    const c: ParityCase = {
      arch: 'llama', overrides: { pad_token_id: pad }, targetModules: ['embed_tokens', 'q_proj', 'v_proj'], r: 4, alpha: 8,
      rows, maxLength: 16, microBatch: 2, accumulation: 1, steps: 4, lr: 2e-3, weightDecay: 0.5, maxGradNorm: 3,
    };
    const { dir, adapter, trainable } = await runCase('llama-emb', c, 71);
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

  it('gpt2 (tied head): wte and wpe (token and position embeddings) + c_attn', async () => {
    const c: ParityCase = {
      arch: 'gpt2', targetModules: ['wte', 'wpe', 'c_attn'], r: 4, alpha: 8,
      rows: makeRows(new Rng(62), 512, 5, 4, 12), maxLength: 64, microBatch: 2, accumulation: 1, steps: 4, lr: 2e-3, weightDecay: 0.05, maxGradNorm: 3,
    };
    const { adapter } = await runCase('gpt2-emb', c, 72);
    assert.deepEqual([...adapter.keys()].filter((k) => k.includes('embedding')).sort(), [
      'base_model.model.transformer.wpe.lora_embedding_A', 'base_model.model.transformer.wpe.lora_embedding_B',
      'base_model.model.transformer.wte.lora_embedding_A', 'base_model.model.transformer.wte.lora_embedding_B',
    ]);
  });
});
