// modules_to_save end to end against PyTorch + PEFT semantics (test/reference): trainable full copies of lm_head and
// of every norm (no weight decay on those, as the Trainer), saved under PEFT's keys; resume. Tied head: test/slow/parity.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Rng } from '../../../../src/core/util/random';
import { tmpDir } from '../engineHelpers';
import { train } from './check';
import { type ParityCase, makeRows, readAll, writeProject, writeVariant } from './project';
import { cleanUp, runVariantCase } from './variantCase';
import { main } from '../../../../src/cli/main';
import type { CliIO } from '../../../../src/cli/command';

describe('modules_to_save trains full copies exactly as PEFT + the Trainer do', function () {
  this.timeout(300_000);
  const dirs: string[] = [];
  after(() => cleanUp(dirs));

  it('llama, untied head: lm_head and every *norm module (weight decay 1.0 on lm_head, none on the norms: a 0.8 % difference if it were applied)', async () => {
    const c: ParityCase = {
      arch: 'llama', targetModules: ['q_proj', 'v_proj'], r: 4, alpha: 8, modulesToSave: ['lm_head', 'norm'],
      rows: makeRows(new Rng(41), 512, 5, 5, 12), maxLength: 16, microBatch: 2, accumulation: 1, steps: 4, lr: 2e-3, weightDecay: 1.0, maxGradNorm: 3,
    };
    const { adapter, trainable } = await runVariantCase('llama-mts', c, 51, dirs);
    const keys = [...adapter.keys()];
    // By hand: LoRA r 4 on q (64→64) and v (64→32, GQA) in 2 layers = 2·4·(128 + 96) = 1792; lm_head [512, 64] = 32768;
    // model.norm + 2 layers × (input_layernorm, post_attention_layernorm) = 5 × 64 = 320.
    assert.equal(trainable, 1792 + 32768 + 320);
    // PEFT's saved keys: the adapter name and `modules_to_save` are stripped (…lm_head.weight, not …modules_to_save.default.weight).
    assert.ok(keys.includes('base_model.model.lm_head.weight'));
    assert.ok(keys.includes('base_model.model.model.norm.weight'));
    assert.ok(keys.includes('base_model.model.model.layers.0.input_layernorm.weight'));
    assert.ok(keys.includes('base_model.model.model.layers.1.post_attention_layernorm.weight'));
    assert.ok(!keys.some((k) => k.includes('modules_to_save')));
  });

  it('resume from a mid-run checkpoint ends with the same adapter (copies, their AdamW moments, trainable tokens)', async () => {
    const c: ParityCase = {
      arch: 'llama', targetModules: ['q_proj'], r: 4, alpha: 8, modulesToSave: ['lm_head', 'model.norm'], trainableTokens: [5, 9],
      rows: makeRows(new Rng(43), 512, 5, 5, 12), maxLength: 16, microBatch: 2, accumulation: 1, steps: 4, lr: 2e-3, weightDecay: 0.1, maxGradNorm: 3,
    };
    const dir = tmpDir('mts-resume');
    dirs.push(dir);
    const p = await writeProject(dir, c, 53);
    const recipe = writeVariant(p, c, 'save2.yaml', 'save2');
    fs.writeFileSync(recipe, fs.readFileSync(recipe, 'utf8').replace('logging_steps: 1\n', 'logging_steps: 1\n  save_steps: 2\n'));
    const full = await train(recipe);
    assert.equal(full.code, 0, full.err);
    const start = full.records[0]!;
    assert.ok(start.event === 'start');
    const adapterFile = path.join(start.run_dir, 'adapter', 'adapter_model.safetensors');
    const first = readAll(adapterFile);
    const lines: string[] = [];
    const io: CliIO = { out: (t) => lines.push(t), err: () => undefined, isTTY: false };
    assert.equal(await main(['train', recipe, '--json', '--resume', path.join(start.run_dir, 'checkpoints', 'step-2')], io), 0);
    const resumedSteps = lines.flatMap((l) => l.split('\n')).filter((l) => l !== '').map((l) => JSON.parse(l) as { event: string; step?: number }).filter((r) => r.event === 'step').map((r) => r.step);
    assert.deepEqual(resumedSteps, [3, 4], 'the resumed run trains steps 3 and 4 again');
    const again = readAll(adapterFile);
    assert.deepEqual([...again.keys()].sort(), [...first.keys()].sort());
    assert.ok(first.has('base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta') && first.has('base_model.model.model.norm.weight'));
    for (const [k, v] of first) assert.deepEqual(again.get(k), v, k);
  });
});
