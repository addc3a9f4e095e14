// Parity of engine.step with the PyTorch reference (test/reference/torch_ref.py, transformers + PEFT + torch AdamW
// math) in fp32: per-step loss and grad_norm, final adapter, eval loss, on tiny llama / qwen2 / gpt2 fixtures.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { makeFixture } from '../../../src/core/fixtures/makeFixture';
import { loadModel } from '../../../src/core/hf/loadModel';
import type { ModelInventory } from '../../../src/core/hf/types';
import { doraMagnitude, magnitudeKey } from '../../../src/core/models/dora';
import { loraKey } from '../../../src/core/models/lora';
import { openCheckpoint } from '../../../src/core/safetensors/checkpoint';
import { readTensorAsFloat32 } from '../../../src/core/safetensors/read';
import { createEngine } from '../../../src/core/train/engine';
import type { Batch, LoraTarget, OptimizerOptions, StepResult } from '../../../src/core/train/engineApi';
import { Rng } from '../../../src/core/util/random';
import { randomBatch, randomState, relErr, runReference, targetsFor, tinyModel, tmpDir, writeAdapter } from './engineHelpers';

interface Case {
  inventory: ModelInventory;
  targets: LoraTarget[];
  optimizer: OptimizerOptions;
  steps: { lr: number; microBatches: Batch[]; dropoutSeed?: number }[];
  evalBatch: Batch;
  dropout?: number;
  /** use_dora: magnitudes = ||W + s·B·A|| of the init weights times factors in [0.7, 1.3]. */
  dora?: boolean;
}

/** Two rows packed into each row: position ids restart at 0 where the second sequence begins. */
function packed(rng: Rng, vocab: number, rows: number, seqLen: number): Batch {
  const b = randomBatch(rng, vocab, rows, seqLen, 0);
  const pos = new BigInt64Array(rows * seqLen);
  for (let r = 0; r < rows; r++) {
    const cut = 3 + r * 2;
    for (let t = 0; t < seqLen; t++) pos[r * seqLen + t] = BigInt(t < cut ? t : t - cut);
    b.labels[r * seqLen + cut] = -100n; // first token of the second sequence has no prediction from the first
  }
  return { ...b, positionIds: pos };
}

async function runCase(c: Case, dir: string): Promise<{ mine: StepResult[]; ref: ReturnType<typeof runReference>; adapterErr: number; evalMine: number }> {
  const init = randomState(c.targets, 11, 0.3, 0.3);
  if (c.dora === true) {
    const base = openCheckpoint(c.inventory.dir).tensors;
    const rng = new Rng(12);
    for (const t of c.targets) {
      const norms = doraMagnitude(readTensorAsFloat32(base.get(t.module.weightKey)!), t, init.params.get(loraKey(t.module.name, 'A'))!, init.params.get(loraKey(t.module.name, 'B'))!);
      const key = magnitudeKey(t.module.name);
      init.params.set(key, norms.map((x) => x * (0.7 + 0.6 * rng.uniform())));
      init.shapes.set(key, [t.module.outFeatures]);
      init.expAvg.set(key, new Float32Array(t.module.outFeatures));
      init.expAvgSq.set(key, new Float32Array(t.module.outFeatures));
    }
  }
  const initFile = `${dir}/init.safetensors`;
  writeAdapter(initFile, init);
  const engine = await createEngine({
    inventory: c.inventory, targets: c.targets, loraDropout: c.dropout ?? 0, optimizer: c.optimizer, device: 'cpu', precision: 'fp32', cacheDir: `${dir}/cache`, threads: 1,
    dora: c.dora === true,
  });
  try {
    await engine.setState(init);
    const mine: StepResult[] = [];
    for (const s of c.steps) mine.push(await engine.step(s.microBatches, s.lr, s.dropoutSeed ?? 0));
    const evalMine = (await engine.evalLoss(c.evalBatch)).lossSum;
    const ref = runReference({ inventory: c.inventory, targets: c.targets, initAdapter: initFile, optimizer: c.optimizer, steps: c.steps, evalBatches: [c.evalBatch], ...(c.dropout !== undefined ? { dropout: c.dropout } : {}), dora: c.dora === true }, dir);
    const state = await engine.getState();
    let adapterErr = 0;
    for (const [k, v] of state.params) {
      const r = ref.adapter.get(k);
      assert.ok(r !== undefined, `reference adapter has ${k}`);
      adapterErr = Math.max(adapterErr, relErr(v, r));
    }
    return { mine, ref, adapterErr, evalMine };
  } finally {
    await engine.dispose();
  }
}

