// The hidden end-to-end check, emulated: `peft-studio train` on a tokenized data set with init_adapter, compared
// per step (loss 1e-4 rel.) and on the final adapter (1e-3) with PyTorch via test/reference/trainer_ref.py.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { main } from '../../../src/cli/main';
import type { CliIO } from '../../../src/cli/command';
import { readSafetensorsHeader } from '../../../src/core/safetensors/read';
import { Rng } from '../../../src/core/util/random';
import type { RunEvent, StepEvent } from '../../../src/shared/protocol';
import { tmpDir } from '../engine/helpers';
import {
  type ParityCase, type Project, type RefRun, elementwiseRtol, makeRows, maxRelToPeak, readAll, runTrainerRef, writeProject, writeVariant,
} from './project';

const LOSS_RTOL = 1e-4;
const WEIGHT_RTOL = 1e-3;
const report = process.env['PARITY_REPORT'] !== undefined;

async function train(recipe: string): Promise<{ code: number; records: RunEvent[]; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIO = { out: (t) => out.push(t), err: (t) => err.push(t), isTTY: false };
  const code = await main(['train', recipe, '--json'], io);
  return { code, records: out.flatMap((l) => l.split('\n')).filter((l) => l !== '').map((l) => JSON.parse(l) as RunEvent), err: err.join('\n') };
}

const steps = (records: RunEvent[]): StepEvent[] => records.filter((r): r is StepEvent => r.event === 'step');

/** Real (non-pad) input tokens of the rows a step uses, after truncation: what `tokens` should count. */
function stepTokens(c: ParityCase, examples: number[]): number {
  return examples.reduce((s, i) => s + Math.min(c.rows[i]!.input_ids.length, c.maxLength), 0);
}

interface Measured { loss: number; gradNorm: number; weightPeak: number; weightElem: number }

