import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../../../src/core/errors';
import { loadModel } from '../../../src/core/hf/loadModel';
import { inventoryFromConfig } from '../../../src/core/hf/inventory';
import { parseModelConfig } from '../../../src/core/hf/config';
import { LLAMA3_8B_CONFIG, tempDir, writeConfig, writeTinyGpt2, writeTinyLlama } from './tinyModels';

describe('hf/inventory loadModel', () => {
  let root: string;
  before(() => {
    root = tempDir('inv');
  });
  after(() => {
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('inventories a config-only Llama-3-8B in a few ms with 8,030,261,248 parameters', () => {
    const dir = writeConfig(path.join(root, 'llama3-8b'), LLAMA3_8B_CONFIG);
    // Best of three, so a GC pause or a busy CI core does not decide the timing assertion.
    let inv = loadModel(dir);
    let ms = Infinity;
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      inv = loadModel(dir);
      ms = Math.min(ms, performance.now() - t0);
    }
    assert.equal(inv.source, 'config');
    // embed 128256*4096 + lm_head 128256*4096 + norm 4096
    // + 32 * (q 4096*4096 + k 4096*1024 + v 4096*1024 + o 4096*4096 + 3 * 4096*14336 + 2 norms * 4096)
    const perLayer = 4096 * 4096 * 2 + 4096 * 1024 * 2 + 3 * 4096 * 14336 + 2 * 4096;
    assert.equal(perLayer, 218_112_000);
    assert.equal(inv.totalParameters, 2 * 128256 * 4096 + 4096 + 32 * perLayer);
    assert.equal(inv.totalParameters, 8_030_261_248);
    assert.equal(inv.modules.filter((m) => m.kind === 'linear').length, 32 * 7 + 1);
    assert.equal(inv.parameters[0]?.dtype, 'BF16');
    assert.ok(ms < 50, `took ${ms.toFixed(1)} ms`);
    const k = inv.modules.find((m) => m.name === 'model.layers.31.self_attn.k_proj');
    assert.deepEqual(k && [k.kind, k.inFeatures, k.outFeatures, k.hasBias, k.layer, k.weightKey], ['linear', 4096, 1024, false, 31, 'model.layers.31.self_attn.k_proj.weight']);
  });

  it('reads a tiny llama from safetensors headers, in named_parameters order, lm_head as the output head', () => {
    const inv = loadModel(writeTinyLlama(path.join(root, 'llama')));
    assert.equal(inv.source, 'safetensors');
    // embed 64*16 + head 64*16 + norm 16 + 2 * (q 16*16 + k 8*16 + v 8*16 + o 16*16 + 3*32*16 + 2*16)
    assert.equal(inv.totalParameters, 2 * 64 * 16 + 16 + 2 * (256 + 128 + 128 + 256 + 3 * 512 + 32));
    assert.deepEqual(inv.parameters.slice(0, 3).map((p) => [p.name, p.shape]), [
      ['model.embed_tokens.weight', [64, 16]], ['model.layers.0.self_attn.q_proj.weight', [16, 16]], ['model.layers.0.self_attn.k_proj.weight', [8, 16]],
    ]);
    const head = inv.modules[inv.modules.length - 1];
    assert.deepEqual(head && [head.name, head.isOutputHead, head.weightKey], ['lm_head', true, 'lm_head.weight']);
    assert.equal(inv.parameters.every((p) => p.checkpointKey === p.name && p.dtype === 'F32'), true);
  });

  it('tied embeddings: lm_head is a module whose weight is the embedding, counted once', () => {
    const inv = loadModel(writeTinyLlama(path.join(root, 'qwen-tied'), { modelType: 'qwen2', tie: true }));
    const head = inv.modules.find((m) => m.name === 'lm_head');
    assert.equal(head?.weightKey, 'model.embed_tokens.weight');
    assert.equal(inv.parameters.some((p) => p.name === 'lm_head.weight'), false);
    // qwen2 adds q/k/v biases: 2 layers * (16 + 8 + 8)
    assert.equal(inv.totalParameters, 64 * 16 + 16 + 2 * (256 + 128 + 128 + 256 + 3 * 512 + 32) + 2 * 32);
    const q = inv.modules.find((m) => m.name === 'model.layers.1.self_attn.q_proj');
    assert.equal(q?.biasKey, 'model.layers.1.self_attn.q_proj.bias');
  });

  it('GPT-2 hub layout: modules carry transformer., keys do not, attn.bias buffers are not parameters', () => {
    const dir = writeTinyGpt2(path.join(root, 'gpt2-hub'), { hubLayout: true });
    const inv = loadModel(dir);
    const cAttn = inv.modules.find((m) => m.name === 'transformer.h.0.attn.c_attn');
    assert.deepEqual(cAttn && [cAttn.kind, cAttn.inFeatures, cAttn.outFeatures, cAttn.weightKey, cAttn.biasKey], ['conv1d', 16, 48, 'h.0.attn.c_attn.weight', 'h.0.attn.c_attn.bias']);
    const head = inv.modules.find((m) => m.isOutputHead);
    assert.deepEqual(head && [head.name, head.weightKey], ['lm_head', 'wte.weight']);
    assert.equal(inv.parameters.some((p) => p.name.endsWith('.attn.bias') || p.name.endsWith('masked_bias')), false);
    assert.equal(inv.parameters.find((p) => p.name === 'transformer.h.1.mlp.c_fc.weight')?.checkpointKey, 'h.1.mlp.c_fc.weight');
    assert.deepEqual(inv.unusedCheckpointKeys, []);
    // wte 64*16 + wpe 32*16 + ln_f 32 + 2 * (ln_1 32 + c_attn 16*48+48 + c_proj 16*16+16 + ln_2 32 + c_fc 16*64+64 + c_proj 64*16+16)
    const perBlock = 32 + (768 + 48) + (256 + 16) + 32 + (1024 + 64) + (1024 + 16);
    assert.equal(inv.totalParameters, 64 * 16 + 32 * 16 + 32 + 2 * perBlock);
    // the same model in transformers' own layout gives the same inventory
    const own = loadModel(writeTinyGpt2(path.join(root, 'gpt2-own')));
    assert.equal(own.totalParameters, inv.totalParameters);
    assert.equal(own.modules.find((m) => m.name === 'transformer.h.0.attn.c_attn')?.weightKey, 'transformer.h.0.attn.c_attn.weight');
  });

  it('config-only GPT-2 small has 124,439,808 parameters', () => {
    const spec = parseModelConfig({ model_type: 'gpt2', architectures: ['GPT2LMHeadModel'] }, 'c.json');
    assert.equal(inventoryFromConfig(spec, '/x').totalParameters, 124_439_808);
  });

  it('config-only Qwen2.5-0.5B (tied, q/k/v bias) and TinyLlama-1.1B match their published parameter counts', () => {
    const qwen = parseModelConfig({
      architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', hidden_size: 896, intermediate_size: 4864, num_hidden_layers: 24,
      num_attention_heads: 14, num_key_value_heads: 2, vocab_size: 151936, tie_word_embeddings: true, rope_theta: 1000000.0,
    }, 'c.json');
    // embed 151936*896 + norm 896 + 24 * (q 896*896+896 + k 896*128+128 + v 896*128+128 + o 896*896 + 3*896*4864 + 2*896)
    assert.equal(inventoryFromConfig(qwen, '/q').totalParameters, 494_032_768);
    const tiny = parseModelConfig({
      architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 2048, intermediate_size: 5632, num_hidden_layers: 22,
      num_attention_heads: 32, num_key_value_heads: 4, vocab_size: 32000,
    }, 'c.json');
    assert.equal(inventoryFromConfig(tiny, '/t').totalParameters, 1_100_048_384);
  });

  it('raises InputError naming the tensor when a header shape disagrees with config.json', () => {
    const dir = writeTinyLlama(path.join(root, 'bad-shape'), {
      mutate: (ts) => ts.map((t) => (t.name === 'model.layers.1.mlp.up_proj.weight' ? { ...t, shape: [16, 32], data: new Float32Array(512) } : t)),
    });
    assert.throws(() => loadModel(dir), (e: unknown) =>
      e instanceof InputError && e.context.tensor === 'model.layers.1.mlp.up_proj.weight' && /\[32, 16\]/.test(e.message) && /\[16, 32\]/.test(e.message));
  });

  it('lists checkpoint tensors config.json does not explain (a third layer for a 2-layer config)', () => {
    const dir = writeTinyLlama(path.join(root, 'extra'), {
      mutate: (ts) => [...ts, { name: 'model.layers.2.mlp.up_proj.weight', dtype: 'F32', shape: [32, 16], data: new Float32Array(512) }],
    });
    assert.deepEqual(loadModel(dir).unusedCheckpointKeys, ['model.layers.2.mlp.up_proj.weight']);
  });

  it('raises InputError for a missing lm_head.weight of an untied model, with a hint about tie_word_embeddings', () => {
    const dir = writeTinyLlama(path.join(root, 'no-head'), { mutate: (ts) => ts.filter((t) => t.name !== 'lm_head.weight') });
    assert.throws(() => loadModel(dir), (e: unknown) => e instanceof InputError && e.context.tensor === 'lm_head.weight' && /tie_word_embeddings/.test(e.message));
  });

  it('raises InputError for a folder without config.json', () => {
    assert.throws(() => loadModel(path.join(root, 'nope')), (e: unknown) => e instanceof InputError && /not found/.test(e.message));
  });
});
