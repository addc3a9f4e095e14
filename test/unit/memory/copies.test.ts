// The memory estimate counts modules_to_save copies (weights, gradient, AdamW moments, updated outputs in fp32), and
// runs the backward through every layer when an embedding is copied or carries LoRA.
import { strict as assert } from 'node:assert';
import { estimateMemory, type MemoryOptions } from '../../../src/core/memory/estimate';
import { copiesMemoryShape, savedModuleParams } from '../../../src/core/peft/savedModules';
import { tinyModel, targetsFor, tmpDir } from '../train/engineHelpers';

describe('memory estimate: modules_to_save copies', () => {
  it('adds 7 × 4 bytes per copied element and widens the backward to the lowest copied layer', async () => {
    const inv = await tinyModel('llama', `${tmpDir('mem-copies')}/model`);
    const targets = targetsFor(inv, ['q_proj'], 4, 8).filter((t) => t.module.layer === 1);
    const opts: MemoryOptions = { batchSize: 2, seqLen: 16, device: 'cpu', precision: 'fp32', gradAccum: 1 };
    const head = copiesMemoryShape(savedModuleParams({ modules_to_save: ['lm_head'], ensure_weight_tying: false }, inv), inv)!;
    assert.deepEqual(head, { elements: 512 * 64, lowestLayer: null });
    const plain = estimateMemory(inv, targets, opts);
    const withHead = estimateMemory(inv, targets, { ...opts, copies: head });
    const part = withHead.components.find((c) => c.name === 'modules_to_save copies')!;
    assert.equal(part.bytes, 512 * 64 * 4 * 7);
    const mlp = (e: typeof plain): number => e.components.find((c) => c.name === 'activations: MLP')!.bytes;
    assert.equal(mlp(withHead), mlp(plain), 'a head copy adds no backward layer');
    const embed = copiesMemoryShape(savedModuleParams({ modules_to_save: ['embed_tokens'], ensure_weight_tying: false }, inv), inv)!;
    assert.equal(embed.lowestLayer, -1);
    assert.equal(mlp(estimateMemory(inv, targets, { ...opts, copies: embed })), 2 * mlp(plain), 'an embedding copy: the backward runs through both layers');
  });
});

describe('memory estimate: embedding LoRA', () => {
  it('runs the backward through every layer and keeps only [tokens, r] for the embedding adapter', async () => {
    const inv = await tinyModel('llama', `${tmpDir('mem-emb')}/model`);
    const q1 = targetsFor(inv, ['q_proj'], 4, 8).filter((t) => t.module.layer === 1);
    const embed = { module: inv.modules.find((m) => m.kind === 'embedding')!, r: 4, alpha: 8, scaling: 2 };
    const opts: MemoryOptions = { batchSize: 2, seqLen: 16, device: 'cpu', precision: 'fp32', gradAccum: 1 };
    const part = (e: ReturnType<typeof estimateMemory>, name: string): number => e.components.find((c) => c.name === name)!.bytes;
    const plain = estimateMemory(inv, q1, opts);
    const withEmbed = estimateMemory(inv, [embed, ...q1], opts);
    assert.equal(part(withEmbed, 'activations: MLP'), 2 * part(plain, 'activations: MLP'));
    assert.equal(part(withEmbed, 'activations: LoRA inputs and x·Aᵀ') - part(plain, 'activations: LoRA inputs and x·Aᵀ'), 2 * 16 * 4 * 4);
    assert.equal(part(withEmbed, 'LoRA parameters') - part(plain, 'LoRA parameters'), 4 * (512 + 64) * 4);
  });
});
