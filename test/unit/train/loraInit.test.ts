import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initLoraParams, loadAdapterParams } from '../../../src/core/train/loraInit';
import { RunFolder, loadCheckpoint, writeFolderAtomic, type TrainerState } from '../../../src/core/train/runFolder';
import { writeSafetensors } from '../../../src/core/safetensors/write';
import { Rng } from '../../../src/core/util/random';
import { InputError } from '../../../src/core/errors';
import type { EngineState } from '../../../src/core/train/engineApi';

const A = 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight';
const B = 'base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight';
const shapes = new Map([[A, [8, 400]], [B, [300, 8]]]);
const stats = (t: Float32Array): { min: number; max: number; mean: number; std: number } => {
  let s = 0;
  let s2 = 0;
  for (const x of t) {
    s += x;
    s2 += x * x;
  }
  const mean = s / t.length;
  return { min: Math.min(...t), max: Math.max(...t), mean, std: Math.sqrt(s2 / t.length - mean * mean) };
};

describe('LoRA initialisation (PEFT reset_lora_parameters)', () => {
  it('true: A ~ U(-1/sqrt(in), 1/sqrt(in)) (kaiming_uniform a=sqrt 5), B = 0; same seed, same weights', () => {
    const p = initLoraParams([A, B], shapes, true, new Rng(1));
    const a = stats(p.get(A)!);
    const bound = 1 / Math.sqrt(400);
    assert.ok(a.min >= -bound && a.max < bound);
    assert.ok(a.max > 0.95 * bound && a.min < -0.95 * bound);
    assert.ok(Math.abs(a.std - bound / Math.sqrt(3)) < 0.05 * bound); // std of U(-b, b) = b/√3
    assert.ok(p.get(B)!.every((x) => x === 0));
    assert.deepEqual(initLoraParams([A, B], shapes, true, new Rng(1)).get(A), p.get(A));
    assert.notDeepEqual(initLoraParams([A, B], shapes, true, new Rng(2)).get(A), p.get(A));
  });

  it('"gaussian": A ~ N(0, (1/r)^2), B = 0; false: both kaiming-uniform', () => {
    const g = initLoraParams([A, B], shapes, 'gaussian', new Rng(3));
    const a = stats(g.get(A)!);
    assert.ok(Math.abs(a.std - 1 / 8) < 0.01, `std ${a.std}`);
    assert.ok(Math.abs(a.mean) < 0.01);
    assert.ok(g.get(B)!.every((x) => x === 0));
    const f = initLoraParams([A, B], shapes, false, new Rng(3));
    const b = stats(f.get(B)!);
    assert.ok(b.max < 1 / Math.sqrt(8) && b.min >= -1 / Math.sqrt(8) && b.std > 0.3 / Math.sqrt(8));
    assert.throws(() => initLoraParams([A, B], shapes, 'pissa', new Rng(3)), /init_lora_weights "pissa" is not supported/);
  });

  it('init_adapter: loads matching tensors; a shape mismatch names the tensor and both shapes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'peft-init-'));
    try {
      const a = Float32Array.from({ length: 8 * 400 }, (_, i) => i / 1000);
      writeSafetensors(join(dir, 'adapter_model.safetensors'), [
        { name: A, dtype: 'F32', shape: [8, 400], data: a },
        { name: B, dtype: 'F32', shape: [300, 8], data: new Float32Array(2400).fill(0.5) },
      ]);
      const p = loadAdapterParams(dir, [A, B], shapes);
      assert.deepEqual(p.get(A), a);
      assert.equal(p.get(B)![17], 0.5);
      const r4 = new Map([[A, [4, 400]], [B, [300, 4]]]);
      assert.throws(
        () => loadAdapterParams(dir, [A, B], r4),
        (e: unknown) => e instanceof InputError && e.context.tensor === A && /expected \[4, 400\], got \[8, 400\]/.test(e.message),
      );
      const other = 'base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight';
      assert.throws(() => loadAdapterParams(dir, [A, B, other], new Map([...shapes, [other, [8, 400]]])), /has no tensor for this module/);
      assert.throws(() => loadAdapterParams(dir, [A], shapes), /LoRA tensors for modules the adapter config does not target/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('run folder checkpoints', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'peft-run-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const state = (v: number): EngineState => ({
    params: new Map([[A, new Float32Array(8 * 400).fill(v)], [B, new Float32Array(300 * 8).fill(-v)]]),
    shapes,
    expAvg: new Map([[A, new Float32Array(8 * 400).fill(v / 10)], [B, new Float32Array(300 * 8).fill(v / 20)]]),
    expAvgSq: new Map([[A, new Float32Array(8 * 400).fill(v / 100)], [B, new Float32Array(300 * 8).fill(v / 200)]]),
    step: v,
  });
  const trainer = (step: number): TrainerState => ({
    format_version: 1, global_step: step, max_steps: 10, epoch: step / 5, data: { epoch: 0, cursor: step, order: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] },
    rng: new Rng(5).getState(), seed: 5, optimizer_step: step, total_tokens: 100 * step, elapsed_s: step, last_loss: 1 / step,
  });

  it('a checkpoint round-trips every tensor, the moments and the trainer state; resume picks the latest', () => {
    const run = new RunFolder(dir);
    run.writeCheckpoint(state(2), trainer(2), '{"peft_type": "LORA"}');
    const p4 = run.writeCheckpoint(state(4), trainer(4), '{"peft_type": "LORA"}');
    assert.deepEqual(readdirSync(join(dir, 'checkpoints')).sort(), ['step-2', 'step-4']);
    const { runDir, checkpoint } = loadCheckpoint(dir);
    assert.equal(runDir, dir);
    assert.equal(checkpoint.dir, p4);
    assert.deepEqual(checkpoint.trainer, trainer(4));
    assert.deepEqual(checkpoint.state.params.get(B), state(4).params.get(B));
    assert.deepEqual(checkpoint.state.expAvgSq.get(A), state(4).expAvgSq.get(A));
    assert.equal(checkpoint.state.step, 4);
    // a checkpoints/step-N folder can be given directly
    assert.equal(loadCheckpoint(join(dir, 'checkpoints', 'step-2')).checkpoint.trainer.global_step, 2);
    assert.equal(loadCheckpoint(join(dir, 'checkpoints', 'step-2')).runDir, dir);
    assert.equal(readFileSync(join(p4, 'adapter_config.json'), 'utf8'), '{"peft_type": "LORA"}');
  });

  it('writes atomically: a failure while writing leaves neither a partial checkpoint nor a temp folder', () => {
    const run = new RunFolder(dir);
    run.writeCheckpoint(state(2), trainer(2), '{}');
    const broken = state(3);
    broken.shapes = new Map([[A, [8, 400]], [B, [7, 7]]]); // B's bytes do not match its shape: the writer throws midway
    assert.throws(() => run.writeCheckpoint(broken, trainer(3), '{}'), /data size does not match/);
    assert.deepEqual(readdirSync(join(dir, 'checkpoints')), ['step-2']);
    // a half-written temp folder left by a crash is ignored by resume
    mkdirSync(join(dir, 'checkpoints', '.tmp-step-9-1-1'));
    mkdirSync(join(dir, 'checkpoints', 'step-8')); // no trainer_state.json: incomplete, ignored
    assert.equal(loadCheckpoint(dir).checkpoint.trainer.global_step, 2);
    // replacing an existing folder swaps it whole
    writeFolderAtomic(join(dir, 'adapter'), dir, (tmp) => mkdirSync(join(tmp, 'v1')));
    writeFolderAtomic(join(dir, 'adapter'), dir, (tmp) => mkdirSync(join(tmp, 'v2')));
    assert.deepEqual(readdirSync(join(dir, 'adapter')), ['v2']);
    assert.ok(!readdirSync(dir).some((n) => n.startsWith('.tmp-')));
    assert.ok(!existsSync(join(dir, 'checkpoints', 'step-3')));
  });

  it('resume errors say what is missing', () => {
    assert.throws(() => loadCheckpoint(join(dir, 'nope')), /the folder to resume does not exist/);
    assert.throws(() => loadCheckpoint(dir), /the run has no checkpoint to resume from/);
  });
});
