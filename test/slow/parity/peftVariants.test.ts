// PEFT variants on the tied-embedding fixtures against PyTorch + PEFT (the slow half of test/unit/train/parity's
// savedModules/embeddingLora/trainableTokens): a tied lm_head's own modules_to_save copy, a copied embedding whose tied
// head keeps the original weight, GPT-2 wte/wpe embedding LoRA, and trainable tokens whose delta the tied head follows.
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { Rng } from '../../../src/core/util/random';
import { makeRows, maxRelToPeak, readAll, type ParityCase } from '../../unit/train/parity/project';
import { cleanUp, runVariantCase } from '../../unit/train/parity/variantCase';

describe('PEFT variants with tied embeddings match PyTorch + PEFT', function () {
  this.timeout(600_000);
  const dirs: string[] = [];
  after(() => cleanUp(dirs));

  it('qwen2, tied embeddings: lm_head gets its own copy of the embedding, gradient accumulation 2', async () => {
    const c: ParityCase = {
      arch: 'qwen2', targetModules: ['q_proj', 'o_proj'], r: 4, alpha: 16, modulesToSave: ['lm_head'],
      rows: makeRows(new Rng(42), 512, 5, 4, 11), maxLength: 512, microBatch: 2, accumulation: 2, steps: 3, lr: 3e-3, weightDecay: 0.05, maxGradNorm: 2,
    };
    const { runDir, adapter } = await runVariantCase('qwen2-tied-mts', c, 52, dirs);
    assert.ok(!adapter.has('base_model.model.model.embed_tokens.weight'), 'the embedding stays frozen');
    const head = adapter.get('base_model.model.lm_head.weight')!;
    const embed = readAll(path.join(path.dirname(path.dirname(runDir)), 'model', 'model.safetensors')).get('model.embed_tokens.weight')!;
    assert.equal(head.length, embed.length);
    assert.ok(maxRelToPeak(head, embed) > 1e-3, 'the head copy moved away from the (frozen) embedding');
  });

  it('qwen2, tied embeddings: embed_tokens trains its own copy and the head keeps reading the original embedding (PEFT)', async () => {
    const c: ParityCase = {
      arch: 'qwen2', targetModules: ['q_proj'], r: 4, alpha: 8, modulesToSave: ['embed_tokens'],
      rows: makeRows(new Rng(44), 512, 5, 4, 11), maxLength: 512, microBatch: 2, accumulation: 1, steps: 3, lr: 3e-3, weightDecay: 0.05, maxGradNorm: 2,
    };
    const { runDir, adapter } = await runVariantCase('qwen2-tied-embed-mts', c, 54, dirs);
    assert.ok(!adapter.has('base_model.model.lm_head.weight'), 'no head copy');
    const copy = adapter.get('base_model.model.model.embed_tokens.weight')!;
    const embed = readAll(path.join(path.dirname(path.dirname(runDir)), 'model', 'model.safetensors')).get('model.embed_tokens.weight')!;
    assert.ok(maxRelToPeak(copy, embed) > 1e-3, 'the embedding copy moved away from the base embedding');
  });

  it('gpt2 (tied head): wte and wpe (token and position embeddings) + c_attn', async () => {
    const c: ParityCase = {
      arch: 'gpt2', targetModules: ['wte', 'wpe', 'c_attn'], r: 4, alpha: 8,
      rows: makeRows(new Rng(62), 512, 5, 4, 12), maxLength: 64, microBatch: 2, accumulation: 1, steps: 4, lr: 2e-3, weightDecay: 0.05, maxGradNorm: 3,
    };
    const { adapter } = await runVariantCase('gpt2-emb', c, 72, dirs);
    assert.deepEqual([...adapter.keys()].filter((k) => k.includes('embedding')).sort(), [
      'base_model.model.transformer.wpe.lora_embedding_A', 'base_model.model.transformer.wpe.lora_embedding_B',
      'base_model.model.transformer.wte.lora_embedding_A', 'base_model.model.transformer.wte.lora_embedding_B',
    ]);
  });

  it('qwen2 (tied embeddings): the head follows the embedding\'s delta; one delta saved', async () => {
    const rows = makeRows(new Rng(82), 512, 5, 4, 11);
    const c: ParityCase = {
      arch: 'qwen2', targetModules: ['q_proj'], r: 4, alpha: 8, trainableTokens: [rows[0]!.input_ids[1]!, 7, 300],
      rows, maxLength: 512, microBatch: 2, accumulation: 2, steps: 3, lr: 3e-3, weightDecay: 0.05, maxGradNorm: 1.5,
    };
    const { adapter } = await runVariantCase('qwen2-tt', c, 92, dirs);
    assert.deepEqual([...adapter.keys()].filter((k) => k.includes('token_adapter')), ['base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta']);
  });
});