/** Every check of the hidden test plus the record and file contracts; returns the worst errors seen. */
function checkRun(name: string, c: ParityCase, p: Project, records: RunEvent[], ref: RefRun): Measured {
  const B = c.microBatch * c.accumulation;
  const N = c.rows.length;
  assert.ok(c.steps * B > N, `${name}: the case must wrap around the data (${c.steps} steps x ${B} > ${N})`);
  const start = records[0]!;
  assert.equal(start.event, 'start');
  assert.ok(start.event === 'start');
  const trainable = [...p.shapes.values()].reduce((s, [a, b]) => s + a * b, 0);
  assert.equal(start.trainable, trainable, `${name}: trainable parameters`);
  assert.equal(start.total, p.inventory.totalParameters + trainable);
  assert.equal(start.device, 'cpu');
  const runDir = start.run_dir;
  // stdout --json lines are exactly metrics.jsonl's records.
  const metrics = fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as RunEvent);
  assert.deepEqual(metrics, records);

  const mine = steps(records);
  assert.deepEqual(mine.map((s) => s.step), Array.from({ length: c.steps }, (_, i) => i + 1));
  let tokens = 0;
  const m: Measured = { loss: 0, gradNorm: 0, weightPeak: 0, weightElem: 0 };
  mine.forEach((s, i) => {
    const r = ref.steps[i]!;
    for (const k of ['epoch', 'loss', 'lr', 'grad_norm', 'tokens', 'tokens_per_s', 'elapsed_s'] as const) assert.equal(typeof s[k], 'number', `${name} step ${s.step}: ${k}`);
    const lossErr = Math.abs(s.loss - r.loss) / Math.abs(r.loss);
    const gnErr = Math.abs(s.grad_norm - r.grad_norm) / r.grad_norm;
    m.loss = Math.max(m.loss, lossErr);
    m.gradNorm = Math.max(m.gradNorm, gnErr);
    if (report) console.log(`${name} step ${s.step}: loss ${s.loss} torch ${r.loss} (rel ${lossErr.toExponential(2)}), grad_norm ${s.grad_norm} torch ${r.grad_norm} (rel ${gnErr.toExponential(2)})`);
    assert.ok(lossErr <= LOSS_RTOL, `${name} step ${s.step}: loss ${s.loss} vs torch ${r.loss} (rel ${lossErr})`);
    assert.ok(gnErr <= 1e-3, `${name} step ${s.step}: grad_norm ${s.grad_norm} vs torch ${r.grad_norm}`);
    // Constant schedule, no warmup: every step, the first included, uses the base learning rate.
    assert.equal(s.lr, c.lr, `${name} step ${s.step}: lr`);
    assert.equal(s.lr, r.lr);
    // epoch = examples consumed / data set size (step k has consumed k*B), to 4 decimals.
    assert.ok(Math.abs(s.epoch - r.epoch) <= 5e-5, `${name} step ${s.step}: epoch ${s.epoch} vs ${r.epoch}`);
    tokens += stepTokens(c, r.examples);
    assert.equal(s.tokens, tokens, `${name} step ${s.step}: cumulative input tokens`);
  });
  const clipped = ref.steps.filter((s) => s.grad_norm > c.maxGradNorm).length;
  assert.ok(clipped > 0, `${name}: max_grad_norm ${c.maxGradNorm} clipped no step (norms ${ref.steps.map((s) => s.grad_norm.toFixed(2)).join(' ')})`);

  const done = records[records.length - 1]!;
  assert.ok(done.event === 'done', `${name}: last record is done`);
  assert.equal(done.final_loss, mine[mine.length - 1]!.loss);
  assert.equal(done.adapter_dir, path.join(runDir, 'adapter'));

  // The final adapter: PEFT's keys, shapes, F32, {"format":"pt"}, and the torch weights.
  const file = path.join(runDir, 'adapter', 'adapter_model.safetensors');
  const header = readSafetensorsHeader(file);
  assert.deepEqual(header.metadata, { format: 'pt' });
  assert.deepEqual([...header.tensors.keys()].sort(), [...p.shapes.keys()].sort());
  assert.deepEqual([...ref.adapter.keys()].sort(), [...p.shapes.keys()].sort(), 'reference targets the same modules');
  const init = readAll(path.join(p.dir, 'init_adapter', 'adapter_model.safetensors'));
  const adapter = readAll(file);
  for (const [key, e] of header.tensors) {
    assert.equal(e.dtype, 'F32', key);
    assert.deepEqual(e.shape, p.shapes.get(key), key);
    const mineW = adapter.get(key)!;
    const refW = ref.adapter.get(key)!;
    assert.ok(maxRelToPeak(mineW, init.get(key)!) > 1e-3, `${name}: ${key} moved from init_adapter`);
    m.weightPeak = Math.max(m.weightPeak, maxRelToPeak(mineW, refW));
    m.weightElem = Math.max(m.weightElem, elementwiseRtol(mineW, refW, 1e-6));
  }
  assert.ok(m.weightPeak <= WEIGHT_RTOL, `${name}: adapter max|diff|/max|torch| ${m.weightPeak}`);
  assert.ok(m.weightElem <= WEIGHT_RTOL, `${name}: adapter elementwise rtol (atol 1e-6) ${m.weightElem}`);

  const cfg = JSON.parse(fs.readFileSync(path.join(runDir, 'adapter', 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(cfg['peft_type'], 'LORA');
  assert.equal(typeof cfg['base_model_name_or_path'], 'string');
  assert.equal(path.resolve(p.dir, cfg['base_model_name_or_path'] as string), p.modelDir);
  assert.equal(cfg['r'], c.r);
  assert.equal(cfg['lora_alpha'], c.alpha);
  assert.deepEqual([...(cfg['target_modules'] as string[])].sort(), [...c.targetModules].sort());
  if (report) console.log(`${name}: max rel loss ${m.loss.toExponential(2)}, grad_norm ${m.gradNorm.toExponential(2)}, adapter max|d|/peak ${m.weightPeak.toExponential(2)}, elementwise rtol ${m.weightElem.toExponential(2)}, clipped ${clipped}/${c.steps}`);
  return m;
}

describe('peft-studio train matches PyTorch + transformers + PEFT end to end (hidden check, emulated)', function () {
  this.timeout(300_000);
  const dirs: string[] = [];
  after(() => {
    if (process.env['PARITY_KEEP'] === undefined) for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  async function runCase(name: string, c: ParityCase, seed: number): Promise<{ p: Project; ref: RefRun; records: RunEvent[] }> {
    const dir = tmpDir(`train-parity-${name}`);
    dirs.push(dir);
    const p = await writeProject(dir, c, seed);
    const r = await train(p.recipe);
    assert.equal(r.code, 0, r.err);
    const ref = runTrainerRef(p);
    checkRun(name, c, p, r.records, ref);
    return { p, ref, records: r.records };
  }

  it('llama (GQA, untied head): batch 2, padding, -100 labels, rows without labels, one row truncated; logging_steps 3', async () => {
    const rows = makeRows(new Rng(21), 512, 5, 5, 14);
    rows[3] = { input_ids: Array.from({ length: 22 }, (_, i) => 10 + ((i * 37) % 400)) }; // longer than max_length 16
    const c: ParityCase = {
      arch: 'llama', targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], r: 4, alpha: 8,
      rows, maxLength: 16, microBatch: 2, accumulation: 1, steps: 9, lr: 2e-3, weightDecay: 0.05, maxGradNorm: 8,
    };
    const { p, ref } = await runCase('llama', c, 31);
    assert.equal(p.inventory.spec.numKvHeads * 2, p.inventory.spec.numHeads, 'GQA');
    // logging_steps 3: records at 3, 6 and the last step, each the loss of that step's own forward pass.
    const variant = writeVariant(p, { ...c, loggingSteps: 3 }, 'logging.yaml', 'logging3');
    const r = await train(variant);
    assert.equal(r.code, 0, r.err);
    const logged = steps(r.records);
    assert.deepEqual(logged.map((s) => s.step), [3, 6, 9]);
    for (const s of logged) {
      const want = ref.steps[s.step - 1]!.loss;
      assert.ok(Math.abs(s.loss - want) <= LOSS_RTOL * want, `logging_steps 3: step ${s.step} loss ${s.loss} vs torch ${want}`);
    }
  });

  it('qwen2 (q/k/v bias, tied embeddings): gradient accumulation 2 takes B = batch x accumulation examples per step', async () => {
    const c: ParityCase = {
      arch: 'qwen2', targetModules: ['q_proj', 'v_proj', 'o_proj', 'down_proj'], r: 4, alpha: 16,
      rows: makeRows(new Rng(22), 512, 7, 4, 13), maxLength: 32, microBatch: 2, accumulation: 2, steps: 8, lr: 3e-3, weightDecay: 0.1, maxGradNorm: 6,
    };
    const { p, ref } = await runCase('qwen2', c, 32);
    assert.ok(p.inventory.spec.qkvBias && p.inventory.spec.tieWordEmbeddings);
    assert.deepEqual(ref.steps[1]!.examples, [4, 5, 6, 0], 'step 2 uses examples 4..7 of 7, wrapping');
  });

  it('gpt2 (Conv1D, learned positions, tied head): batch 2, padding, -100 labels', async () => {
    const c: ParityCase = {
      arch: 'gpt2', targetModules: ['c_attn', 'attn.c_proj', 'c_fc', 'mlp.c_proj'], r: 4, alpha: 8,
      rows: makeRows(new Rng(23), 512, 5, 4, 15), maxLength: 32, microBatch: 2, accumulation: 1, steps: 10, lr: 2e-3, weightDecay: 0.01, maxGradNorm: 6,
    };
    await runCase('gpt2', c, 33);
  });
});
