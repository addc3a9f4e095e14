// The engine on the WebGPU EP (Mesa lavapipe here): node placement of the step graphs (every float op on the device),
// state kept on the GPU between steps and read back exactly, fp16 mixed precision with GradScaler's skipped step.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ModelInventory } from '../../../src/core/hf/types';
import { buildGradGraph, buildStepGraph } from '../../../src/core/models/stepGraph';
import { cpuFallbacks, nodePlacements } from '../../../src/core/runtime/placement';
import { isFloat, writeOnnx } from '../../../src/core/graph';
import { createEngine, engineTuning } from '../../../src/core/train/engine';
import type { Batch, EngineOptions, LoraTarget, TrainEngine } from '../../../src/core/train/engineApi';
import { prepareGraphFolder } from '../../../src/core/train/graphCache';
import { Rng } from '../../../src/core/util/random';
import { randomBatch, randomState, targetsFor, tinyModel, tmpDir } from '../../unit/train/engineHelpers';

const OPT = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxGradNorm: 1 };

function engineOptions(inv: ModelInventory, targets: LoraTarget[], cacheDir: string, extra: Partial<EngineOptions> = {}): EngineOptions {
  return { inventory: inv, targets, loraDropout: 0.1, optimizer: OPT, device: 'webgpu', precision: 'fp32', cacheDir, ...extra };
}

function batches(vocab: number, n: number, seed = 5): Batch[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => randomBatch(rng, vocab, 2, 12));
}

async function run(e: TrainEngine, bs: Batch[]): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < bs.length; i++) out.push((await e.step([bs[i]!], 0.01, i)).loss);
  return out;
}

