// GPU parity through the real trainer (runTraining): the same run on `cpu` and `webgpu` (Mesa lavapipe here) logs the
// same per-step losses; fp16 on WebGPU tracks fp32; `device: auto` without a GPU device node picks the CPU and says why.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeFixture } from '../../../src/core/fixtures/makeFixture';
import { writeSampleData } from '../../../src/core/fixtures/sampleData';
import { hardwareGpuPresent } from '../../../src/core/runtime/device';
import { readSafetensorsHeader, readTensorAsFloat32 } from '../../../src/core/safetensors/read';
import { runTraining } from '../../../src/core/train/trainer';
import type { RunEvent, StartEvent, StepEvent } from '../../../src/shared/protocol';

const TARGETS = { llama: ['q_proj', 'v_proj', 'down_proj'], gpt2: ['c_attn', 'c_fc'] } as const;

async function project(dir: string, arch: 'llama' | 'gpt2'): Promise<void> {
  await makeFixture({ arch, outDir: path.join(dir, 'model'), size: 'tiny', seed: 3 });
  writeSampleData(path.join(dir, 'data'), { trainCount: 16, evalCount: 2, formats: ['prompt_completion'] });
  fs.writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify({ r: 4, lora_alpha: 8, lora_dropout: 0.1, target_modules: TARGETS[arch], task_type: 'CAUSAL_LM' }));
}

function recipe(dir: string, name: string, extra = '', accumulation = 1): string {
  const file = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(file, `base_model: ./model
dataset:
  train: data/prompt_completion/train.jsonl
  eval: data/prompt_completion/eval.jsonl
  max_length: 64
training:
  max_steps: 6
  per_device_train_batch_size: 2
  gradient_accumulation_steps: ${accumulation}
  learning_rate: 5.0e-2
  warmup_steps: 1
  weight_decay: 0.01
  save_steps: 3
  seed: 7
${extra}device: cpu
output_dir: runs
run_name: ${name}
`);
  return file;
}

async function train(file: string, device: string, more: { resume?: string; stopAt?: number } = {}): Promise<RunEvent[]> {
  const events: RunEvent[] = [];
  const ac = new AbortController();
  await runTraining({
    configFile: file, device, signal: ac.signal, ...(more.resume !== undefined ? { resume: more.resume } : {}),
    onEvent: (e) => {
      events.push(e);
      if (e.event === 'step' && e.step === more.stopAt) ac.abort();
    },
  });
  return events;
}

const steps = (ev: RunEvent[]): StepEvent[] => ev.filter((e): e is StepEvent => e.event === 'step');

function adapter(ev: RunEvent[]): Map<string, Float32Array> {
  const done = ev.find((e) => e.event === 'done');
  assert.ok(done !== undefined && done.event === 'done');
  const h = readSafetensorsHeader(path.join(done.adapter_dir, 'adapter_model.safetensors'));
  return new Map([...h.tensors].map(([k, e]) => [k, readTensorAsFloat32(e)]));
}

describe('GPU training through the trainer: cpu vs webgpu (lavapipe)', function () {
  this.timeout(600_000);
  let root: string;
  before(() => {
    process.env['XDG_RUNTIME_DIR'] ??= '/tmp';
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'peft-gpu-parity-'));
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  for (const [arch, accumulation] of [['llama', 1], ['gpt2', 2]] as const) {
    it(`${arch}: 6 steps (dropout, accumulation ${accumulation}, checkpoint at 3, eval) give the CPU's per-step losses within 1e-4 relative`, async () => {
      const dir = path.join(root, arch);
      await project(dir, arch);
      const cpu = await train(recipe(dir, 'cpu', '', accumulation), 'cpu');
      const gpu = await train(recipe(dir, 'gpu', '', accumulation), 'webgpu');
      const start = gpu.find((e): e is StartEvent => e.event === 'start');
      assert.equal(start?.device, 'webgpu');
      const [a, b] = [steps(cpu), steps(gpu)];
      assert.equal(b.length, 6);
      a.forEach((s, i) => {
        const g = b[i]!;
        assert.ok(Math.abs(g.loss - s.loss) <= 1e-4 * Math.abs(s.loss), `step ${i + 1}: webgpu loss ${g.loss} vs cpu ${s.loss}`);
        assert.ok(Math.abs(g.grad_norm - s.grad_norm) <= 1e-3 * s.grad_norm, `step ${i + 1}: grad_norm ${g.grad_norm} vs ${s.grad_norm}`);
      });
      assert.ok(a[5]!.loss < a[0]!.loss, 'the run learns');
      // Checkpoint at step 3 and the final adapter read the state back from the GPU: same numbers as the CPU run.
      const [pa, pb] = [adapter(cpu), adapter(gpu)];
      for (const [k, v] of pa) {
        const w = pb.get(k)!;
        let err = 0;
        let norm = 0;
        for (let i = 0; i < v.length; i++) { err = Math.max(err, Math.abs(v[i]! - w[i]!)); norm = Math.max(norm, Math.abs(v[i]!)); }
        assert.ok(err <= 1e-3 * norm, `${k}: max diff ${err} (max |w| ${norm})`);
      }
      const ckpt = gpu.filter((e) => e.event === 'checkpoint').map((e) => e.event === 'checkpoint' ? e.step : 0);
      assert.deepEqual(ckpt, [3, 6]);
    });
  }

  it('llama fp16 on webgpu: loss scale 2^16, no skipped step, losses within 1e-2 relative of fp32; stop + resume continues exactly', async () => {
    const dir = path.join(root, 'llama');
    const fp32 = steps(await train(recipe(dir, 'gpu32'), 'webgpu'));
    const fp16 = steps(await train(recipe(dir, 'gpu16', '  fp16: true\n'), 'webgpu'));
    assert.equal(fp16.length, 6);
    fp16.forEach((s, i) => {
      assert.equal(s.loss_scale, 65536, `step ${i + 1} loss_scale`);
      assert.notEqual(s.skipped, true);
      const r = fp32[i]!.loss;
      assert.ok(Math.abs(s.loss - r) <= 1e-2 * r, `step ${i + 1}: fp16 loss ${s.loss} vs fp32 ${r}`);
    });
    assert.equal(fp32[0]!.loss_scale, undefined, 'fp32 steps carry no loss scale');
    // Stopped after step 2 (checkpoint read back from the GPU, loss scale saved) and resumed: the same steps 3-6.
    const first = await train(recipe(dir, 'gpu16r', '  fp16: true\n'), 'webgpu', { stopAt: 2 });
    const runDir = first.find((e): e is StartEvent => e.event === 'start')!.run_dir;
    const rest = steps(await train(recipe(dir, 'gpu16r', '  fp16: true\n'), 'webgpu', { resume: runDir }));
    assert.deepEqual([...steps(first), ...rest].map((s) => s.loss), fp16.map((s) => s.loss));
  });

  it('device: auto on a machine without a GPU device node chooses the CPU and says why in the start event', async function () {
    if (hardwareGpuPresent().available) this.skip(); // a real GPU: auto may rightly pick it
    const dir = path.join(root, 'llama');
    const file = recipe(dir, 'auto');
    const ev = await train(file, 'auto');
    const start = ev.find((e): e is StartEvent => e.event === 'start')!;
    assert.equal(start.device, 'cpu');
    assert.match(start.device_reason ?? '', /no GPU device/);
    assert.match(start.device_reason ?? '', /CPU/);
  });
});
