// The training bench's measuring parts (bench/benchLib.ts, bench/engineStep.ts): FLOPs per token of the bench
// model, a real profiled engine run summarised per op, and the result table's ratios.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { type OrtProfileEvent, flopsPerToken, formatTable, median, summariseOrtProfile } from '../../../bench/benchLib';
import { runEngineJob } from '../../../bench/engineStep';
import { makeFixture } from '../../../src/core/fixtures/makeFixture';
import { loadModel } from '../../../src/core/hf/loadModel';

describe('training bench', () => {
  let dir: string;
  before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peft-trainbench-')); });
  after(() => { fs.rmSync(dir, { recursive: true, force: true }); });

  it('counts 4N + 12·L·T·d FLOPs per token for the Llama-shaped bench model', () => {
    // config-only inventory of the bench shape: hidden 512, 8 layers, 8 heads (head_dim 64), 4 kv heads, mlp 1408, vocab 8192
    const m = path.join(dir, 'cfg');
    fs.mkdirSync(m);
    fs.writeFileSync(path.join(m, 'config.json'), JSON.stringify({ architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: 8192, hidden_size: 512,
      intermediate_size: 1408, num_hidden_layers: 8, num_attention_heads: 8, num_key_value_heads: 4, max_position_embeddings: 2048, rms_norm_eps: 1e-5, torch_dtype: 'float32' }));
    const inv = loadModel(m);
    const perLayer = 512 * 512 * 2 + 512 * 256 * 2 + 3 * 512 * 1408; // q,o + k,v + gate,up,down
    const n = 8 * perLayer + 8192 * 512; // + lm_head (the embedding is a lookup)
    const f = flopsPerToken(inv, 256, [{ r: 16, inFeatures: 512, outFeatures: 256 }]);
    assert.equal(f.baseMatmulParams, n);
    assert.equal(f.base, 4 * n);
    assert.equal(f.attention, 12 * 8 * 256 * 512);
    assert.equal(f.lora, 6 * 16 * (512 + 256));
    assert.equal(f.total, 4 * n + 12 * 8 * 256 * 512);
  });

  it('runs real engine steps with ORT profiling and summarises kernel time per op', async function () {
    this.timeout(120_000);
    const model = path.join(dir, 'tiny');
    await makeFixture({ arch: 'llama', outDir: model, seed: 3 });
    const tokens = path.join(dir, 'tokens.bin');
    const buf = Buffer.alloc(2 * 16 * 8);
    for (let i = 0; i < 32; i++) buf.writeBigInt64LE(BigInt((i * 37) % 500), i * 8);
    fs.writeFileSync(tokens, buf);
    const createBefore = ort.InferenceSession.create;
    const prefix = path.join(dir, 'prof');
    const r = await runEngineJob({ modelDir: model, tokensFile: tokens, batch: 2, seq: 16, steps: 2, warmup: 1, threads: 1, device: 'cpu',
      targets: 'qkvo', r: 4, alpha: 8, cacheDir: path.join(dir, 'graphs'), profilePrefix: prefix });
    assert.equal(ort.InferenceSession.create, createBefore, 'the profiling wrapper is removed after the job');
    assert.equal(r.stepS.length, 2);
    assert.equal(r.losses.length, 2);
    assert.ok(r.tokensPerS > 0 && Number.isFinite(r.tokensPerS));
    // LoRA B starts at 0: the first loss is the base model's, close to ln(vocab) for a small-init model
    assert.ok(Math.abs(r.firstLoss - Math.log(loadModel(model).spec.vocabSize)) < 0.5, `first loss ${r.firstLoss}`);
    assert.ok(r.losses[1]! < r.firstLoss, 'training on the same batch lowers its loss');
    assert.equal(r.adaptedModules, 2 * 4);
    assert.ok(r.peakRssBytes > 20 * 2 ** 20);
    assert.equal(r.profileFiles.length, 1);
    const events = JSON.parse(fs.readFileSync(r.profileFiles[0]!, 'utf8')) as OrtProfileEvent[];
    const s = summariseOrtProfile(events, 1);
    assert.equal(s.runs, 2, 'three step runs, the warm-up one skipped');
    const ops = new Map(s.ops.map((o) => [o.op, o]));
    assert.ok(ops.has('Gemm') || ops.has('MatMul') || ops.has('FusedMatMul'), `matmul ops in ${[...ops.keys()].join(',')}`);
    const shares = s.ops.reduce((a, o) => a + o.share, 0);
    assert.ok(Math.abs(shares - 1) < 1e-9);
    assert.ok(s.kernelMs > 0 && s.kernelMs <= s.runMs * 2 + 1, `kernel ${s.kernelMs} ms vs run ${s.runMs} ms`);
    for (let i = 1; i < s.ops.length; i++) assert.ok(s.ops[i - 1]!.msPerRun >= s.ops[i]!.msPerRun);

    // The PyTorch side of the bench on the same tokens: same first-step loss (B = 0), same trainable size.
    const py = spawnSync('/usr/bin/python3', [path.join(__dirname, '../../../bench/torch_lora_step.py'), '--model-dir', model, '--tokens', tokens,
      '--batch', '2', '--seq', '16', '--steps', '2', '--warmup', '1', '--threads', '1', '--r', '4', '--alpha', '8'], { encoding: 'utf8' });
    assert.equal(py.status, 0, py.stderr);
    const t = JSON.parse(py.stdout) as { first_loss: number; losses: number[]; trainable_params: number; step_s: number[]; peak_rss_bytes: number };
    assert.ok(Math.abs(t.first_loss - r.firstLoss) < 1e-4, `torch ${t.first_loss} vs ours ${r.firstLoss}`);
    assert.equal(t.trainable_params, r.trainableParams);
    assert.equal(t.step_s.length, 2);
    assert.ok(t.losses[1]! < t.first_loss);
    assert.ok(t.peak_rss_bytes > 50 * 2 ** 20);
  });

  it('prints ratios ours / torch in the table', () => {
    const flops = { baseMatmulParams: 1e6, base: 4e6, attention: 1e6, lora: 0, total: 5e6 };
    const t = formatTable([{ device: 'cpu', ours: { tokensPerS: 150, medianStepS: 2, peakRssBytes: 300 * 2 ** 20 }, torch: { tokensPerS: 100, medianStepS: 3, peakRssBytes: 600 * 2 ** 20 }, flops, peakFraction: null }]);
    const row = t.split('\n')[2]!.trim().split(/\s{2,}/);
    assert.deepEqual(row, ['cpu', '150.0', '100.0', '1.50×', '2.00 s', '3.00 s', '300 MiB', '600 MiB', '0.50×', '0.8', '0.5', '-']);
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
  });
});
