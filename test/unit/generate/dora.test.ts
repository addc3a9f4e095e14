// DoRA, trained-bias and lora_bias adapters in generation and merge: greedy tokens and log-probabilities equal the
// PyTorch reference (DoraLinearLayer forward, trained biases); merged weights equal merge_and_unload's.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { exportGgufAdapter } from '../../../src/core/export/gguf/exportModel';
import { mergeToHfFolder } from '../../../src/core/export/merge';
import { Generator } from '../../../src/core/generate/generator';
import { openCheckpoint } from '../../../src/core/safetensors/checkpoint';
import { readTensorAsFloat32 } from '../../../src/core/safetensors/read';
import { PYTHON, REFERENCE, tinyModel, tmpDir, writeAdapter, readAdapter } from '../train/engineHelpers';
import { checkGeneration, writeDoraFolder } from './doraHelpers';
import { assertMatchesReference, generateBaseAndTuned, generateMerged, referenceGenerate, writeAdapterFolder } from './helpers';

describe('DoRA adapters: generation and merge equal the PyTorch reference', function () {
  this.timeout(120_000);
  it('merge: m / ||W + s·B·A|| ⊙ (W + s·B·A) per output feature (Linear rows, Conv1D columns) equals merge_and_unload', async () => {
    for (const c of [{ arch: 'llama', suffixes: ['q_proj', 'down_proj'] }, { arch: 'gpt2', suffixes: ['c_attn', 'mlp.c_proj'] }] as const) {
      const work = tmpDir(`merge-dora-${c.arch}`);
      const inv = await tinyModel(c.arch, `${work}/model`);
      const dora = writeDoraFolder(`${work}/dora`, inv, [...c.suffixes], 7);
      mergeToHfFolder({ modelDir: inv.dir, adapterDir: dora.dir, outDir: `${work}/merged`, dtype: 'float32' });
      // A llama.cpp LoRA GGUF has no place for magnitudes: refused, pointing at the merged export.
      assert.throws(() => exportGgufAdapter({ adapterDir: dora.dir, modelDir: inv.dir, out: `${work}/a.gguf` }), /holds A\/B pairs only: this adapter has DoRA magnitudes[\s\S]*--merge/);
      const job = path.join(work, 'merge-job.json');
      const out = path.join(work, 'merge-ref.safetensors');
      fs.writeFileSync(job, JSON.stringify({
        mode: 'merge', model_dir: inv.dir, adapter: path.join(dora.dir, 'adapter_model.safetensors'),
        modules: dora.targets.map((t) => ({ name: t.module.name, scaling: t.scaling, weight_key: t.module.weightKey, conv1d: t.module.kind === 'conv1d' })),
      }));
      const res = spawnSync(PYTHON, [REFERENCE, job, out], { encoding: 'utf8', timeout: 120_000 });
      assert.equal(res.status, 0, res.stderr);
      const ref = readAdapter(out);
      const merged = openCheckpoint(`${work}/merged`).tensors;
      const base = openCheckpoint(inv.dir).tensors;
      for (const t of dora.targets) {
        const want = ref.get(t.module.weightKey)!;
        const got = readTensorAsFloat32(merged.get(t.module.weightKey)!);
        const before = readTensorAsFloat32(base.get(t.module.weightKey)!);
        let diff = 0;
        let peak = 0;
        let moved = 0;
        for (let i = 0; i < want.length; i++) {
          diff = Math.max(diff, Math.abs(got[i]! - want[i]!));
          peak = Math.max(peak, Math.abs(want[i]!));
          moved = Math.max(moved, Math.abs(got[i]! - before[i]!));
        }
        assert.ok(diff / peak < 1e-6, `${c.arch} ${t.module.name}: merged max|d|/peak ${diff / peak}`);
        assert.ok(moved / peak > 1e-2, `${c.arch} ${t.module.name}: the merge changed the weight`);
      }
    }
  });

  it('bias lora_only (+ DoRA) adapters generate as the reference; bias all: merge writes the trained biases in place of the base ones, and generation reads them as the reference and the merged model, single and stacked', async () => {
    const work0 = tmpDir('gen-bias-gpt2');
    const inv0 = await tinyModel('gpt2', `${work0}/model`);
    const d = writeDoraFolder(`${work0}/dora-bias`, inv0, ['c_attn', 'c_fc'], 10);
    const f0 = path.join(d.dir, 'adapter_model.safetensors');
    const p0 = readAdapter(f0);
    const st0 = { params: p0, shapes: new Map<string, number[]>(), expAvg: new Map(), expAvgSq: new Map(), step: 0 };
    for (const [k, e] of openCheckpoint(f0).tensors) st0.shapes.set(k, [...e.shape]);
    for (const t of d.targets) {
      const b0 = readTensorAsFloat32(openCheckpoint(inv0.dir).tensors.get(t.module.biasKey!)!);
      p0.set(`base_model.model.${t.module.name}.base_layer.bias`, b0.map((x, i) => x + 0.2 * Math.cos(i)));
      st0.shapes.set(`base_model.model.${t.module.name}.base_layer.bias`, [b0.length]);
    }
    writeAdapter(f0, st0);
    const c0 = JSON.parse(fs.readFileSync(path.join(d.dir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(path.join(d.dir, 'adapter_config.json'), JSON.stringify({ ...c0, bias: 'lora_only' }));
    await checkGeneration(inv0, d, work0);

    const work = tmpDir('merge-bias-gpt2');
    const inv = await tinyModel('gpt2', `${work}/model`);
    const a = writeAdapterFolder(`${work}/bias`, inv, ['c_attn'], 4, 8, 8);
    const file = path.join(a.dir, 'adapter_model.safetensors');
    const params = readAdapter(file);
    const state = { params, shapes: new Map<string, number[]>(), expAvg: new Map(), expAvgSq: new Map(), step: 0 };
    for (const [k, e] of openCheckpoint(file).tensors) state.shapes.set(k, [...e.shape]);
    const trained = new Map<string, Float32Array>();
    // PEFT's keys: <module>.base_layer.bias for the adapted c_attn, the parameter's own name for ln_f (bias: all).
    for (const [key, name] of [[`base_model.model.${a.targets[0]!.module.name}.base_layer.bias`, a.targets[0]!.module.biasKey!], ['base_model.model.transformer.ln_f.bias', 'ln_f.bias']] as const) {
      const e = openCheckpoint(inv.dir).tensors.get(name) ?? openCheckpoint(inv.dir).tensors.get(`transformer.${name}`)!;
      const v = readTensorAsFloat32(e).map((x, i) => x + 0.01 * (i % 7));
      params.set(key, v);
      state.shapes.set(key, [...e.shape]);
      trained.set(e.name, v);
    }
    writeAdapter(file, state);
    const cfg = JSON.parse(fs.readFileSync(path.join(a.dir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(path.join(a.dir, 'adapter_config.json'), JSON.stringify({ ...cfg, bias: 'all' }));
    mergeToHfFolder({ modelDir: inv.dir, adapterDir: a.dir, outDir: `${work}/merged`, dtype: 'float32' });
    const merged = openCheckpoint(`${work}/merged`).tensors;
    assert.equal(trained.size, 2);
    for (const [name, v] of trained) assert.deepEqual(readTensorAsFloat32(merged.get(name)!), v, name);
    // ln_f is no module the adapter adapts (bias "all"): generation reads its trained bias in place of the base one, as
    // the reference and the merged model do, in single and stacked mode.
    const prompt = [5, 17, 3, 42, 8];
    const ref = referenceGenerate(inv, [prompt], 10, [a], work);
    const { tuned } = await generateBaseAndTuned(inv.dir, a.dir, prompt, 10, `${work}/cache`);
    assertMatchesReference(tuned, ref[0]!, 'bias "all" adapter');
    assert.deepEqual(await generateMerged(`${work}/merged`, prompt, 10, `${work}/cache`), tuned.tokenIds);
    const stacked = await Generator.open(inv.dir, { adapters: [a.dir], lora: 'stacked', cacheDir: `${work}/cache`, threads: 1 });
    try {
      const [row] = await stacked.generateBatch([{ inputIds: prompt, maxNewTokens: 10, ignoreEos: true, adapter: stacked.adapterIds[0]! }]);
      assertMatchesReference(row!, ref[0]!, 'bias "all" adapter, stacked');
    } finally {
      await stacked.dispose();
    }
  });

  it('lora_bias adapters: merge adds s·lora_B.bias to the base bias (gpt2) and refuses a module without a base bias (llama); generation equals the reference', async () => {
    for (const arch of ['gpt2', 'llama'] as const) {
      const work = tmpDir(`merge-lora-bias-${arch}`);
      const inv = await tinyModel(arch, `${work}/model`);
      const a = writeAdapterFolder(`${work}/lb`, inv, [arch === 'gpt2' ? 'c_fc' : 'v_proj'], 4, 8, 9);
      const file = path.join(a.dir, 'adapter_model.safetensors');
      const params = readAdapter(file);
      const state = { params, shapes: new Map<string, number[]>(), expAvg: new Map(), expAvgSq: new Map(), step: 0 };
      for (const [k, e] of openCheckpoint(file).tensors) state.shapes.set(k, [...e.shape]);
      for (const t of a.targets) {
        params.set(`base_model.model.${t.module.name}.lora_B.bias`, Float32Array.from({ length: t.module.outFeatures }, (_, i) => 0.1 * Math.sin(i)));
        state.shapes.set(`base_model.model.${t.module.name}.lora_B.bias`, [t.module.outFeatures]);
      }
      writeAdapter(file, state);
      const cfg = JSON.parse(fs.readFileSync(path.join(a.dir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
      fs.writeFileSync(path.join(a.dir, 'adapter_config.json'), JSON.stringify({ ...cfg, lora_bias: true }));
      await checkGeneration(inv, a, work);
      if (arch === 'llama') {
        assert.throws(() => mergeToHfFolder({ modelDir: inv.dir, adapterDir: a.dir, outDir: `${work}/merged` }), /lora_bias on model\.layers\.0\.self_attn\.v_proj, which has no bias/);
        continue;
      }
      mergeToHfFolder({ modelDir: inv.dir, adapterDir: a.dir, outDir: `${work}/merged`, dtype: 'float32' });
      const merged = openCheckpoint(`${work}/merged`).tensors;
      const base = openCheckpoint(inv.dir).tensors;
      for (const t of a.targets) {
        const key = t.module.biasKey!;
        const want = readTensorAsFloat32(base.get(key)!).map((x, i) => Math.fround(x + t.scaling * Math.fround(0.1 * Math.sin(i))));
        assert.deepEqual(readTensorAsFloat32(merged.get(key)!), want, key);
      }
    }
  });
});
