// Whole-model gradient checks: LoRA gradients of the compiled grad graph (built in float64) against central finite
// differences of the loss from the eval graph, on tiny llama (GQA + llama3 RoPE), qwen2 (biases, tied) and gpt2.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { type Feed, GraphSession } from '../../../src/core/graph';
import type { ModelInventory } from '../../../src/core/hf/types';
import { INPUT, attentionBias, countLabelTokens, labelRows, positionFeed, positionIds } from '../../../src/core/models/feeds';
import { type ModelGraphOptions, buildEvalGraph, buildGradGraph, gradName } from '../../../src/core/models/stepGraph';
import type { Batch, LoraTarget } from '../../../src/core/train/engineApi';
import { prepareGraphFolder } from '../../../src/core/train/graphCache';
import { Rng } from '../../../src/core/util/random';
import { randomBatch, randomState, targetsFor, tinyModel, tmpDir } from '../train/engineHelpers';

function feedsOf(b: Batch, inv: ModelInventory): Record<string, Feed> {
  const n = countLabelTokens(b);
  const { index, targets, weights } = labelRows(b, 1 / n, 'float64', inv.spec.vocabSize);
  return {
    [INPUT.inputIds]: { data: b.inputIds, dims: [b.batchSize, b.seqLen] },
    [INPUT.positionIds]: positionFeed(b, inv.spec, 'float64'),
    [INPUT.attentionBias]: attentionBias(b, 'float64'),
    [INPUT.labelIndex]: index,
    [INPUT.targets]: targets,
    [INPUT.lossWeights]: weights,
  };
}

async function gradCheck(inv: ModelInventory, targets: LoraTarget[], batch: Batch, dir: string): Promise<number> {
  const o: ModelGraphOptions = {
    inventory: inv, targets, dropout: 0, dtype: 'float64', optimizer: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 0 },
  };
  const folder = prepareGraphFolder(`${dir}/cache`, inv, 'gradcheck');
  const grad = await GraphSession.create(buildGradGraph(o), { dir: folder.dir, fileName: 'grad64.onnx' });
  const evalS = await GraphSession.create(buildEvalGraph(o), { dir: folder.dir, fileName: 'eval64.onnx' });
  try {
    const state = randomState(targets, 3, 0.3, 0.3);
    const params = new Map([...state.params].map(([k, v]) => [k, Float64Array.from(v)]));
    const base = feedsOf(batch, inv);
    const withParams = (): Record<string, Feed> => ({ ...base, ...Object.fromEntries([...params].map(([k, v]) => [k, v])) });
    const analytic = await grad.run(withParams());
    const lossAt = async (): Promise<number> => Number((await evalS.run(withParams())).loss!.data[0]);
    const rng = new Rng(9);
    const h = 1e-5;
    let worst = 0;
    let checked = 0;
    for (const [key, p] of params) {
      const gr = analytic[gradName(key)]!.data as Float64Array;
      let big = 0;
      for (let i = 1; i < gr.length; i++) if (Math.abs(gr[i]!) > Math.abs(gr[big]!)) big = i;
      for (const i of [big, rng.int(p.length), rng.int(p.length)]) {
        const x0 = p[i]!;
        p[i] = x0 + h;
        const up = await lossAt();
        p[i] = x0 - h;
        const down = await lossAt();
        p[i] = x0;
        const fd = (up - down) / (2 * h);
        const err = Math.abs(fd - gr[i]!) / Math.max(Math.abs(fd), 1e-4);
        worst = Math.max(worst, err);
        checked++;
        assert.ok(err < 1e-5, `${key}[${i}]: autodiff ${gr[i]} vs finite difference ${fd}`);
      }
    }
    assert.ok(checked >= 3 * targets.length * 2);
    return worst;
  } finally {
    await grad.release();
    await evalS.release();
  }
}

describe('model graphs: LoRA gradients vs finite differences (float64)', function () {
  this.timeout(120_000);
  const dirs: string[] = [];
  after(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });

  it('llama (GQA, llama3 rope_scaling, all linear layers + lm_head, padded and packed rows)', async () => {
    const dir = tmpDir('gc-llama');
    dirs.push(dir);
    const inv = await tinyModel('llama', `${dir}/model`, {
      rope_scaling: { rope_type: 'llama3', factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 8 },
    });
    const targets = targetsFor(inv, ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj', 'lm_head'], 2, 4);
    const b = randomBatch(new Rng(1), inv.spec.vocabSize, 3, 9);
    b.positionIds = positionIds(b).map((p, i) => (i < 9 && p >= 4n ? p - 4n : p)); // row 0 packs two sequences
    await gradCheck(inv, targets, b, dir);
  });

  it('qwen2 (q/k/v bias, tied embeddings)', async () => {
    const dir = tmpDir('gc-qwen2');
    dirs.push(dir);
    const inv = await tinyModel('qwen2', `${dir}/model`);
    const targets = targetsFor(inv, ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'up_proj'], 2, 2);
    await gradCheck(inv, targets, randomBatch(new Rng(2), inv.spec.vocabSize, 2, 8, 3, 2), dir);
  });

  it('gpt2 (Conv1D layers, learned positions, LayerNorm, gelu_new)', async () => {
    const dir = tmpDir('gc-gpt2');
    dirs.push(dir);
    const inv = await tinyModel('gpt2', `${dir}/model`, undefined, undefined, 3);
    const targets = targetsFor(inv, ['c_attn', 'attn.c_proj', 'c_fc', 'mlp.c_proj'], 2, 4);
    await gradCheck(inv, targets, randomBatch(new Rng(3), inv.spec.vocabSize, 2, 8), dir);
  });
});
