// Checks of one `peft-studio train` run against the PyTorch reference run: per-step loss within 1e-4 relative,
// final adapter within 1e-3, plus the contracts of the run records, the adapter file and its adapter_config.json.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { main } from '../../../../src/cli/main';
import type { CliIO } from '../../../../src/cli/command';
import { readSafetensorsHeader } from '../../../../src/core/safetensors/read';
import type { RunEvent, StepEvent } from '../../../../src/shared/protocol';
import { type ParityCase, type Project, type RefRun, elementwiseRtol, maxRelToPeak, readAll } from './project';

export const LOSS_RTOL = 1e-4;
export const WEIGHT_RTOL = 1e-3;
const report = process.env['PARITY_REPORT'] !== undefined;

/** `peft-studio train RECIPE --json` in this process; the records parsed from its stdout lines. */
export async function train(recipe: string): Promise<{ code: number; records: RunEvent[]; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIO = { out: (t) => out.push(t), err: (t) => err.push(t), isTTY: false };
  const code = await main(['train', recipe, '--json'], io);
  return { code, records: out.flatMap((l) => l.split('\n')).filter((l) => l !== '').map((l) => JSON.parse(l) as RunEvent), err: err.join('\n') };
}

export const steps = (records: RunEvent[]): StepEvent[] => records.filter((r): r is StepEvent => r.event === 'step');

/** Real (non-pad) input tokens of the rows a step uses, after truncation: what `tokens` should count. */
function stepTokens(c: ParityCase, examples: number[]): number {
  return examples.reduce((s, i) => s + Math.min(c.rows[i]!.input_ids.length, c.maxLength), 0);
}

export interface Measured { loss: number; gradNorm: number; weightPeak: number; weightElem: number }

/**
 * A trained GPT-2 c_attn bias with its key third zeroed: softmax is invariant to a bias on the keys, so that third's
 * gradient is rounding noise, which AdamW's m/√v turns into ±lr steps in both runs (torch's too): only q and v compare.
 */
function withoutKeyBias(key: string, w: Float32Array): Float32Array {
  if (!/c_attn\.(base_layer\.)?bias$/.test(key)) return w;
  const h = w.length / 3;
  const out = Float32Array.from(w);
  out.fill(0, h, 2 * h);
  return out;
}

/** Every parity check (loss per step, final adapter) plus the record and file contracts; returns the worst errors seen. */
export function checkRun(name: string, c: ParityCase, p: Project, records: RunEvent[], ref: RefRun): Measured {
  const B = c.microBatch * c.accumulation;
  const N = c.rows.length;
  assert.ok(c.steps * B > N, `${name}: the case must wrap around the data (${c.steps} steps x ${B} > ${N})`);
  const start = records[0]!;
  assert.equal(start.event, 'start');
  assert.ok(start.event === 'start');
  const trainable = [...p.shapes.values()].reduce((s, shape) => s + shape.reduce((a, b) => a * b, 1), 0);
  assert.equal(start.trainable, trainable, `${name}: trainable parameters`);
  assert.equal(start.total, p.inventory.totalParameters + trainable - p.biasElements);
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
    const [mineW, refW] = [adapter.get(key)!, ref.adapter.get(key)!].map((w) => withoutKeyBias(key, w)) as [Float32Array, Float32Array];
    const start0 = init.get(key);
    if (start0 !== undefined) assert.ok(maxRelToPeak(mineW, start0) > 1e-3, `${name}: ${key} moved from init_adapter`);
    m.weightPeak = Math.max(m.weightPeak, maxRelToPeak(mineW, refW));
    if (report) console.log(`${name}: ${key} max|d|/peak ${maxRelToPeak(mineW, refW).toExponential(2)}`);
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
