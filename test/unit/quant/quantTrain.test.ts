// Training on a 4-bit base: the LoRA gradients equal those of an fp32 base holding the dequantized weights (the
// backward's dY·W runs through the same blocks), the quantized file is cached and keyed, and a short run learns.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeFixture } from '../../../src/core/fixtures/makeFixture';
import { loadModel } from '../../../src/core/hf/loadModel';
import type { ModelInventory } from '../../../src/core/hf/types';
import { quantizeBlocks } from '../../../src/core/quant/blockQuant';
import { ensureQuantizedBase, quantTuning } from '../../../src/core/quant/quantCache';
import { openCheckpoint } from '../../../src/core/safetensors/checkpoint';
import { readTensorAsFloat32, readTensorBytes } from '../../../src/core/safetensors/read';
import { createEngine } from '../../../src/core/train/engine';
import type { EngineOptions, LoraTarget } from '../../../src/core/train/engineApi';
import { Rng } from '../../../src/core/util/random';
import { randomBatch, randomState, targetsFor, tinyModel, tmpDir } from '../train/engineHelpers';
import { dequantizedTwin } from './helpers';

// eps ≫ |g|: AdamW's first update is lr·g/(|g| + eps) ≈ lr·g/eps, so the parameter change shows each gradient element.
const OPT = { beta1: 0.9, beta2: 0.999, eps: 1, weightDecay: 0, maxGradNorm: 0 };
const Q = { bits: 4 as const, block_size: 32 as const };

function options(inventory: ModelInventory, targets: LoraTarget[], cacheDir: string, extra: Partial<EngineOptions> = {}): EngineOptions {
  return { inventory, targets, loraDropout: 0, optimizer: OPT, device: 'cpu', precision: 'fp32', cacheDir, threads: 1, ...extra };
}

const maxAbs = (a: Float32Array): number => a.reduce((m, x) => Math.max(m, Math.abs(x)), 0);

