// `merge`: every adapted weight of the written folder equals W + scaling·B·A computed here independently (PEFT's
// scaling with rank_pattern, alpha_pattern, rsLoRA; GPT-2 Conv1D layout), other tensors byte-identical, shards, dtypes.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { main } from '../../../src/cli/main';
import type { CliIO } from '../../../src/cli/command';
import { mergeToHfFolder } from '../../../src/core/export/merge';
import { InputError } from '../../../src/core/errors';
import { makeFixture } from '../../../src/core/fixtures/makeFixture';
import { openCheckpoint } from '../../../src/core/safetensors/checkpoint';
import { readTensorAsFloat32, readTensorBytes } from '../../../src/core/safetensors/read';
import { f32ToBf16, bf16ToF32 } from '../../../src/core/safetensors/dtypes';
import { writeRandomAdapter } from '../../helpers/randomAdapter';

function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIO = { out: (t) => out.push(t), err: (t) => err.push(t), isTTY: false };
  return main(argv, io).then((code) => ({ code, out: out.join('\n'), err: err.join('\n') }));
}

/** W + s·B·A in float64, in the checkpoint layout (Linear [out, in]; Conv1D [in, out]). */
function expectedMerge(w: Float32Array, a: Float32Array, b: Float32Array, r: number, inF: number, out: number, s: number, conv: boolean): Float64Array {
  const res = Float64Array.from(w);
  for (let o = 0; o < out; o++) {
    for (let i = 0; i < inF; i++) {
      let d = 0;
      for (let k = 0; k < r; k++) d += b[o * r + k]! * a[k * inF + i]!;
      res[conv ? i * out + o : o * inF + i]! += s * d;
    }
  }
  return res;
}

function maxAbsDiff(x: ArrayLike<number>, y: ArrayLike<number>): number {
  assert.equal(x.length, y.length);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  return m;
}

