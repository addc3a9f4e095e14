// The engine's own behaviour: graph cache reuse and fallback, state round trips, gradient accumulation as a
// token-weighted mean, dropout determinism, and clear errors for unsupported options and bad inputs.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../../../src/core/errors';
import type { ModelInventory } from '../../../src/core/hf/types';
import { loadModel } from '../../../src/core/hf/loadModel';
import { readSafetensorsHeader, readTensorAsFloat32 } from '../../../src/core/safetensors/read';
import { writeSafetensors } from '../../../src/core/safetensors/write';
import { createEngine } from '../../../src/core/train/engine';
import type { Batch, EngineOptions, LoraTarget } from '../../../src/core/train/engineApi';
import { Rng } from '../../../src/core/util/random';
import { randomBatch, randomState, relErr, targetsFor, tinyModel, tmpDir } from './engineHelpers';

const OPT = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxGradNorm: 1 };

function options(inventory: ModelInventory, targets: LoraTarget[], cacheDir: string, extra: Partial<EngineOptions> = {}): EngineOptions {
  return { inventory, targets, loraDropout: 0, optimizer: OPT, device: 'cpu', precision: 'fp32', cacheDir, threads: 1, ...extra };
}

/** Rows of two batches with the same seqLen stacked into one batch. */
function stack(a: Batch, b: Batch): Batch {
  const cat = (x: BigInt64Array, y: BigInt64Array): BigInt64Array => BigInt64Array.from([...x, ...y]);
  return { batchSize: a.batchSize + b.batchSize, seqLen: a.seqLen, inputIds: cat(a.inputIds, b.inputIds), labels: cat(a.labels, b.labels), attentionMask: cat(a.attentionMask, b.attentionMask) };
}

