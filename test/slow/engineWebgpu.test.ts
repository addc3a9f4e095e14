// The same training graph on the WebGPU EP (Mesa lavapipe here: slow, software Vulkan) gives the CPU's numbers.
// Needs mesa-vulkan-drivers from bookworm-backports (scripts/setup-webgpu.sh); fails with that hint when no adapter is found.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createEngine } from '../../src/core/train/engine';
import type { DeviceName, StepResult } from '../../src/core/train/engineApi';
import { Rng } from '../../src/core/util/random';
import { randomBatch, randomState, relErr, targetsFor, tinyModel, tmpDir } from '../unit/train/engineHelpers';

describe('engine on WebGPU (lavapipe)', function () {
  this.timeout(600_000);
  it('three steps with gradient accumulation match the CPU engine', async () => {
    process.env['XDG_RUNTIME_DIR'] ??= '/tmp';
    const dir = tmpDir('webgpu');
    try {
      const inv = await tinyModel('llama', `${dir}/model`);
      const targets = targetsFor(inv, ['q_proj', 'v_proj', 'down_proj'], 4, 8);
      const init = randomState(targets, 1);
      const rng = new Rng(2);
      const steps = [0, 1, 2].map((i) => (i === 1 ? [randomBatch(rng, inv.spec.vocabSize, 2, 8), randomBatch(rng, inv.spec.vocabSize, 1, 8)] : [randomBatch(rng, inv.spec.vocabSize, 2, 10)]));
      const results = new Map<DeviceName, { r: StepResult[]; p: Map<string, Float32Array> }>();
      for (const device of ['cpu', 'webgpu'] as const) {
        const e = await createEngine({
          inventory: inv, targets, loraDropout: 0, device, precision: 'fp32', cacheDir: `${dir}/cache`,
          optimizer: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxGradNorm: 1 },
        });
        try {
          await e.setState(init);
          const r: StepResult[] = [];
          for (const mbs of steps) r.push(await e.step(mbs, 0.01, 0));
          results.set(device, { r, p: (await e.getState()).params });
        } catch (err) {
          throw new Error(`${device}: ${String(err)} (WebGPU needs Mesa >= 25 lavapipe: apt-get install -t bookworm-backports mesa-vulkan-drivers)`);
        } finally {
          await e.dispose();
        }
      }
      const cpu = results.get('cpu')!;
      const gpu = results.get('webgpu')!;
      cpu.r.forEach((c, i) => {
        assert.ok(Math.abs(c.loss - gpu.r[i]!.loss) < 1e-4 * c.loss, `step ${i + 1} loss ${gpu.r[i]!.loss} vs cpu ${c.loss}`);
        assert.ok(Math.abs(c.gradNorm - gpu.r[i]!.gradNorm) < 1e-3 * c.gradNorm, `step ${i + 1} grad_norm`);
      });
      for (const [k, v] of cpu.p) assert.ok(relErr(gpu.p.get(k)!, v) < 1e-3, k);
      // Placement (docs/ONNXRUNTIME.md: read ORT's verbose "Node placements"): only shape plumbing, int casts and the embedding
      // lookup (and AdamW's float64 scalars) may stay on the CPU; no tensor compute op of the step graph falls back.
      const step = fs.readdirSync(`${dir}/cache`).map((k) => `${dir}/cache/${k}/step.onnx`).find((f) => fs.existsSync(f))!;
      const script = `const ort = require(${JSON.stringify(require.resolve('onnxruntime-node'))}); ort.env.logLevel = 'verbose';
        ort.InferenceSession.create(${JSON.stringify(step)}, { executionProviders: ['webgpu'], logSeverityLevel: 0 }).then((s) => s.release());`;
      const res = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: process.env, maxBuffer: 1 << 28 });
      const log = `${res.stdout}${res.stderr}`.split('\n');
      const start = log.findIndex((l) => l.includes('Node(s) placed on [CPUExecutionProvider]'));
      const cpuOps: string[] = [];
      for (let i = start + 1; start >= 0 && i < log.length && !log[i]!.includes('Node(s) placed on'); i++) {
        const m = /\]\s+(\w+) \(([^)]*)\)/.exec(log[i]!);
        if (m !== null && !m[2]!.startsWith('optimizer.scalars/')) cpuOps.push(m[1]!); // float64 scalar math: CPU by design
      }
      assert.ok(log.some((l) => l.includes('Node(s) placed on [WebGpuExecutionProvider]')), 'placement log found');
      const allowed = new Set(['Shape', 'Concat', 'Reshape', 'Gather', 'Cast', 'Mul', 'ConstantOfShape', 'Unsqueeze', 'Squeeze', 'Slice', 'Expand']);
      assert.deepEqual(cpuOps.filter((op) => !allowed.has(op)), [], `ops on the CPU: ${cpuOps.join(', ')}`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
