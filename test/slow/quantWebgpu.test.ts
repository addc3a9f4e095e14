// The 4-bit base on the WebGPU EP (Mesa lavapipe here) gives the CPU's numbers, and MatMulNBits runs on WebGPU.
// Needs mesa-vulkan-drivers from bookworm-backports (scripts/setup-webgpu.sh), as test/slow/engineWebgpu.test.ts.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { nodePlacements } from '../../src/core/runtime/placement';
import { createEngine } from '../../src/core/train/engine';
import type { DeviceName, StepResult } from '../../src/core/train/engineApi';
import { Rng } from '../../src/core/util/random';
import { randomBatch, randomState, targetsFor, tinyModel, tmpDir } from '../unit/train/engineHelpers';

describe('4-bit base on WebGPU (lavapipe)', function () {
  this.timeout(600_000);
  it('two steps match the CPU engine; MatMulNBits is placed on WebGPU', async () => {
    process.env['XDG_RUNTIME_DIR'] ??= '/tmp';
    const dir = tmpDir('quant-webgpu');
    try {
      const inv = await tinyModel('llama', `${dir}/model`);
      const targets = targetsFor(inv, ['q_proj', 'v_proj', 'down_proj'], 4, 8);
      const init = randomState(targets, 1);
      const batch = randomBatch(new Rng(2), inv.spec.vocabSize, 2, 10);
      const results = new Map<DeviceName, StepResult[]>();
      for (const device of ['cpu', 'webgpu'] as const) {
        const e = await createEngine({
          inventory: inv, targets, loraDropout: 0, device, precision: 'fp32', cacheDir: `${dir}/cache`, quantization: { bits: 4, block_size: 32 },
          optimizer: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxGradNorm: 1 },
        });
        try {
          await e.setState(init);
          results.set(device, [await e.step([batch], 0.01, 0), await e.step([batch], 0.01, 0)]);
        } finally {
          await e.dispose();
        }
      }
      results.get('cpu')!.forEach((c, i) => {
        const g = results.get('webgpu')![i]!;
        assert.ok(Math.abs(c.loss - g.loss) < 1e-4 * c.loss, `step ${i + 1} loss ${g.loss} vs cpu ${c.loss}`);
        assert.ok(Math.abs(c.gradNorm - g.gradNorm) < 1e-3 * c.gradNorm, `step ${i + 1} grad_norm`);
      });
      const key = fs.readdirSync(`${dir}/cache`).find((k) => fs.existsSync(`${dir}/cache/${k}/step.onnx`))!;
      const placements = nodePlacements(`${dir}/cache/${key}/step.onnx`, 'webgpu');
      const where = (op: string): string[] => [...new Set(placements.filter((p) => p.opType === op).map((p) => p.provider))];
      // With a single provider ORT prints no placement section (every node on it); else MatMulNBits must be on WebGPU.
      if (placements.length > 0) assert.deepEqual(where('MatMulNBits'), ['WebGpuExecutionProvider']);
      process.stdout.write(`      placements: ${['MatMulNBits', 'BitwiseAnd', 'BitShift', 'Gemm'].map((op) => `${op} on ${where(op).join('+') || 'WebGPU (no CPU section)'}`).join('; ')}\n`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
