// The memory estimate of a 4-bit base: the decoder Linear weights counted as blocks + scales (hand-computed here),
// everything else as before, the per-use dequantized weight of the backward, and the recipe key reaching the estimate.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadModel } from '../../../src/core/hf/loadModel';
import { estimateMemory, type MemoryOptions } from '../../../src/core/memory/estimate';
import { ortTuning } from '../../../src/core/runtime/prepacking';
import { summarizeRecipe } from '../../../src/core/validate';
import { targetsFor } from '../train/engineHelpers';
import { llamaConfigModel, tempDir } from '../validate/helpers';

describe('memory estimate with a 4-bit base', () => {
  let dir: string;
  before(() => { dir = tempDir(); });
  after(() => { fs.rmSync(dir, { recursive: true, force: true }); ortTuning.prepacking = 'auto'; });

  it('counts the decoder Linear weights as 4-bit blocks with fp32 scales, the rest in fp32', () => {
    // hidden 64, intermediate 128, 2 layers, 4 heads / 2 KV heads (head_dim 16), vocab 1000, untied head.
    const inv = loadModel(llamaConfigModel(dir, 2));
    const targets = targetsFor(inv, ['q_proj', 'v_proj'], 4, 8);
    const opts: MemoryOptions = { batchSize: 1, seqLen: 16, device: 'cpu', precision: 'fp32', gradAccum: 1 };
    ortTuning.prepacking = false;
    const fp = estimateMemory(inv, targets, opts);
    const q4 = estimateMemory(inv, targets, { ...opts, quantization: { bits: 4, block_size: 32 } });
    const by = (e: typeof fp, name: string): number => e.components.find((c) => c.name === name)?.bytes ?? 0;
    // Per layer: q 64×64, k 32×64, v 32×64, o 64×64, gate 128×64, up 128×64, down 64×128 = 36864 weights.
    // Block 32: weights/32 blocks of 16 bytes + 4 bytes = 20/32 bytes a weight → 23040 bytes a layer.
    assert.equal(by(q4, '4-bit base weights'), 2 * 23040);
    const linear = 2 * 36864;
    assert.equal(by(fp, 'base weights') - by(q4, 'base weights'), linear * 4);
    assert.equal(by(q4, 'base weights'), (2 * 1000 * 64 + 5 * 64) * 4); // embed + lm_head + 2·2 norms + final norm
    // The backward dequantizes the largest backward weight (128×64) per use: two fp32 copies.
    assert.equal(by(q4, 'dequantized weight (backward, per use)'), 2 * 128 * 64 * 4);
    assert.equal(by(fp, '4-bit base weights'), 0);
    assert.ok(q4.totalBytes < fp.totalBytes);
  });

  it('with prepacking, the packed blocks keep their originals only where the backward reads them', () => {
    const inv = loadModel(llamaConfigModel(dir, 2, {}, 'm2'));
    ortTuning.prepacking = true;
    const top = targetsFor(inv, ['q_proj'], 4, 8).filter((t) => t.module.layer === 1);
    const e = estimateMemory(inv, top, { batchSize: 1, seqLen: 16, device: 'cpu', precision: 'fp32', gradAccum: 1, quantization: { bits: 4, block_size: 32 } });
    assert.equal(e.components.find((c) => c.name === '4-bit blocks kept beside their packed copy')?.bytes, 23040);
    assert.equal(e.components.find((c) => c.name === 'prepacked weights for the backward'), undefined);
    ortTuning.prepacking = 'auto';
  });

  it('the recipe summary carries quantization to the estimate (null when absent or null)', () => {
    const file = path.join(dir, 'peft-train.yaml');
    const base = 'base_model: ./model\ndataset:\n  train: t.jsonl\n';
    assert.deepEqual(summarizeRecipe(base + 'quantization:\n  block_size: 64\n', file)?.quantization, { bits: 4, block_size: 64 });
    assert.equal(summarizeRecipe(base, file)?.quantization, null);
    assert.equal(summarizeRecipe(base + 'quantization: null\n', file)?.quantization, null);
  });
});