describe('merge (W + scaling·B·A into a plain HF folder)', function () {
  let tmp: string;
  before(async function () {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'peft-merge-'));
    await makeFixture({ arch: 'llama', outDir: path.join(tmp, 'llama') });
    await makeFixture({ arch: 'gpt2', outDir: path.join(tmp, 'gpt2'), gpt2Layout: 'hub' });
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  for (const rslora of [false, true]) {
    it(`llama with rank_pattern and alpha_pattern${rslora ? ' and use_rslora' : ''}: merged = W + s·B·A, the rest unchanged`, function () {
      const model = path.join(tmp, 'llama');
      const adapterDir = path.join(tmp, `ad-llama-${String(rslora)}`);
      const config = { r: 4, lora_alpha: 8, use_rslora: rslora, target_modules: ['q_proj', 'k_proj', 'v_proj', 'down_proj'], rank_pattern: { v_proj: 2 }, alpha_pattern: { down_proj: 3 } };
      writeRandomAdapter({ modelDir: model, outDir: adapterDir, config });
      const out = path.join(tmp, `merged-llama-${String(rslora)}`);
      const r = mergeToHfFolder({ modelDir: model, adapterDir, outDir: out });
      assert.equal(r.mergedModules, 8);
      const base = openCheckpoint(model);
      const merged = openCheckpoint(out);
      const ad = openCheckpoint(path.join(adapterDir, 'adapter_model.safetensors'));
      assert.deepEqual([...merged.tensors.keys()].sort(), [...base.tensors.keys()].sort());
      let checked = 0;
      for (const [name, entry] of base.tensors) {
        const m = /^(model\.layers\.\d+\.(?:self_attn|mlp)\.(q_proj|k_proj|v_proj|down_proj))\.weight$/.exec(name);
        if (m === null) {
          assert.ok(readTensorBytes(merged.tensors.get(name)!).equals(readTensorBytes(entry)), `${name} must be unchanged`);
          continue;
        }
        const rank = m[2] === 'v_proj' ? 2 : 4;
        const alpha = m[2] === 'down_proj' ? 3 : 8;
        const s = rslora ? alpha / Math.sqrt(rank) : alpha / rank;
        const a = readTensorAsFloat32(ad.tensors.get(`base_model.model.${m[1]}.lora_A.weight`)!);
        const b = readTensorAsFloat32(ad.tensors.get(`base_model.model.${m[1]}.lora_B.weight`)!);
        assert.equal(a.length / rank, entry.shape[1]);
        const want = expectedMerge(readTensorAsFloat32(entry), a, b, rank, entry.shape[1]!, entry.shape[0]!, s, false);
        const got = readTensorAsFloat32(merged.tensors.get(name)!);
        assert.ok(maxAbsDiff(got, want) < 1e-6, `${name}: ${maxAbsDiff(got, want)}`);
        assert.ok(maxAbsDiff(got, readTensorAsFloat32(entry)) > 1e-3, `${name}: the adapter must change the weight`);
        checked++;
      }
      assert.equal(checked, 8);
      const cfg = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
      assert.equal(cfg['torch_dtype'], 'float32');
      for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json', 'README.md']) assert.ok(fs.existsSync(path.join(out, f)), f);
      assert.match(fs.readFileSync(path.join(out, 'README.md'), 'utf8'), /base_model: ".*llama"[\s\S]*r=4\/2, lora_alpha=8/);
    });
  }

  it('gpt2 (hub layout, Conv1D [in, out]): the transposed delta lands in c_attn; attn.bias buffers are copied', function () {
    const model = path.join(tmp, 'gpt2');
    const adapterDir = path.join(tmp, 'ad-gpt2');
    writeRandomAdapter({ modelDir: model, outDir: adapterDir, config: { r: 4, lora_alpha: 16, target_modules: ['c_attn', 'c_fc'] } });
    const out = path.join(tmp, 'merged-gpt2');
    mergeToHfFolder({ modelDir: model, adapterDir, outDir: out });
    const base = openCheckpoint(model);
    const merged = openCheckpoint(out);
    const ad = openCheckpoint(path.join(adapterDir, 'adapter_model.safetensors'));
    for (const mod of ['h.0.attn.c_attn', 'h.1.mlp.c_fc']) {
      const entry = base.tensors.get(`${mod}.weight`)!;
      const [inF, outF] = entry.shape as [number, number];
      const a = readTensorAsFloat32(ad.tensors.get(`base_model.model.transformer.${mod}.lora_A.weight`)!);
      const b = readTensorAsFloat32(ad.tensors.get(`base_model.model.transformer.${mod}.lora_B.weight`)!);
      const want = expectedMerge(readTensorAsFloat32(entry), a, b, 4, inF, outF, 4, true);
      assert.ok(maxAbsDiff(readTensorAsFloat32(merged.tensors.get(`${mod}.weight`)!), want) < 1e-6, mod);
    }
    assert.ok(readTensorBytes(merged.tensors.get('h.0.attn.bias')!).equals(readTensorBytes(base.tensors.get('h.0.attn.bias')!)));
  });

  it('--dtype bfloat16 and --max-shard-size: shards + index that openCheckpoint reads, bf16 = rounded fp32 merge', async function () {
    const model = path.join(tmp, 'llama');
    const adapterDir = path.join(tmp, 'ad-llama-false');
    const f32 = openCheckpoint(path.join(tmp, 'merged-llama-false'));
    const out = path.join(tmp, 'merged-bf16');
    const res = await run(['merge', '--model', model, '--adapter', adapterDir, out, '--dtype', 'bfloat16', '--max-shard-size', '100KB', '--json']);
    assert.equal(res.code, 0, res.err);
    const j = JSON.parse(res.out) as { files: string[]; dtype: string; total_size: number };
    assert.equal(j.dtype, 'bfloat16');
    const index = JSON.parse(fs.readFileSync(path.join(out, 'model.safetensors.index.json'), 'utf8')) as { metadata: { total_size: number }; weight_map: Record<string, string> };
    const shards = new Set(Object.values(index.weight_map));
    assert.ok(shards.size >= 2, `expected several shards, got ${shards.size}`);
    for (const s of shards) assert.ok(fs.statSync(path.join(out, s)).size <= 100_000 + 4096 || Object.values(index.weight_map).filter((x) => x === s).length === 1, s);
    assert.equal(index.metadata.total_size, j.total_size);
    const merged = openCheckpoint(out);
    assert.equal(merged.tensors.size, f32.tensors.size);
    for (const [name, e] of merged.tensors) {
      assert.equal(e.dtype, 'BF16', name);
      const want = readTensorAsFloat32(f32.tensors.get(name)!).map((x) => bf16ToF32(f32ToBf16(x)));
      assert.equal(maxAbsDiff(readTensorAsFloat32(e), want), 0, name);
    }
    assert.equal((JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')) as Record<string, unknown>)['torch_dtype'], 'bfloat16');
  });

  it('model card: base, LoRA settings, and the run with its losses when the adapter is RUN_DIR/adapter', function () {
    const run = path.join(tmp, 'runs', 'run-7');
    fs.mkdirSync(run, { recursive: true });
    fs.cpSync(path.join(tmp, 'ad-llama-false'), path.join(run, 'adapter'), { recursive: true });
    fs.writeFileSync(path.join(run, 'run.json'), JSON.stringify({ name: 'run-7', status: 'completed', config_file: 'peft-train.yaml', recipe: {}, adapter_config: {}, base_model: 'tiny', device: 'cpu', started_at: '2026-01-01T00:00:00Z' }));
    const events = [
      { event: 'start', run_dir: run, run_name: 'run-7', trainable: 1, total: 2, device: 'cpu', base_model: 'tiny', max_steps: 2, time: '2026-01-01T00:00:00Z' },
      { event: 'step', step: 1, epoch: 0.5, loss: 2.5, lr: 1e-3, grad_norm: 1, tokens: 10, tokens_per_s: 1, elapsed_s: 1 },
      { event: 'step', step: 2, epoch: 1, loss: 2.25, lr: 1e-3, grad_norm: 1, tokens: 10, tokens_per_s: 1, elapsed_s: 2 },
      { event: 'eval', step: 2, eval_loss: 2.375 },
      { event: 'done', run_dir: run, adapter_dir: path.join(run, 'adapter'), final_loss: 2.25 },
    ];
    fs.writeFileSync(path.join(run, 'metrics.jsonl'), events.map((e) => JSON.stringify(e)).join('\n') + '\n');
    const out = path.join(tmp, 'merged-run');
    mergeToHfFolder({ modelDir: path.join(tmp, 'llama'), adapterDir: path.join(run, 'adapter'), outDir: out, baseName: 'org/tiny-llama' });
    const card = fs.readFileSync(path.join(out, 'README.md'), 'utf8');
    assert.match(card, /^---\nbase_model: "org\/tiny-llama"\n/);
    assert.match(card, /^# run-7 \(merged\)$/m);
    assert.match(card, /Training run: `run-7` \(completed, step 2 of 2, cpu\)/);
    assert.match(card, /Final training loss: 2\.2500/);
    assert.match(card, /Eval loss: 2\.3750 \(step 2\)/);
  });

  it('refuses bad input with the file and what to do', async function () {
    const model = path.join(tmp, 'llama');
    const broken = path.join(tmp, 'ad-broken');
    writeRandomAdapter({ modelDir: model, outDir: broken, config: { r: 4, lora_alpha: 8, target_modules: ['q_proj'] } });
    fs.writeFileSync(path.join(broken, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 4, lora_alpha: 8, target_modules: ['q_proj', 'v_proj'] }));
    assert.throws(() => mergeToHfFolder({ modelDir: model, adapterDir: broken, outDir: path.join(tmp, 'x1') }), (e: unknown) => e instanceof InputError && /v_proj.*no lora_A/.test(e.message));
    assert.throws(() => mergeToHfFolder({ modelDir: model, adapterDir: path.join(tmp, 'ad-llama-false'), outDir: model }), /OUT is the base model folder/);
    const bad = await run(['merge', '--model', model, '--adapter', path.join(tmp, 'ad-llama-false'), path.join(tmp, 'x2'), '--dtype', 'fp16']);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /unknown --dtype "fp16"/);
    const notEmpty = await run(['merge', '--model', model, '--adapter', path.join(tmp, 'ad-llama-false'), path.join(tmp, 'merged-bf16')]);
    assert.equal(notEmpty.code, 1);
    assert.match(notEmpty.err, /not empty/);
  });
});