function checkParity(name: string, c: Case, r: Awaited<ReturnType<typeof runCase>>): void {
  assert.equal(r.mine.length, r.ref.steps.length);
  r.mine.forEach((m, i) => {
    const ref = r.ref.steps[i]!;
    if (process.env['PARITY_DEBUG'] !== undefined) console.log(name, i + 1, m.loss, ref.loss, (m.loss - ref.loss) / ref.loss, m.gradNorm, ref.grad_norm, (m.gradNorm - ref.grad_norm) / ref.grad_norm);
    assert.equal(m.labelTokens, ref.label_tokens, `${name} step ${i + 1} label tokens`);
    assert.ok(Math.abs(m.loss - ref.loss) <= 1e-4 * Math.abs(ref.loss), `${name} step ${i + 1} loss ${m.loss} vs torch ${ref.loss}`);
    assert.ok(Math.abs(m.gradNorm - ref.grad_norm) <= 1e-3 * ref.grad_norm, `${name} step ${i + 1} grad_norm ${m.gradNorm} vs torch ${ref.grad_norm}`);
  });
  assert.ok(r.adapterErr <= 1e-3, `${name} final adapter relative error ${r.adapterErr}`);
  const refEval = r.ref.eval[0]!.loss_sum;
  assert.ok(Math.abs(r.evalMine - refEval) <= 1e-4 * Math.abs(refEval), `${name} eval loss ${r.evalMine} vs torch ${refEval}`);
  // The case must exercise clipping in some steps and not in others, and the adapter must have moved.
  if (c.optimizer.maxGradNorm > 0) {
    const clipped = r.ref.steps.filter((s) => s.grad_norm > c.optimizer.maxGradNorm).length;
    assert.ok(clipped > 0 && clipped < r.ref.steps.length, `${name}: clipping active in ${clipped}/${r.ref.steps.length} steps`);
  }
}

const lrs = (n: number, peak: number): number[] => Array.from({ length: n }, (_, i) => (peak * (i + 1)) / n);

