// End-to-end parity with PyTorch for PEFT's variants: DoRA (use_dora) and base-bias training (bias lora_only / all):
// per-step loss and grad_norm, and the final adapter with the magnitude vectors and biases under PEFT's keys.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { countParameters } from '../../../../src/core/peft/count';
import { parseLoraConfig } from '../../../../src/core/peft/loraConfig';
import { loadModel } from '../../../../src/core/hf/loadModel';
import { Rng } from '../../../../src/core/util/random';
import { type ParityCase, makeRows } from './project';
import { cleanUp, runVariantCase } from './variantCase';

describe('peft-studio train matches PyTorch + PEFT for DoRA and bias training', function () {
  this.timeout(300_000);
  const dirs: string[] = [];
  after(() => cleanUp(dirs));

  async function runCase(name: string, c: ParityCase, seed: number): Promise<void> {
    const v = await runVariantCase(name, c, seed, dirs);
    // `peft-studio count` (print_trainable_parameters) gives the total the run reported too.
    const cfg = parseLoraConfig(JSON.parse(fs.readFileSync(path.join(v.dir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>);
    assert.equal(countParameters(cfg, loadModel(path.join(v.dir, 'model'))).total, v.total, `${name}: count's total vs the run`);
  }

  it('llama DoRA (magnitudes from ||W + s·B·A|| of the init adapter, GQA, untied head incl. lm_head): loss per step and lora_magnitude_vector', async () => {
    const c: ParityCase = {
      arch: 'llama', useDora: true, targetModules: ['q_proj', 'v_proj', 'o_proj', 'down_proj', 'lm_head'], r: 4, alpha: 8,
      rows: makeRows(new Rng(41), 512, 5, 5, 14), maxLength: 16, microBatch: 2, accumulation: 1, steps: 6, lr: 3e-3, weightDecay: 0.05, maxGradNorm: 6,
    };
    await runCase('llama-dora', c, 51);
  });

  it('gpt2 DoRA on Conv1D with bias lora_only, starting from an adapter that holds magnitudes and biases (as PEFT saves them): c_attn/c_fc biases under <module>.base_layer.bias', async () => {
    const c: ParityCase = {
      arch: 'gpt2', useDora: true, bias: 'lora_only', initExtras: true, targetModules: ['c_attn', 'c_fc'], r: 4, alpha: 8,
      rows: makeRows(new Rng(42), 512, 5, 4, 15), maxLength: 64, microBatch: 2, accumulation: 1, steps: 6, lr: 3e-3, weightDecay: 0.05, maxGradNorm: 3,
    };
    await runCase('gpt2-dora-lora-only', c, 52);
  });

  it('gpt2 bias all: every bias (LayerNorms, untargeted Conv1Ds) trains without weight decay, accumulation 2', async () => {
    const c: ParityCase = {
      arch: 'gpt2', bias: 'all', targetModules: ['c_attn', 'mlp.c_proj'], r: 4, alpha: 8,
      rows: makeRows(new Rng(43), 512, 7, 4, 15), maxLength: 64, microBatch: 2, accumulation: 2, steps: 5, lr: 3e-3, weightDecay: 0.1, maxGradNorm: 1.7,
    };
    await runCase('gpt2-bias-all', c, 53);
  });

  it('qwen2 (Llama family, q/k/v biases) DoRA with bias lora_only: the biases of the adapted q and v train under <module>.base_layer.bias (the k bias has a zero gradient in exact arithmetic: see docs/NUMERICS.md)', async () => {
    const c: ParityCase = {
      arch: 'qwen2', useDora: true, bias: 'lora_only', targetModules: ['q_proj', 'v_proj', 'o_proj'], r: 4, alpha: 8,
      rows: makeRows(new Rng(45), 512, 5, 5, 14), maxLength: 16, microBatch: 2, accumulation: 1, steps: 5, lr: 3e-3, weightDecay: 0.05, maxGradNorm: 4,
    };
    await runCase('qwen2-dora-lora-only', c, 55);
  });

  it('llama lora_bias: a bias on every lora_B (zeros at init, no weight decay), saved as lora_B.bias', async () => {
    const c: ParityCase = {
      arch: 'llama', loraBias: true, targetModules: ['q_proj', 'v_proj', 'down_proj'], r: 4, alpha: 8,
      rows: makeRows(new Rng(44), 512, 5, 5, 14), maxLength: 16, microBatch: 2, accumulation: 1, steps: 5, lr: 3e-3, weightDecay: 0.1, maxGradNorm: 3.2,
    };
    await runCase('llama-lora-bias', c, 54);
  });
});