describe('training engine', function () {
  this.timeout(60_000);
  let dir: string;
  let inv: ModelInventory;
  let targets: LoraTarget[];
  before(async () => {
    dir = tmpDir('engine');
    inv = await tinyModel('llama', path.join(dir, 'model'));
    targets = targetsFor(inv, ['q_proj', 'v_proj'], 4, 8);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('compiles once per configuration: reuses the cached graph beside hard links to the weights, prunes stale ones', async () => {
    const cache = path.join(dir, 'cache1');
    const e1 = await createEngine(options(inv, targets, cache));
    await e1.step([randomBatch(new Rng(1), inv.spec.vocabSize, 2, 6)], 1e-3, 0);
    await e1.dispose();
    const [key] = fs.readdirSync(cache);
    const folder = path.join(cache, key!);
    const step = path.join(folder, 'step.onnx');
    assert.equal(fs.statSync(path.join(folder, 'model.safetensors')).ino, fs.statSync(path.join(inv.dir, 'model.safetensors')).ino);
    const mtime = fs.statSync(step).mtimeMs;
    const e2 = await createEngine(options(inv, targets, cache));
    await e2.step([randomBatch(new Rng(1), inv.spec.vocabSize, 2, 6)], 1e-3, 0);
    await e2.dispose();
    assert.equal(fs.statSync(step).mtimeMs, mtime, 'step.onnx was not rewritten');
    const e3 = await createEngine(options(inv, targetsFor(inv, ['k_proj'], 4, 8), cache));
    await e3.dispose();
    assert.equal(fs.readdirSync(cache).length, 2, 'other targets → another cache key');
    // Replacing the weights (same bytes, new file) makes a new key, and the stale folders are pruned.
    const weights = path.join(inv.dir, 'model.safetensors');
    fs.copyFileSync(weights, `${weights}.new`);
    fs.renameSync(`${weights}.new`, weights);
    const e4 = await createEngine(options(inv, targets, cache));
    await e4.dispose();
    const left = fs.readdirSync(cache);
    assert.equal(left.length, 1);
    assert.notEqual(left[0], key);
  });

  it('falls back to the model folder when the cache folder cannot hold hard links', async () => {
    const blocker = path.join(dir, 'not-a-dir');
    fs.writeFileSync(blocker, 'x');
    const e = await createEngine(options(inv, targets, path.join(blocker, 'cache')));
    const r = await e.step([randomBatch(new Rng(2), inv.spec.vocabSize, 2, 6)], 1e-3, 0);
    await e.dispose();
    assert.ok(Number.isFinite(r.loss));
    const written = fs.readdirSync(inv.dir).filter((f) => f.startsWith('.peft-studio-') && f.endsWith('-step.onnx'));
    assert.equal(written.length, 1);
    for (const f of written) fs.rmSync(path.join(inv.dir, f));
  });

  it('gradient accumulation over two micro-batches equals one step on the stacked batch (token-weighted mean)', async () => {
    const rng = new Rng(3);
    const a = randomBatch(rng, inv.spec.vocabSize, 2, 8, 3);
    const b = randomBatch(rng, inv.spec.vocabSize, 1, 8, 0, 2);
    const init = randomState(targets, 5);
    const runs = [];
    for (const mbs of [[a, b], [stack(a, b)]]) {
      const e = await createEngine(options(inv, targets, path.join(dir, 'cache-ga')));
      await e.setState(init);
      const r = await e.step(mbs, 0.01, 0);
      runs.push({ r, s: await e.getState() });
      await e.dispose();
    }
    const [ga, one] = runs as [(typeof runs)[0], (typeof runs)[0]];
    assert.equal(ga.r.labelTokens, one.r.labelTokens);
    assert.equal(ga.r.inputTokens, one.r.inputTokens);
    assert.ok(Math.abs(ga.r.loss - one.r.loss) < 1e-5 * one.r.loss, `${ga.r.loss} vs ${one.r.loss}`);
    assert.ok(Math.abs(ga.r.gradNorm - one.r.gradNorm) < 1e-4 * one.r.gradNorm);
    for (const [k, v] of one.s.params) assert.ok(relErr(ga.s.params.get(k)!, v) < 1e-4, k);
    assert.equal(ga.s.step, 1);
  });

  it('state round trip: setState(getState()) continues identically; dropout is seeded', async () => {
    const rng = new Rng(4);
    const batches = [0, 1, 2].map(() => randomBatch(rng, inv.spec.vocabSize, 2, 7));
    const mk = (): Promise<Awaited<ReturnType<typeof createEngine>>> => createEngine(options(inv, targets, path.join(dir, 'cache-rt'), { loraDropout: 0.3 }));
    const e1 = await mk();
    await e1.setState(randomState(targets, 6));
    await e1.step([batches[0]!], 0.01, 7);
    const mid = await e1.getState();
    const r1 = await e1.step([batches[1]!], 0.01, 8);
    const e2 = await mk();
    await e2.setState(mid);
    const r2 = await e2.step([batches[1]!], 0.01, 8);
    assert.equal(r2.loss, r1.loss);
    assert.equal(r2.gradNorm, r1.gradNorm);
    assert.equal((await e2.getState()).step, 2);
    const r3 = await e2.step([batches[2]!], 0.01, 9);
    await e2.setState(mid);
    const r4 = await e2.step([batches[1]!], 0.01, 99);
    assert.notEqual(r4.loss, r1.loss, 'another dropout seed draws other masks');
    assert.ok(Number.isFinite(r3.loss));
    await e1.dispose();
    await e2.dispose();
  });

  it('rejects fp16, norm or unknown targets, out-of-vocabulary tokens and bad state with InputErrors', async () => {
    await assert.rejects(createEngine(options(inv, targets, path.join(dir, 'c'), { precision: 'fp16' })), (e: unknown) => e instanceof InputError && /fp16/.test(e.message));
    const norm = inv.modules.find((m) => m.kind === 'rmsnorm')!;
    await assert.rejects(createEngine(options(inv, [{ module: norm, r: 4, alpha: 8, scaling: 2 }], path.join(dir, 'c'))), (e: unknown) => e instanceof InputError && e.message.includes('rmsnorm'));
    const ghost: LoraTarget = { ...targets[0]!, module: { ...targets[0]!.module, name: 'model.layers.9.self_attn.q_proj' } };
    const e = await createEngine(options(inv, [ghost], path.join(dir, 'c')));
    await assert.rejects(e.step([randomBatch(new Rng(1), inv.spec.vocabSize, 1, 4)], 1e-3, 0), /model\.layers\.9\.self_attn\.q_proj/);
    await e.dispose();
    const ok = await createEngine(options(inv, targets, path.join(dir, 'cache-rt')));
    const bad = randomBatch(new Rng(1), inv.spec.vocabSize, 1, 4);
    bad.inputIds[2] = BigInt(inv.spec.vocabSize);
    await assert.rejects(ok.step([bad], 1e-3, 0), (err: unknown) => err instanceof InputError && /outside the vocabulary/.test(err.message));
    const s = await ok.getState();
    s.params.set(ok.parameterNames[0]!, new Float32Array(3));
    await assert.rejects(ok.setState(s), (err: unknown) => err instanceof InputError && err.message.includes(ok.parameterNames[0]!));
    await ok.dispose();
  });

  it('reads a sharded checkpoint (model.safetensors.index.json) in place, with the same numbers', async () => {
    const shardDir = path.join(dir, 'sharded');
    fs.mkdirSync(shardDir);
    fs.copyFileSync(path.join(inv.dir, 'config.json'), path.join(shardDir, 'config.json'));
    const entries = [...readSafetensorsHeader(path.join(inv.dir, 'model.safetensors')).tensors.values()];
    const files = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
    const weightMap: Record<string, string> = {};
    files.forEach((f, k) => {
      const part = entries.filter((_, i) => i % 2 === k);
      for (const e of part) weightMap[e.name] = f;
      writeSafetensors(path.join(shardDir, f), part.map((e) => ({ name: e.name, dtype: 'F32' as const, shape: e.shape, data: readTensorAsFloat32(e) })));
    });
    fs.writeFileSync(path.join(shardDir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    const sharded = loadModel(shardDir);
    const b = randomBatch(new Rng(8), inv.spec.vocabSize, 2, 9);
    const losses: number[] = [];
    for (const [model, ts] of [[inv, targets], [sharded, targetsFor(sharded, ['q_proj', 'v_proj'], 4, 8)]] as const) {
      const e = await createEngine(options(model, ts, path.join(dir, 'cache-shards')));
      await e.setState(randomState(ts, 2));
      losses.push((await e.evalLoss(b)).lossSum);
      await e.dispose();
    }
    assert.equal(losses[1], losses[0]);
    const linked = fs.readdirSync(path.join(dir, 'cache-shards')).flatMap((k) => fs.readdirSync(path.join(dir, 'cache-shards', k)));
    for (const f of files) assert.ok(linked.includes(f), `${f} hard-linked into the cache`);
  });
});