describe('engine parity with the PyTorch reference (fp32)', function () {
  this.timeout(120_000);
  const dirs: string[] = [];
  after(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });

  it('llama: GQA, llama3 rope_scaling, all-linear targets, padding, packing, weight decay, clipping', async () => {
    const dir = tmpDir('parity-llama');
    dirs.push(dir);
    const inventory = await tinyModel('llama', `${dir}/model`, {
      rope_scaling: { rope_type: 'llama3', factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 8 },
    });
    assert.equal(inventory.spec.numKvHeads * 2, inventory.spec.numHeads);
    const targets = targetsFor(inventory, ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], 4, 8);
    targets[1] = { ...targets[1]!, r: 2, alpha: 16, scaling: 8 };
    const rng = new Rng(5);
    const V = inventory.spec.vocabSize;
    const steps = lrs(8, 0.005).map((lr, i) => ({ lr, microBatches: [i === 3 ? packed(rng, V, 2, 12) : randomBatch(rng, V, 3, 12 + (i % 3))] }));
    const c: Case = { inventory, targets, optimizer: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.05, maxGradNorm: 5.5 }, steps, evalBatch: randomBatch(rng, V, 2, 9) };
    checkParity('llama', c, await runCase(c, dir));
  });

  it('qwen2: q/k/v bias, tied embeddings, gradient accumulation 2, prompt tokens masked', async () => {
    const dir = tmpDir('parity-qwen2');
    dirs.push(dir);
    const inventory = await tinyModel('qwen2', `${dir}/model`);
    assert.ok(inventory.spec.qkvBias && inventory.spec.tieWordEmbeddings);
    const targets = targetsFor(inventory, ['q_proj', 'k_proj', 'v_proj', 'o_proj'], 4, 4);
    const rng = new Rng(6);
    const V = inventory.spec.vocabSize;
    const steps = lrs(8, 0.01).map((lr) => ({ lr, microBatches: [randomBatch(rng, V, 2, 10, 3, 3), randomBatch(rng, V, 3, 7, 2, 2)] }));
    const c: Case = { inventory, targets, optimizer: { beta1: 0.9, beta2: 0.99, eps: 1e-6, weightDecay: 0.1, maxGradNorm: 2.6 }, steps, evalBatch: randomBatch(rng, V, 2, 8) };
    checkParity('qwen2', c, await runCase(c, dir));
  });

  it('gpt2: Conv1D targets (c_attn, c_proj, c_fc), learned positions, tied head, padding', async () => {
    const dir = tmpDir('parity-gpt2');
    dirs.push(dir);
    const inventory = await tinyModel('gpt2', `${dir}/model`, undefined, undefined, 3);
    const targets = targetsFor(inventory, ['c_attn', 'attn.c_proj', 'c_fc', 'mlp.c_proj'], 4, 16);
    const rng = new Rng(7);
    const V = inventory.spec.vocabSize;
    const steps = lrs(8, 0.005).map((lr) => ({ lr, microBatches: [randomBatch(rng, V, 3, 11)] }));
    const c: Case = { inventory, targets, optimizer: { beta1: 0.85, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxGradNorm: 4.5 }, steps, evalBatch: randomBatch(rng, V, 3, 6) };
    checkParity('gpt2', c, await runCase(c, dir));
  });

  it('qwen3: per-head q_norm/k_norm before RoPE, explicit head_dim != hidden/heads, attention_bias, GQA, clipping', async () => {
    const dir = tmpDir('parity-qwen3');
    dirs.push(dir);
    const inventory = await tinyModel('qwen3', `${dir}/model`, { attention_bias: true });
    const s = inventory.spec;
    assert.ok(s.qkNorm === true && s.qkvBias && s.oBias && s.headDim * s.numHeads !== s.hiddenSize && s.numKvHeads < s.numHeads);
    assert.ok(inventory.modules.some((m) => m.name === 'model.layers.1.self_attn.k_norm' && m.inFeatures === s.headDim));
    const targets = targetsFor(inventory, ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], 4, 8);
    const rng = new Rng(13);
    const V = s.vocabSize;
    const steps = lrs(8, 0.005).map((lr) => ({ lr, microBatches: [randomBatch(rng, V, 3, 11)] }));
    const c: Case = { inventory, targets, optimizer: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.05, maxGradNorm: 5 }, steps, evalBatch: randomBatch(rng, V, 2, 8) };
    checkParity('qwen3', c, await runCase(c, dir));
  });

  it('phi3: fused qkv_proj / gate_up_proj as LoRA targets, partial_rotary_factor 0.75, GQA, tied head', async () => {
    const dir = tmpDir('parity-phi3');
    dirs.push(dir);
    const inventory = await tinyModel('phi3', `${dir}/model`, { partial_rotary_factor: 0.75 }, true);
    const s = inventory.spec;
    assert.ok(s.partialRotaryFactor === 0.75 && s.headDim === 16 && s.numKvHeads < s.numHeads && s.tieWordEmbeddings);
    const targets = targetsFor(inventory, ['qkv_proj', 'o_proj', 'gate_up_proj', 'down_proj'], 4, 8);
    assert.deepEqual(targets.slice(0, 2).map((t) => [t.module.name, t.module.outFeatures]), [['model.layers.0.self_attn.o_proj', 64], ['model.layers.0.self_attn.qkv_proj', 64 + 2 * 32]]);
    const rng = new Rng(14);
    const V = s.vocabSize;
    const steps = lrs(8, 0.005).map((lr) => ({ lr, microBatches: [randomBatch(rng, V, 3, 12)] }));
    const c: Case = { inventory, targets, optimizer: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.05, maxGradNorm: 5 }, steps, evalBatch: randomBatch(rng, V, 2, 8) };
    checkParity('phi3', c, await runCase(c, dir));
  });

  it('phi3 longrope: long factors on 12-token training rows (beyond original 8), short ones on the 8-token eval rows, attention factor', async () => {
    const dir = tmpDir('parity-phi3-longrope');
    dirs.push(dir);
    const rope = { type: 'longrope', short_factor: [1.0, 1.3, 2.1, 3.7], long_factor: [1.1, 2.9, 7.5, 15.0] };
    const inventory = await tinyModel('phi3', `${dir}/model`, { rope_scaling: rope, original_max_position_embeddings: 8 }, true);
    const s = inventory.spec;
    // factor = max_position_embeddings / original = 128 / 8; attention factor sqrt(1 + ln 16 / ln 8).
    assert.ok(s.ropeScaling?.ropeType === 'longrope' && s.ropeScaling.originalMaxPositionEmbeddings === 8 && (s.unsupportedForTraining ?? []).length === 0);
    assert.ok(Math.abs(s.ropeScaling.attentionFactor! - Math.sqrt(1 + Math.log(16) / Math.log(8))) < 1e-12);
    const targets = targetsFor(inventory, ['qkv_proj', 'o_proj', 'gate_up_proj'], 4, 8);
    const rng = new Rng(19);
    const V = s.vocabSize;
    const steps = lrs(6, 0.005).map((lr) => ({ lr, microBatches: [randomBatch(rng, V, 2, 12)] }));
    const c: Case = { inventory, targets, optimizer: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.05, maxGradNorm: 5 }, steps, evalBatch: randomBatch(rng, V, 2, 8) };
    checkParity('phi3-longrope', c, await runCase(c, dir));
  });

  it('gemma2: soft-capping (attention 2, final 4), query_pre_attn_scalar, (1 + w) norms, GeGLU, sliding window on even layers', async () => {
    const dir = tmpDir('parity-gemma2');
    dirs.push(dir);
    const inventory = await tinyModel('gemma2', `${dir}/model`, { attn_logit_softcapping: 2.0, final_logit_softcapping: 4.0, sliding_window: 5 });
    const s = inventory.spec;
    assert.ok(s.attnLogitSoftcap === 2 && s.finalLogitSoftcap === 4 && s.queryPreAttnScalar !== s.headDim && s.slidingLayers?.join() === 'true,false');
    const targets = targetsFor(inventory, ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj', 'lm_head'], 4, 8);
    const rng = new Rng(16);
    const V = s.vocabSize;
    const steps = lrs(8, 0.005).map((lr) => ({ lr, microBatches: [randomBatch(rng, V, 3, 12)] }));
    const c: Case = { inventory, targets, optimizer: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.05, maxGradNorm: 30 }, steps, evalBatch: randomBatch(rng, V, 2, 10) };
    checkParity('gemma2', c, await runCase(c, dir));
  });

  it('gemma3_text: (1 + w) q/k norms, local RoPE base on the sliding layer, linear-scaled global RoPE, window 4', async () => {
    const dir = tmpDir('parity-gemma3');
    dirs.push(dir);
    const inventory = await tinyModel('gemma3_text', `${dir}/model`);
    const s = inventory.spec;
    assert.ok(s.qkNorm === true && s.ropeLocalTheta === 10000 && s.ropeTheta === 1e6 && s.slidingLayers?.join() === 'true,false' && s.finalLogitSoftcap === null);
    const targets = targetsFor(inventory, ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'up_proj'], 4, 8);
    const rng = new Rng(17);
    const V = s.vocabSize;
    const steps = lrs(6, 0.005).map((lr) => ({ lr, microBatches: [randomBatch(rng, V, 3, 12)] }));
    const c: Case = { inventory, targets, optimizer: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.05, maxGradNorm: 0 }, steps, evalBatch: randomBatch(rng, V, 2, 10) };
    checkParity('gemma3_text', c, await runCase(c, dir));
  });

  for (const w of [
    { name: 'mistral (every layer)', overrides: { model_type: 'mistral', architectures: ['MistralForCausalLM'], sliding_window: 5 } },
    { name: 'qwen3 (layers >= max_window_layers 1 only)', arch: 'qwen3' as const, overrides: { use_sliding_window: true, sliding_window: 4, max_window_layers: 1 } },
  ]) {
    it(`sliding window shorter than the sequence, ${w.name}: torch's masked attention, and not the full-attention result`, async () => {
      const dir = tmpDir('parity-window');
      dirs.push(dir);
      const inventory = await tinyModel(w.arch ?? 'llama', `${dir}/model`, w.overrides);
      assert.ok((inventory.spec.slidingWindow ?? 0) > 0);
      const targets = targetsFor(inventory, ['q_proj', 'v_proj', 'down_proj'], 4, 8);
      const rng = new Rng(15);
      const V = inventory.spec.vocabSize;
      const steps = lrs(4, 0.005).map((lr) => ({ lr, microBatches: [randomBatch(rng, V, 2, 12)] }));
      const c: Case = { inventory, targets, optimizer: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 0 }, steps, evalBatch: randomBatch(rng, V, 2, 12) };
      const r = await runCase(c, dir);
      checkParity(w.name, c, r);
      // The same weights and adapter without the window: another function (step-1 loss 10× the parity tolerance away).
      const full = { ...inventory, spec: { ...inventory.spec, slidingWindow: null } };
      delete full.spec.slidingLayers;
      const engine = await createEngine({ inventory: full, targets, loraDropout: 0, optimizer: c.optimizer, device: 'cpu', precision: 'fp32', cacheDir: `${dir}/cache-full`, threads: 1 });
      try {
        await engine.setState(randomState(targets, 11, 0.3, 0.3));
        const noWindow = (await engine.step(steps[0]!.microBatches, steps[0]!.lr, 0)).loss;
        const windowed = r.ref.steps[0]!.loss;
        assert.ok(Math.abs(noWindow - windowed) > 1e-3 * windowed, `step-1 loss with full attention ${noWindow} vs windowed ${windowed}`);
      } finally {
        await engine.dispose();
      }
    });
  }

  it('llama with lora_dropout 0.2 (lm_head targeted too) and no clipping: host-drawn masks give the torch result', async () => {
    const dir = tmpDir('parity-dropout');
    dirs.push(dir);
    const inventory = await tinyModel('llama', `${dir}/model`);
    const targets = targetsFor(inventory, ['q_proj', 'v_proj', 'down_proj', 'lm_head'], 4, 8);
    assert.ok(targets.some((t) => t.module.name === 'lm_head'), 'lm_head targeted (its mask is gathered to the label rows)');
    const rng = new Rng(8);
    const V = inventory.spec.vocabSize;
    const steps = lrs(8, 0.005).map((lr, i) => ({ lr, microBatches: [randomBatch(rng, V, 2, 10)], dropoutSeed: 100 + i }));
    const c: Case = { inventory, targets, optimizer: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxGradNorm: 0 }, steps, evalBatch: randomBatch(rng, V, 2, 8), dropout: 0.2 };
    checkParity('llama+dropout', c, await runCase(c, dir));
  });

  it('DoRA with lora_dropout 0.2 (llama, lm_head too): the base matmul on the dropped input, magnitudes from the init adapter', async () => {
    const dir = tmpDir('parity-dora-dropout');
    dirs.push(dir);
    const inventory = await tinyModel('llama', `${dir}/model`, { attention_bias: true });
    const targets = targetsFor(inventory, ['q_proj', 'o_proj', 'up_proj', 'lm_head'], 4, 8);
    const rng = new Rng(18);
    const V = inventory.spec.vocabSize;
    const steps = lrs(6, 0.005).map((lr, i) => ({ lr, microBatches: [randomBatch(rng, V, 2, 10)], dropoutSeed: 300 + i }));
    const c: Case = { inventory, targets, optimizer: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.02, maxGradNorm: 0 }, steps, evalBatch: randomBatch(rng, V, 2, 8), dropout: 0.2, dora: true };
    checkParity('llama+dora+dropout', c, await runCase(c, dir));
  });

  it('bf16 checkpoint (qwen2): weights cast to fp32 in the graph give torch results on the upcast weights', async () => {
    const dir = tmpDir('parity-bf16');
    dirs.push(dir);
    await makeFixture({ arch: 'qwen2', outDir: `${dir}/model`, dtype: 'BF16', seed: 3 });
    const inventory = loadModel(`${dir}/model`);
    const targets = targetsFor(inventory, ['q_proj', 'v_proj'], 4, 8);
    const rng = new Rng(9);
    const V = inventory.spec.vocabSize;
    const steps = [0.01, 0.01, 0.01, 0.01].map((lr) => ({ lr, microBatches: [randomBatch(rng, V, 2, 8)] }));
    const c: Case = { inventory, targets, optimizer: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 0.2 }, steps, evalBatch: randomBatch(rng, V, 2, 8) };
    const r = await runCase(c, dir);
    r.mine.forEach((m, i) => assert.ok(Math.abs(m.loss - r.ref.steps[i]!.loss) <= 1e-4 * r.ref.steps[i]!.loss, `bf16 step ${i + 1} loss`));
    assert.ok(r.adapterErr <= 1e-3, `bf16 adapter error ${r.adapterErr}`);
  });

  it('llama variants: attention_bias + mlp_bias, head_dim != hidden/heads, linear rope_scaling, no GQA, tied head', async () => {
    const dir = tmpDir('parity-variant');
    dirs.push(dir);
    const inventory = await tinyModel('llama', `${dir}/model`, {
      attention_bias: true, mlp_bias: true, head_dim: 24, num_key_value_heads: 4, rope_theta: 5000.0,
      rope_scaling: { rope_type: 'linear', factor: 2.0 },
    }, true);
    assert.ok(inventory.spec.oBias && inventory.spec.mlpBias && inventory.spec.headDim === 24 && inventory.spec.tieWordEmbeddings);
    const targets = targetsFor(inventory, ['q_proj', 'o_proj', 'up_proj', 'down_proj'], 4, 8);
    const rng = new Rng(10);
    const V = inventory.spec.vocabSize;
    const steps = lrs(8, 0.005).map((lr) => ({ lr, microBatches: [randomBatch(rng, V, 2, 11)] }));
    const c: Case = { inventory, targets, optimizer: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, maxGradNorm: 3 }, steps, evalBatch: randomBatch(rng, V, 2, 7) };
    checkParity('llama-variant', c, await runCase(c, dir));
  });

  it('gpt2 hub layout (no `transformer.` prefix, attn.bias buffers): weights found under their checkpoint names', async () => {
    const dir = tmpDir('parity-hub');
    dirs.push(dir);
    await makeFixture({ arch: 'gpt2', outDir: `${dir}/model`, gpt2Layout: 'hub', seed: 4 });
    const inventory = loadModel(`${dir}/model`);
    const targets = targetsFor(inventory, ['c_attn', 'c_fc'], 4, 8);
    const rng = new Rng(12);
    const V = inventory.spec.vocabSize;
    const steps = [0.01, 0.01, 0.01].map((lr) => ({ lr, microBatches: [randomBatch(rng, V, 2, 9)] }));
    const c: Case = { inventory, targets, optimizer: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 0 }, steps, evalBatch: randomBatch(rng, V, 2, 6) };
    checkParity('gpt2-hub', c, await runCase(c, dir));
  });
});
