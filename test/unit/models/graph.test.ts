// Structure of the compiled graphs: frozen weights read in place (external data at the safetensors offsets, Gemm
// transB, no transposed copies), no ops that leave the WebGPU EP, dropout inputs only when p > 0, and bf16 casts.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { makeFixture } from '../../../src/core/fixtures/makeFixture';
import type { Graph, Value } from '../../../src/core/graph';
import { loadModel } from '../../../src/core/hf/loadModel';
import type { ModelInventory } from '../../../src/core/hf/types';
import { checkpointTensors } from '../../../src/core/models/common';
import { attentionBias, labelRows, MASK_MIN } from '../../../src/core/models/feeds';
import { ropeInvFreq } from '../../../src/core/models/attention';
import { buildStepGraph } from '../../../src/core/models/stepGraph';
import type { LoraTarget } from '../../../src/core/train/engineApi';
import { targetsFor, tinyModel, tmpDir } from '../train/engineHelpers';

const OPT = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 1 };

function build(inv: ModelInventory, targets: LoraTarget[], dropout = 0): Graph {
  return buildStepGraph({ inventory: inv, targets, dropout, dtype: 'float32', optimizer: OPT });
}

/** The frozen weight behind a value: an external initializer, possibly through a Cast. */
function frozen(v: Value | undefined): Value | undefined {
  if (v === undefined) return undefined;
  if (v.kind === 'external') return v;
  const p = v.producer;
  return p?.op === 'Cast' && p.inputs[0]?.kind === 'external' ? p.inputs[0] : undefined;
}

function checkFrozenUse(g: Graph, transB: number): number {
  let gemms = 0;
  for (const n of g.nodes) {
    n.inputs.forEach((x, i) => {
      const w = frozen(x);
      if (w === undefined || w.rank !== 2) return;
      assert.ok(n.op === 'Gemm' || n.op === 'Gather' || n.op === 'Cast', `${w.name} is read by ${n.op} ${n.name} (would copy the weight)`);
      if (n.op === 'Gemm' && i === 1 && !n.name.startsWith('lm_head') && !n.name.includes('grad')) {
        gemms++;
        const a = n.attrs['transB'];
        assert.equal(a !== undefined && a.kind === 'int' ? a.value : 0, transB, `${n.name} transB`);
      }
    });
  }
  return gemms;
}

describe('model graphs: structure', function () {
  this.timeout(60_000);
  const dirs: string[] = [];
  after(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });

  it('llama: weights as external data at their safetensors offsets, Gemm(transB=1), no WebGPU-fallback ops', async () => {
    const dir = tmpDir('graph-llama');
    dirs.push(dir);
    const inv = await tinyModel('llama', `${dir}/model`, undefined, undefined, 1);
    const g = build(inv, targetsFor(inv, ['q_proj', 'v_proj'], 4, 8));
    const header = checkpointTensors(inv.dir);
    const ext = g.initializers.filter((v) => v.external !== undefined);
    assert.equal(ext.length, header.size, 'every checkpoint tensor is used once (lm_head separate, not tied)');
    for (const v of ext) {
      const e = header.get(v.name)!;
      assert.deepEqual(v.external, { location: 'model.safetensors', offset: e.offset, length: e.length });
    }
    // 2 layers × 7 projections, forward; plus the backward dX = dY·W of the layers below the LoRA inputs.
    assert.ok(checkFrozenUse(g, 1) >= 14);
    for (const n of g.nodes) {
      assert.ok(!['Range', 'OneHot', 'LogSoftmax', 'Sum'].includes(n.op), `${n.op} ${n.name}`);
      if (n.op === 'Equal') assert.ok(n.inputs.every((x) => x?.dtype !== 'int64'), `Equal(int64) ${n.name}`);
    }
    assert.ok(!g.inputs.some((v) => v.name.startsWith('lora_dropout.')), 'no dropout inputs when p = 0');
    assert.deepEqual(g.inputs.find((v) => v.name === 'input_ids')!.shape, ['B', 'T']);
  });

  it('gpt2: Conv1D weights [in, out] read by Gemm(transB=0); dropout masks are inputs when p > 0', async () => {
    const dir = tmpDir('graph-gpt2');
    dirs.push(dir);
    const inv = await tinyModel('gpt2', `${dir}/model`, undefined, undefined, 1);
    const targets = targetsFor(inv, ['c_attn'], 4, 8);
    const g = build(inv, targets, 0.1);
    assert.ok(checkFrozenUse(g, 0) >= 8);
    const masks = g.inputs.filter((v) => v.name.startsWith('lora_dropout.')).map((v) => v.name);
    assert.deepEqual(masks, targets.map((t) => `lora_dropout.${t.module.name}`));
  });

  it('bf16 checkpoints are cast to fp32 inside the graph', async () => {
    const dir = tmpDir('graph-bf16');
    dirs.push(dir);
    await makeFixture({ arch: 'qwen2', outDir: dir, dtype: 'BF16' });
    const inv = loadModel(dir);
    const g = build(inv, targetsFor(inv, ['q_proj'], 2, 4));
    const ext = g.initializers.filter((v) => v.external !== undefined);
    assert.ok(ext.length > 0 && ext.every((v) => v.dtype === 'bfloat16'));
    const casts = g.nodes.filter((n) => n.op === 'Cast' && n.inputs[0]?.kind === 'external');
    assert.equal(casts.length, ext.length);
  });

  it('host inputs: causal + padding + packed mask, HF label shift, llama3 inv_freq', () => {
    const b = {
      batchSize: 1, seqLen: 4,
      inputIds: BigInt64Array.from([5n, 6n, 7n, 0n]),
      labels: BigInt64Array.from([5n, 6n, -100n, -100n]),
      attentionMask: BigInt64Array.from([1n, 1n, 1n, 0n]),
      positionIds: BigInt64Array.from([0n, 1n, 0n, 1n]),
    };
    const m = Array.from(attentionBias(b, 'float32').data as Float32Array, (x) => (x === 0 ? 1 : Math.fround(MASK_MIN) === x ? 0 : NaN));
    assert.deepEqual(m, [1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0]); // token 3 is padding: hidden as a key
    const { index, targets, weights } = labelRows(b, 0.5, 'float32', 10);
    assert.deepEqual(Array.from(index.data as BigInt64Array), [0n]); // position 0 predicts label 6 at position 1
    assert.deepEqual(Array.from(targets.data as BigInt64Array), [6n]);
    assert.deepEqual(Array.from(weights.data as Float32Array), [0.5]);
    const none = labelRows({ ...b, labels: BigInt64Array.from([1n, -100n, -100n, -100n]) }, 1, 'float32', 10);
    assert.deepEqual([none.index.dims, Array.from(none.weights.data as Float32Array)], [[1], [0]], 'no label: one dummy row of weight 0');
    // _compute_llama3_parameters with factor 8, low 1, high 4, original 8192, theta 500000, head_dim 128.
    const inv = ropeInvFreq({
      headDim: 128, ropeTheta: 500000, ropeScaling: { ropeType: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 },
    } as Parameters<typeof ropeInvFreq>[0]);
    assert.equal(inv[0], 1);
    assert.ok(Math.abs(inv[63]! - 500000 ** (-126 / 128) / 8) < 1e-15, 'low frequencies divided by factor');
    const wavelen = inv.map((f) => (2 * Math.PI) / f);
    assert.ok(wavelen.some((w) => w > 8192 / 4 && w < 8192), 'some frequencies in the smooth band');
  });
});
