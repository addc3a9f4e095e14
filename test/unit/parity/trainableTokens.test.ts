// trainable_token_indices end to end against PyTorch + PEFT (test/reference): a [n, dim] delta holding the values of
// those embedding rows (W' = W.index_copy(0, idx, delta)), saved as <embedding>.token_adapter.trainable_tokens_delta.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { countParameters } from '../../../src/core/peft/count';
import { parseLoraConfig } from '../../../src/core/peft/loraConfig';
import { Rng } from '../../../src/core/util/random';
import { tmpDir } from '../engine/helpers';
import { checkRun, train } from './check';
import { type ParityCase, makeRows, readAll, runTrainerRef, writeProject } from './project';

describe('trainable_token_indices trains exactly as PEFT\'s TrainableTokens', function () {
  this.timeout(300_000);
  const dirs: string[] = [];
  after(() => {
    if (process.env['PARITY_KEEP'] === undefined) for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  async function runCase(name: string, c: ParityCase, seed: number): Promise<{ dir: string; adapter: Map<string, Float32Array>; trainable: number }> {
    const dir = tmpDir(`tt-parity-${name}`);
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

  it('llama (untied): 3 tokens of the data, one of them the padding_idx (its row gets no gradient), + q/v LoRA', async () => {
    const rows = makeRows(new Rng(81), 512, 5, 5, 12);
    const pad = rows[0]!.input_ids[2]!;
    const idx = [rows[0]!.input_ids[1]!, pad, rows[1]!.input_ids[4]!];
    assert.equal(new Set(idx).size, 3);
    const c: ParityCase = {
      arch: 'llama', overrides: { pad_token_id: pad }, targetModules: ['q_proj', 'v_proj'], r: 4, alpha: 8, trainableTokens: idx,
      rows, maxLength: 16, microBatch: 2, accumulation: 1, steps: 4, lr: 2e-3, weightDecay: 0.5, maxGradNorm: 3,
    };
    const { dir, adapter, trainable } = await runCase('llama-tt', c, 91);
    assert.equal(trainable, 1792 + 3 * 64, 'LoRA q/v (2 layers) + a [3, 64] delta');
    const key = 'base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta';
    const init = readAll(path.join(dir, 'init_adapter', 'adapter_model.safetensors')).get(key)!;
    const d = adapter.get(key)!;
    for (let h = 0; h < 64; h++) {
      const want = init[64 + h]! * (1 - 2e-3 * 0.5) ** 4;
      assert.ok(Math.abs(d[64 + h]! - want) <= 1e-7 + 1e-6 * Math.abs(want), `padding row, feature ${h}: decay only`);
    }
  });

  it('qwen2 (tied embeddings): the head follows the embedding\'s delta; one delta saved', async () => {
    const rows = makeRows(new Rng(82), 512, 5, 4, 11);
    const c: ParityCase = {
      arch: 'qwen2', targetModules: ['q_proj'], r: 4, alpha: 8, trainableTokens: [rows[0]!.input_ids[1]!, 7, 300],
      rows, maxLength: 512, microBatch: 2, accumulation: 2, steps: 3, lr: 3e-3, weightDecay: 0.05, maxGradNorm: 1.5,
    };
    const { adapter } = await runCase('qwen2-tt', c, 92);
    assert.deepEqual([...adapter.keys()].filter((k) => k.includes('token_adapter')), ['base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta']);
  });
});
