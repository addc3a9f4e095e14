// End-to-end parity with PyTorch: `peft-studio train` on a tokenized data set with init_adapter, compared per step
// (loss 1e-4 rel.) and on the final adapter (1e-3) with the PyTorch trainer in test/reference/trainer_ref.py.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Rng } from '../../../../src/core/util/random';
import type { RunEvent } from '../../../../src/shared/protocol';
import { tmpDir } from '../engineHelpers';
import { LOSS_RTOL, checkRun, steps, train } from './check';
import { type ParityCase, type Project, type RefRun, makeRows, runTrainerRef, writeProject, writeVariant } from './project';

describe('peft-studio train matches PyTorch + transformers + PEFT end to end (loss per step, final adapter)', function () {
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

  it('llama (GQA, untied head): batch 2, padding, -100 labels, rows without labels, one row truncated, a full PEFT adapter_config dump; logging_steps 3', async () => {
    const rows = makeRows(new Rng(21), 512, 5, 5, 14);
    rows[3] = { input_ids: Array.from({ length: 22 }, (_, i) => 10 + ((i * 37) % 400)) }; // longer than max_length 16
    const c: ParityCase = {
      arch: 'llama', fullDump: true, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], r: 4, alpha: 8,
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
      rows: makeRows(new Rng(22), 512, 7, 4, 13), maxLength: 512, microBatch: 2, accumulation: 2, steps: 8, lr: 3e-3, weightDecay: 0.1, maxGradNorm: 2.7,
    };
    const { p, ref } = await runCase('qwen2', c, 32);
    assert.ok(p.inventory.spec.qkvBias && p.inventory.spec.tieWordEmbeddings);
    assert.deepEqual(ref.steps[1]!.examples, [4, 5, 6, 0], 'step 2 uses examples 4..7 of 7, wrapping');
  });

  it('gpt2 (Conv1D, learned positions, tied head), model folder without tokenizer files: batch 2, padding, -100 labels', async () => {
    const c: ParityCase = {
      arch: 'gpt2', noTokenizer: true, targetModules: ['c_attn', 'attn.c_proj', 'c_fc', 'mlp.c_proj'], r: 4, alpha: 8,
      rows: makeRows(new Rng(23), 512, 5, 4, 15), maxLength: 512, microBatch: 2, accumulation: 1, steps: 10, lr: 2e-3, weightDecay: 0.01, maxGradNorm: 3.4,
    };
    const { p, records } = await runCase('gpt2', c, 33);
    // max_length 512 (the default) is above n_positions 128: a warning while the data fits, an error once a row does not.
    assert.equal(p.inventory.spec.maxPositionEmbeddings, 128);
    assert.ok(records.every((r) => r.event !== 'log'), '--json stdout holds only the contract records');
    const start = records[0]!;
    assert.ok(start.event === 'start');
    const logs = fs.readFileSync(path.join(start.run_dir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as RunEvent);
    assert.ok(logs.some((r) => r.event === 'log' && r.level === 'warning' && /max_position_embeddings 128/.test(r.message)));
    fs.writeFileSync(path.join(p.dir, 'data', 'long.jsonl'), JSON.stringify({ input_ids: Array.from({ length: 130 }, (_, i) => 4 + i) }) + '\n');
    const long = path.join(p.dir, 'long.yaml');
    fs.writeFileSync(long, fs.readFileSync(writeVariant(p, c, 'long.yaml', 'long'), 'utf8').replace('data/train.jsonl', 'data/long.jsonl'));
    const r = await train(long);
    assert.equal(r.code, 1);
    assert.match(r.err, /a sequence has 130 tokens but the model's max_position_embeddings is 128/);
  });
});