describe('4-bit base training', function () {
  this.timeout(120000);
  let dir: string;
  let inv: ModelInventory;
  let twin: ModelInventory;
  before(async () => {
    dir = tmpDir('quant');
    inv = await tinyModel('llama', path.join(dir, 'model'));
    twin = await dequantizedTwin(inv, path.join(dir, 'twin'), Q.block_size);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('LoRA gradients with the 4-bit base equal those with the dequantized fp32 base (and differ from the fp32 original)', async () => {
    const targets = targetsFor(inv, ['q_proj', 'v_proj', 'down_proj'], 4, 8);
    const init = randomState(targets, 11);
    const batch = randomBatch(new Rng(4), inv.spec.vocabSize, 2, 12, 3);
    const lr = 1;
    const run = async (m: ModelInventory, quantization: typeof Q | null): Promise<{ loss: number; gradNorm: number; delta: Map<string, Float32Array> }> => {
      const t = targetsFor(m, ['q_proj', 'v_proj', 'down_proj'], 4, 8);
      const e = await createEngine(options(m, t, path.join(dir, 'cache'), { quantization }));
      await e.setState(init);
      const r = await e.step([batch], lr, 0);
      const s = await e.getState();
      await e.dispose();
      const delta = new Map([...s.params].map(([k, v]) => [k, Float32Array.from(v, (x, i) => x - init.params.get(k)![i]!)]));
      return { loss: r.loss, gradNorm: r.gradNorm, delta };
    };
    const q4 = await run(inv, Q);
    const deq = await run(twin, null);
    const fp = await run(inv, null);
    assert.ok(Math.abs(q4.loss - deq.loss) < 1e-5 * deq.loss, `loss ${q4.loss} vs ${deq.loss}`);
    assert.ok(Math.abs(q4.gradNorm - deq.gradNorm) < 1e-4 * deq.gradNorm, `grad norm ${q4.gradNorm} vs ${deq.gradNorm}`);
    for (const [k, d] of deq.delta) {
      const diff = Float32Array.from(d, (x, i) => x - q4.delta.get(k)![i]!);
      assert.ok(maxAbs(d) > 0, k);
      assert.ok(maxAbs(diff) <= 1e-3 * maxAbs(d), `${k}: max |Δ| ${maxAbs(diff)} vs ${maxAbs(d)}`);
    }
    // The 4-bit base is a different function: its loss is not the fp32 base's (the check above is not vacuous).
    assert.ok(Math.abs(q4.loss - fp.loss) > 1e-5 * fp.loss);
    assert.ok(Math.abs(q4.loss - fp.loss) < 0.05 * fp.loss, `4-bit loss ${q4.loss} far from fp32 ${fp.loss}`);
  });

  it('a bf16 checkpoint: the 4-bit step equals the fp32 twin\'s (its 16-bit weights read as fp32 copies, no Cast)', async () => {
    const bf = await makeFixture({ arch: 'llama', outDir: path.join(dir, 'bf16'), seed: 5, dtype: 'BF16' });
    const m = loadModel(bf.dir);
    const tw = dequantizedTwin(m, path.join(dir, 'bf16-twin'), Q.block_size);
    const batch = randomBatch(new Rng(6), m.spec.vocabSize, 2, 10, 2);
    const losses: number[] = [];
    for (const [inv2, q] of [[m, Q], [tw, null]] as const) {
      const t = targetsFor(inv2, ['q_proj', 'v_proj'], 4, 8);
      const e = await createEngine(options(inv2, t, path.join(dir, 'cache-bf16'), { quantization: q }));
      await e.setState(randomState(t, 3));
      losses.push((await e.step([batch], 0.01, 0)).loss);
      await e.dispose();
    }
    assert.ok(Math.abs(losses[0]! - losses[1]!) < 1e-5 * losses[1]!, `${losses[0]} vs ${losses[1]}`);
  });

  it('quantizes once per (weights, quantization): the file is reused, a new block size gets its own', async () => {
    const targets = targetsFor(inv, ['q_proj'], 2, 4);
    const cache = path.join(dir, 'cache-reuse');
    const files = (): string[] => fs.readdirSync(path.join(cache, 'quantized')).sort();
    const open = async (q: typeof Q | { bits: 4; block_size: 64 }): Promise<void> => {
      const e = await createEngine(options(inv, targets, cache, { quantization: q }));
      await e.dispose();
    };
    await open(Q);
    const first = files();
    assert.equal(first.length, 1);
    const mtime = fs.statSync(path.join(cache, 'quantized', first[0]!)).mtimeMs;
    await open(Q);
    assert.deepEqual(files(), first);
    assert.equal(fs.statSync(path.join(cache, 'quantized', first[0]!)).mtimeMs, mtime);
    await open({ bits: 4, block_size: 64 });
    assert.equal(files().length, 2);
    // Two graph folders (the key includes the quantization); the quantized-file links do not make either look stale.
    assert.equal(fs.readdirSync(cache).filter((f) => /^[0-9a-f]{24}$/.test(f)).length, 2);
  });

  it('a short run on the 4-bit base learns (loss falls)', async () => {
    const targets = targetsFor(inv, ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], 8, 16);
    const e = await createEngine(options(inv, targets, path.join(dir, 'cache'), { quantization: Q, optimizer: { ...OPT, eps: 1e-8, maxGradNorm: 1 } }));
    const batch = randomBatch(new Rng(9), inv.spec.vocabSize, 2, 16, 0);
    const losses: number[] = [];
    for (let i = 0; i < 12; i++) losses.push((await e.step([batch], 0.01, 0)).loss);
    await e.dispose();
    assert.ok(losses.every(Number.isFinite));
    assert.ok(losses[11]! < 0.8 * losses[0]!, `losses ${losses.map((l) => l.toFixed(3)).join(' ')}`);
  });
});

describe('quantized base file', function () {
  this.timeout(60000);
  it('reads F32, BF16 and F16 checkpoints: the codes and scales of each weight are those of its fp32 values', async () => {
    const dir = tmpDir('quant-file');
    quantTuning.widenChunk = 1000; // widened tensors (the 512×64 embedding) cross chunk borders
    try {
      for (const dtype of ['F32', 'BF16', 'F16'] as const) {
        const inv = loadModel((await makeFixture({ arch: 'qwen2', outDir: path.join(dir, dtype), seed: 2, dtype })).dir);
        const tensors = openCheckpoint(inv.dir).tensors;
        const base = ensureQuantizedBase(inv, { bits: 4, block_size: 16 }, path.join(dir, 'cache'));
        assert.equal(base.weights.size, 2 * 7); // q k v o gate up down × 2 layers
        // 16-bit full-precision weights (embeddings, norms, biases) get fp32 copies in the file; F32 ones are read in place.
        const full = [...tensors.values()].filter((e) => !base.weights.has(e.name));
        assert.deepEqual([...base.full.keys()].sort(), dtype === 'F32' ? [] : full.map((e) => e.name).sort());
        for (const [key, f] of base.full) assert.deepEqual(readTensorAsFloat32(f), readTensorAsFloat32(tensors.get(key)!), key);
        for (const [key, w] of base.weights) {
          const ref = quantizeBlocks(readTensorAsFloat32(tensors.get(key)!), w.n, w.k, 16);
          assert.deepEqual(new Uint8Array(readTensorBytes(w.codes)), ref.packed, `${dtype} ${key} codes`);
          assert.deepEqual(readTensorAsFloat32(w.scales), ref.scales, `${dtype} ${key} scales`);
        }
      }
    } finally {
      quantTuning.widenChunk = 1 << 22;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
