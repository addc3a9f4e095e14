// The memory estimator on a hand-computed case: a 4-layer Llama config (hidden 64, intermediate 128, 4 heads,
// 2 kv heads, vocab 1000) with LoRA r=8 on q_proj/v_proj, batch 2 × 64 tokens on the CPU.
import * as assert from 'node:assert/strict';
import { loadModel } from '../../../src/core/hf/loadModel';
import { ortTuning } from '../../../src/core/runtime/prepacking';
import { ATTENTION_PLAN_FACTOR, PLANNER_FACTOR, ARENA_FRAGMENTATION, ARENA_FIXED_BYTES, RUNTIME_OVERHEAD_BYTES, SESSION_OVERHEAD_BYTES, estimateMemory, formatBytes } from '../../../src/core/memory/estimate';
import { memoryOptionsFor } from '../../../src/core/memory/recipeEstimate';
import type { LoraTarget } from '../../../src/core/train/engineApi';
import { llamaConfigModel, tempDir } from '../validate/helpers';

describe('estimateMemory', () => {
  const inv = loadModel(llamaConfigModel(tempDir(), 4, { torch_dtype: 'bfloat16' }));
  const targets: LoraTarget[] = inv.modules
    .filter((m) => m.name.endsWith('q_proj') || m.name.endsWith('v_proj'))
    .map((module) => ({ module, r: 8, alpha: 16, scaling: 2 }));

  it('counts every component by hand', () => {
    const e = estimateMemory(inv, targets, { batchSize: 2, seqLen: 64, device: 'cpu', precision: 'fp32', gradAccum: 1 });
    const c = Object.fromEntries(e.components.map((x) => [x.name, x.bytes]));
    // params: embed 64000 + 4 × (q 4096 + k 2048 + v 2048 + o 4096 + 3 × 8192 mlp + 128 norms) + norm 64 + lm_head 64000
    const P = 64000 + 4 * (4096 + 2048 + 2048 + 4096 + 3 * 8192 + 128) + 64 + 64000;
    assert.equal(inv.totalParameters, P);
    assert.equal(c['base weights'], P * 4); // fp32 on the CPU
    assert.equal(c['checkpoint copy during load'], P * 2); // bf16 checkpoint read before the Cast is folded
    const lora = 4 * (8 * (64 + 64) + 8 * (64 + 32)); // q: r·(in+out), v: out = 2 kv heads × 16
    assert.equal(c['LoRA parameters'], lora * 4);
    assert.equal(c['LoRA gradients'], lora * 4);
    assert.equal(c['AdamW moments'], lora * 8);
    assert.equal(c['updated state (session outputs)'], lora * 12);
    // every layer runs its backward (q_proj in layer 0): ORT prepacks its linear weights once more, in fp32
    assert.equal(c['prepacked weights for the backward'], 4 * (4096 + 2048 + 2048 + 4096 + 3 * 8192) * 4);
    ortTuning.prepacking = false;
    try {
      const off = estimateMemory(inv, targets, { batchSize: 2, seqLen: 64, device: 'cpu', precision: 'fp32', gradAccum: 1 });
      assert.equal(off.components.find((x) => x.name === 'prepacked weights for the backward'), undefined);
    } finally {
      ortTuning.prepacking = 'auto';
    }
    const N = 128;
    assert.equal(c['activations: norms and q/k/v'], 4 * N * (2 * 64 + (4 + 2 * 2) * 16) * 4);
    assert.equal(c['activations: attention probabilities'], 4 * 2 * 4 * 64 * 64 * 4);
    assert.equal(c['activations: MLP'], 4 * N * 4 * 128 * 4);
    assert.equal(c['activations: LoRA inputs and x·Aᵀ'], 4 * N * 64 * 4 + 8 * N * 8 * 4); // q and v share their input
    assert.equal(c['logits, softmax and their gradient'], 3 * N * 1000 * 4);
    assert.equal(c['backward working set'], (N * (3 * 64 + 2 * 128) + 2 * 4 * 64 * 64) * 4);
    assert.equal(c['attention mask and positions'], 2 * 64 * 64 * 4 + 4 * N * 8);
    const acts = 4 * N * (2 * 64 + 128) * 4 + 4 * 2 * 4 * 64 * 64 * 4 + 4 * N * 4 * 128 * 4 + (4 * N * 64 * 4 + 8 * N * 8 * 4) + 3 * N * 1000 * 4 +
      (N * (3 * 64 + 2 * 128) + 2 * 4 * 64 * 64) * 4 + (2 * 64 * 64 * 4 + 4 * N * 8);
    const probs = 4 * 2 * 4 * 64 * 64 * 4;
    const plan = (acts - probs) * PLANNER_FACTOR + probs * PLANNER_FACTOR * ATTENTION_PLAN_FACTOR;
    assert.equal(c['ORT planner slack'], Math.round(plan - acts));
    assert.equal(c['ORT arena: first-run chunks beside the memory-pattern block'], undefined); // the engine runs without ORT's memory pattern
    assert.equal(c['ORT arena fragmentation'], Math.round(plan * ARENA_FRAGMENTATION + ARENA_FIXED_BYTES));
    assert.equal(c['onnxruntime session'], SESSION_OVERHEAD_BYTES);
    assert.equal(c['runtime (Node + onnxruntime)'], RUNTIME_OVERHEAD_BYTES);
    assert.equal(e.totalBytes, Object.values(c).reduce((a, b) => a + b, 0));
    assert.equal(e.where, 'host');
    assert.equal(c['LoRA dropout masks'], undefined);
  });

  it('keeps no activations below the lowest adapted layer, and halves weights with fp16 on a GPU', () => {
    const top = targets.filter((t) => t.module.layer === 3);
    const cpu = estimateMemory(inv, top, { batchSize: 2, seqLen: 64, device: 'cpu', precision: 'fp32', gradAccum: 1 });
    const all = estimateMemory(inv, targets, { batchSize: 2, seqLen: 64, device: 'cpu', precision: 'fp32', gradAccum: 1 });
    const probs = (e: typeof cpu): number => e.components.find((x) => x.name === 'activations: attention probabilities')!.bytes;
    assert.equal(probs(cpu) * 4, probs(all));
    const gpu = estimateMemory(inv, targets, { batchSize: 2, seqLen: 64, device: 'cuda', precision: 'fp16', gradAccum: 2, loraDropout: 0.1 });
    const g = Object.fromEntries(gpu.components.map((x) => [x.name, x.bytes]));
    assert.equal(g['base weights'], inv.totalParameters * 2);
    assert.equal(g['checkpoint copy during load'], undefined);
    assert.equal(g['LoRA gradients'], 2 * 4 * 7168);
    assert.equal(g['LoRA dropout masks'], 8 * 128 * 64 * 4);
    assert.equal(g['runtime (Node + onnxruntime)'], undefined);
    assert.equal(gpu.where, 'device');
  });

  it('use_dora and bias training: magnitudes [out] per target and trained biases count as LoRA state; DoRA adds its norm temporary', () => {
    const opts = { batchSize: 2, seqLen: 64, device: 'cpu' as const, precision: 'fp32' as const, gradAccum: 1 };
    const plain = Object.fromEntries(estimateMemory(inv, targets, opts).components.map((x) => [x.name, x.bytes]));
    const variants = memoryOptionsFor({ batchSize: 2, seqLen: 64, gradAccum: 1, fp16: false, withEval: false }, 'cpu', 0, { inventory: inv, targets, useDora: true, bias: 'all' });
    const dora = Object.fromEntries(estimateMemory(inv, targets, variants).components.map((x) => [x.name, x.bytes]));
    const mags = 4 * (64 + 32); // q: out 64, v: out 2 kv heads × 16; this Llama has no biases
    assert.equal(variants.extraTrainable, mags);
    assert.equal(dora['LoRA parameters']! - plain['LoRA parameters']!, mags * 4);
    assert.equal(dora['AdamW moments']! - plain['AdamW moments']!, mags * 8);
    assert.equal(dora['DoRA weight norms'], 64 * 64 * 4 * 2); // q_proj [64, 64] is the largest target
    assert.equal(plain['DoRA weight norms'], undefined);
  });

  it('formats sizes', () => {
    assert.deepEqual([formatBytes(512), formatBytes(3.1 * 2 ** 30), formatBytes(150 * 2 ** 20)], ['512 B', '3.1 GiB', '150 MiB']);
  });
});