describe('engine on WebGPU: placement, device-resident state, fp16', function () {
  this.timeout(600_000);
  let dir: string;
  const models = new Map<string, { inv: ModelInventory; targets: LoraTarget[] }>();
  before(async () => {
    process.env['XDG_RUNTIME_DIR'] ??= '/tmp';
    dir = tmpDir('gpu-engine');
    for (const [arch, t] of [['llama', ['q_proj', 'v_proj', 'down_proj', 'lm_head']], ['gpt2', ['c_attn', 'c_fc']]] as const) {
      const inv = await tinyModel(arch, path.join(dir, arch));
      models.set(arch, { inv, targets: targetsFor(inv, [...t], 4, 8) });
    }
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  for (const arch of ['llama', 'gpt2']) {
    for (const fp16 of [false, true]) {
      it(`${arch} ${fp16 ? 'fp16' : 'fp32'} step and grad graphs: no float op falls back to the CPU`, () => {
        const { inv, targets } = models.get(arch)!;
        const folder = prepareGraphFolder(path.join(dir, 'placement'), inv, `${arch}-${fp16}`);
        for (const [kind, build] of [['step', buildStepGraph], ['grad', buildGradGraph]] as const) {
          const g = build({ inventory: inv, targets, dropout: 0.1, dtype: 'float32', optimizer: OPT, fp16 });
          const file = path.join(folder.dir, `${kind}.onnx`);
          writeOnnx(g, file);
          const placed = nodePlacements(file, 'webgpu');
          const byName = new Map(g.nodes.map((n) => [n.name, n]));
          // Nodes ORT made itself (Gather_token_*, from the transpose optimiser) only gather shape elements.
          const floatNode = (name: string): boolean => byName.get(name)?.outputs.some((o) => isFloat(o.dtype)) ?? false;
          const cpu = placed.filter((p) => p.provider === 'CPUExecutionProvider');
          console.log(`      ${kind}: ${cpu.length} CPU nodes: ${[...new Set(cpu.map((p) => p.opType))].join(', ') || 'none'}`);
          assert.deepEqual(cpuFallbacks(placed, floatNode), [], `${kind}: float ops on the CPU`);
          assert.ok(cpu.every((p) => ['Shape', 'Concat', 'Gather', 'Unsqueeze', 'Mul', 'ConstantOfShape', 'Squeeze', 'Slice', 'Reshape', 'Add', 'Sub', 'Div'].includes(p.opType)), cpu.map((p) => p.opType).join(','));
        }
      });
    }
  }

  it('keeps LoRA parameters and moments on the GPU between steps, reads them back exactly, and resumes identically', async () => {
    const { inv, targets } = models.get('llama')!;
    const init = randomState(targets, 3);
    const bs = batches(inv.spec.vocabSize, 4);
    const a = await createEngine(engineOptions(inv, targets, path.join(dir, 'c1')));
    await a.setState(init);
    const full = await run(a, bs);
    assert.equal((a as unknown as { stateLocation(): string }).stateLocation(), 'gpu-buffer');
    const endA = await a.getState();
    await a.dispose();
    // Two steps, checkpoint (getState downloads), a fresh engine continues from it.
    const b = await createEngine(engineOptions(inv, targets, path.join(dir, 'c1')));
    await b.setState(init);
    const first = await run(b, bs.slice(0, 2));
    const mid = await b.getState();
    await b.dispose();
    const c = await createEngine(engineOptions(inv, targets, path.join(dir, 'c1')));
    await c.setState(mid);
    const rest: number[] = [];
    for (let i = 2; i < 4; i++) rest.push((await c.step([bs[i]!], 0.01, i)).loss);
    const endC = await c.getState();
    await c.dispose();
    assert.deepEqual([...first, ...rest], full, 'resumed run logs the same losses');
    assert.equal(endC.step, 4);
    for (const [k, v] of endA.params) assert.deepEqual(endC.params.get(k), v, k);
    for (const [k, v] of endA.expAvgSq) assert.deepEqual(endC.expAvgSq.get(k), v, k);
  });

  it('state on the device vs a host round trip every step: same numbers; time per step measured', async () => {
    const dirSmall = path.join(dir, 'small');
    const inv = await tinyModel('llama', dirSmall, { hidden_size: 256, intermediate_size: 512, num_attention_heads: 4, num_key_value_heads: 2 }, undefined, 1);
    const targets = targetsFor(inv, ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], 16, 32);
    const bs = batches(inv.spec.vocabSize, 5, 9);
    const times: Record<string, number> = {};
    const losses: Record<string, number[]> = {};
    for (const mode of ['host', 'device'] as const) {
      engineTuning.hostState = mode === 'host';
      try {
        const e = await createEngine(engineOptions(inv, targets, path.join(dir, 'c2'), { loraDropout: 0 }));
        await e.setState(randomState(targets, 4, 0.05, 0.05));
        await e.step([bs[0]!], 0.01, 0); // opens the session, compiles the shaders
        const t0 = performance.now();
        losses[mode] = await run(e, bs.slice(1));
        times[mode] = (performance.now() - t0) / (bs.length - 1);
        await e.dispose();
      } finally {
        engineTuning.hostState = false;
      }
    }
    console.log(`      ms/step on lavapipe (software Vulkan), 7 targets r=16: state on the host ${times['host']!.toFixed(1)}, on the device ${times['device']!.toFixed(1)}`);
    assert.deepEqual(losses['device'], losses['host']);
  });

  it('fp16: an overflowing loss scale skips the step (state and AdamW step unchanged), halves the scale, and is reported', async () => {
    const { inv, targets } = models.get('llama')!;
    const e = await createEngine(engineOptions(inv, targets, path.join(dir, 'c3'), { precision: 'fp16' }));
    try {
      const init = { ...randomState(targets, 3), lossScale: { scale: 2 ** 40, growthTracker: 7 } };
      await e.setState(init);
      const bs = batches(inv.spec.vocabSize, 2);
      const r = await e.step([bs[0]!], 0.01, 0);
      assert.equal(r.skipped, true);
      assert.equal(r.lossScale, 2 ** 40);
      assert.ok(Number.isFinite(r.loss), 'the forward loss is still reported');
      const s = await e.getState();
      assert.equal(s.step, 0, 'a skipped step does not count for AdamW');
      assert.deepEqual(s.lossScale, { scale: 2 ** 39, growthTracker: 0 });
      for (const [k, v] of init.params) assert.deepEqual(s.params.get(k), v, `${k} unchanged`);
      // (2^16 overflows here: lm_head is targeted and the fixture's weights are amplified ×5, so d(hidden) > 65504.)
      await e.setState({ ...s, lossScale: { scale: 2 ** 8, growthTracker: 1999 } });
      const r2 = await e.step([bs[1]!], 0.01, 1);
      assert.equal(r2.skipped, false);
      const s2 = await e.getState();
      assert.equal(s2.step, 1);
      assert.deepEqual(s2.lossScale, { scale: 2 ** 9, growthTracker: 0 }, '2000 good steps double the scale');
    } finally {
      await e.dispose();
    }
  });
});
