// GGUF export of Phi-3, Gemma 2 and Gemma 3 text as llama.cpp's converter writes them (read back with
// @huggingface/gguf): names, fused Phi-3 tensors, Gemma norms stored as 1 + w, the folded query scale, LongRoPE tensors.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gguf } from '@huggingface/gguf';
import { gemmaQueryFold } from '../../../src/core/arch/gemmaGguf';
import { InputError } from '../../../src/core/errors';
import { exportGgufAdapter, exportGgufModel } from '../../../src/core/export/gguf/exportModel';
import { llamaCppModelName } from '../../../src/core/export/gguf/tokenizer';
import { makeFixture } from '../../../src/core/fixtures/makeFixture';
import { parseModelConfig } from '../../../src/core/hf/config';
import { openCheckpoint } from '../../../src/core/safetensors/checkpoint';
import { readSafetensorsHeader, readTensorAsFloat32 } from '../../../src/core/safetensors/read';
import { writeRandomAdapter } from '../../helpers/randomAdapter';
import { testPieces, writeSentencePieceModel } from '../../helpers/sentencePieceModel';

/** F32 tensors and metadata of a GGUF file. */
async function readF32Gguf(file: string): Promise<{ meta: (k: string) => unknown; f32: (n: string) => Float32Array; shape: (n: string) => number[]; names: string[] }> {
  const p = await gguf(file, { allowLocalFile: true });
  const bytes = fs.readFileSync(file);
  const info = (name: string): (typeof p.tensorInfos)[number] => {
    const i = p.tensorInfos.find((t) => t.name === name);
    assert.ok(i !== undefined, `no tensor ${name}`);
    assert.equal(i.dtype, 0, `${name} is F32`);
    return i;
  };
  return {
    meta: (k) => (p.metadata as Record<string, unknown>)[k],
    shape: (n) => info(n).shape.map(Number),
    f32: (n) => {
      const i = info(n);
      const start = Number(p.tensorDataOffset + i.offset);
      const len = i.shape.map(Number).reduce((a, b) => a * b, 1);
      return new Float32Array(bytes.buffer.slice(bytes.byteOffset + start, bytes.byteOffset + start + 4 * len));
    },
    names: p.tensorInfos.map((t) => t.name),
  };
}

function close(got: Float32Array, want: ArrayLike<number>, tol = 1e-6): void {
  assert.equal(got.length, want.length);
  let worst = 0;
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / Math.max(1, Math.abs(want[i]!)));
  assert.ok(worst <= tol, `max rel. difference ${worst}`);
}

describe('GGUF export: Phi-3, Gemma 2, Gemma 3 text (llama.cpp converter layout)', function () {
  let tmp: string;
  before(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'peft-gguf-fam-')); });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const ckpt = (dir: string) => {
    const c = openCheckpoint(dir);
    return (name: string): Float32Array => readTensorAsFloat32(c.tensors.get(name)!);
  };

  it('gemma2: norms + 1, q scaled by sqrt(head_dim / query_pre_attn_scalar), no output.weight, soft-caps and sliding keys', async () => {
    const dir = path.join(tmp, 'gemma2');
    await makeFixture({ arch: 'gemma2', outDir: dir, seed: 2 });
    exportGgufModel({ modelDir: dir, out: `${dir}.gguf`, type: 'f32' });
    const g = await readF32Gguf(`${dir}.gguf`);
    const w = ckpt(dir);
    // fixture: head_dim 16, query_pre_attn_scalar 24 (llama.cpp scales by 16^-0.5 at 2 layers).
    const fold = Math.sqrt(16 / 24);
    assert.equal(g.meta('general.architecture'), 'gemma2');
    assert.deepEqual(['attn_logit_softcapping', 'final_logit_softcapping', 'attention.sliding_window', 'attention.sliding_window_pattern', 'attention.key_length'].map((k) => g.meta(`gemma2.${k}`)), [50, 30, 4096, 2, 16]);
    close(g.f32('blk.0.attn_q.weight'), w('model.layers.0.self_attn.q_proj.weight').map((x) => x * fold));
    close(g.f32('blk.1.attn_k.weight'), w('model.layers.1.self_attn.k_proj.weight'), 0);
    const pairs: [string, string][] = [['attn_norm', 'input_layernorm'], ['post_attention_norm', 'post_attention_layernorm'], ['ffn_norm', 'pre_feedforward_layernorm'], ['post_ffw_norm', 'post_feedforward_layernorm']];
    for (const [gg, hf] of pairs) close(g.f32(`blk.1.${gg}.weight`), w(`model.layers.1.${hf}.weight`).map((x) => x + 1));
    close(g.f32('output_norm.weight'), w('model.norm.weight').map((x) => x + 1));
    assert.ok(!g.names.includes('output.weight'));
    // The adapter's B of q_proj carries the same fold (the delta is part of q); v_proj's is as PEFT saved it.
    const ad = writeRandomAdapter({ modelDir: dir, outDir: path.join(tmp, 'g2-adapter'), config: { r: 4, lora_alpha: 4, target_modules: ['q_proj', 'v_proj'] }, seed: 3 });
    exportGgufAdapter({ adapterDir: ad.dir, modelDir: dir, out: path.join(tmp, 'g2-lora.gguf') });
    const a = await readF32Gguf(path.join(tmp, 'g2-lora.gguf'));
    const saved = readSafetensorsHeader(path.join(ad.dir, 'adapter_model.safetensors'));
    const b = (m: string): Float32Array => readTensorAsFloat32(saved.tensors.get(`base_model.model.model.layers.0.self_attn.${m}.lora_B.weight`)!);
    close(a.f32('blk.0.attn_q.weight.lora_b'), b('q_proj').map((x) => x * fold));
    close(a.f32('blk.0.attn_v.weight.lora_b'), b('v_proj'), 0);
  });

  it('gemma3_text: arch gemma3, q_norm (1 + w) carries the fold, local RoPE base, sliding period, linear scaling; soft-caps refused', async () => {
    const dir = path.join(tmp, 'gemma3');
    await makeFixture({ arch: 'gemma3_text', outDir: dir, seed: 2 });
    exportGgufModel({ modelDir: dir, out: `${dir}.gguf`, type: 'f32' });
    const g = await readF32Gguf(`${dir}.gguf`);
    const w = ckpt(dir);
    const fold = Math.sqrt(16 / 24);
    assert.equal(g.meta('general.architecture'), 'gemma3');
    assert.deepEqual(['attention.sliding_window', 'attention.sliding_window_pattern', 'rope.freq_base_swa', 'rope.freq_base', 'rope.scaling.type', 'rope.scaling.factor'].map((k) => g.meta(`gemma3.${k}`)), [4, 2, 10000, 1000000, 'linear', 8]);
    assert.equal(g.meta('gemma3.attn_logit_softcapping'), undefined);
    close(g.f32('blk.0.attn_q_norm.weight'), w('model.layers.0.self_attn.q_norm.weight').map((x) => (x + 1) * fold));
    close(g.f32('blk.0.attn_k_norm.weight'), w('model.layers.0.self_attn.k_norm.weight').map((x) => x + 1));
    close(g.f32('blk.0.attn_q.weight'), w('model.layers.0.self_attn.q_proj.weight'), 0);
    const capped = path.join(tmp, 'gemma3-capped');
    await makeFixture({ arch: 'gemma3_text', outDir: capped, overrides: { final_logit_softcapping: 30.0 } });
    assert.throws(() => exportGgufModel({ modelDir: capped, out: `${capped}.gguf` }), (e: unknown) => e instanceof InputError && e.code === 'gguf-config' && /soft-capping/.test(e.message));
  });

  it('llama.cpp reads the 27B layer count as (hidden / heads)^-0.5: no fold for Gemma-2-27B, a fold elsewhere', () => {
    const g27 = parseModelConfig({ model_type: 'gemma2', hidden_size: 4608, num_attention_heads: 32, num_key_value_heads: 16, head_dim: 128, num_hidden_layers: 46, query_pre_attn_scalar: 144 }, 'c.json');
    assert.equal(gemmaQueryFold(g27, 'gemma2'), 1);
    const g9 = parseModelConfig({ model_type: 'gemma2', hidden_size: 3584, num_attention_heads: 16, head_dim: 256, num_hidden_layers: 42, query_pre_attn_scalar: 256 }, 'c.json');
    assert.equal(gemmaQueryFold(g9, 'gemma2'), 1);
    assert.equal(gemmaQueryFold({ ...g27, numLayers: 2 }, 'gemma2'), Math.sqrt(128 / 144));
  });

  it('phi3: fused attn_qkv and ffn_up kept whole, partial rotary dimension count, original context, LongRoPE factor tensors + attn_factor', async () => {
    const dir = path.join(tmp, 'phi3');
    const rope_scaling = { type: 'longrope', short_factor: [1, 2, 3, 4], long_factor: [5, 6, 7, 8] };
    await makeFixture({ arch: 'phi3', outDir: dir, seed: 2, overrides: { original_max_position_embeddings: 32, rope_scaling } });
    const r = exportGgufModel({ modelDir: dir, out: `${dir}.gguf`, type: 'f32' });
    const g = await readF32Gguf(`${dir}.gguf`);
    const w = ckpt(dir);
    assert.equal(g.meta('general.architecture'), 'phi3');
    // hidden 64 / 4 heads = 16, × partial_rotary_factor 0.5 = 8 rotary features.
    assert.deepEqual(['rope.dimension_count', 'rope.scaling.original_context_length', 'attention.sliding_window'].map((k) => g.meta(`phi3.${k}`)), [8, 32, 0]);
    assert.ok(Math.abs((g.meta('phi3.rope.scaling.attn_factor') as number) - Math.sqrt(1 + Math.log(128 / 32) / Math.log(32))) < 1e-6);
    assert.deepEqual(g.shape('blk.0.attn_qkv.weight'), [64, 64 + 2 * 32]);
    assert.deepEqual(g.shape('blk.0.ffn_up.weight'), [64, 256]);
    close(g.f32('blk.0.ffn_up.weight'), w('model.layers.0.mlp.gate_up_proj.weight'), 0);
    close(g.f32('rope_factors_long.weight'), [5, 6, 7, 8], 0);
    close(g.f32('rope_factors_short.weight'), [1, 2, 3, 4], 0);
    // The folder is called phi3 and the byte-level vocabulary has no <s>, </s>, <unk>: llama.cpp's name rule would abort.
    assert.equal(g.meta('general.name'), 'phi 3');
    assert.ok(r.warnings.some((m) => /phi 3/.test(m) && /<unk>/.test(m)));
  });

  it('SentencePiece tokenizer.model → tokenizer.ggml.model llama: pieces, scores, types, add_space_prefix, added tokens, padding', async () => {
    const dir = path.join(tmp, 'gemma2-spm');
    await makeFixture({ arch: 'gemma2', outDir: dir, seed: 2, overrides: { vocab_size: 520 } });
    const pieces = testPieces(512);
    writeSentencePieceModel(path.join(dir, 'tokenizer.model'), pieces, false);
    const tc = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
    tc['added_tokens_decoder'] = { 300: { content: '<start_of_turn>', special: true }, 301: { content: '<unused7>', special: false }, 302: { content: 'a\u2581b', special: false } };
    tc['bos_token'] = '<s>';
    tc['eos_token'] = '</s>';
    fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(tc));
    exportGgufModel({ modelDir: dir, out: `${dir}.gguf`, type: 'f32' });
    const g = await readF32Gguf(`${dir}.gguf`);
    assert.equal(g.meta('tokenizer.ggml.model'), 'llama');
    assert.equal(g.meta('tokenizer.ggml.pre'), 'default');
    assert.equal(g.meta('tokenizer.ggml.add_space_prefix'), false);
    assert.equal(g.meta('tokenizer.ggml.merges'), undefined);
    const tokens = g.meta('tokenizer.ggml.tokens') as string[];
    const scores = g.meta('tokenizer.ggml.scores') as number[];
    const types = g.meta('tokenizer.ggml.token_type') as number[];
    assert.equal(tokens.length, 520);
    assert.deepEqual([tokens[0], tokens[1], tokens[3], tokens[400], tokens[515]], ['<unk>', '<s>', '<0x00>', '\u2581w400', '[PAD515]']);
    assert.deepEqual([types[0], types[1], types[3], types[400], types[515]], [2, 3, 6, 1, 5]);
    assert.deepEqual([scores[400], scores[515]], [-400, -10000]);
    // added_tokens_decoder: special or special-looking → control, else user-defined with ▁ read as a space; score -1000.
    assert.deepEqual([tokens[300], tokens[301], tokens[302]], ['<start_of_turn>', '<unused7>', 'a b']);
    assert.deepEqual([types[300], types[301], types[302]], [3, 3, 4]);
    assert.equal(scores[301], -1000);
    assert.deepEqual([g.meta('tokenizer.ggml.bos_token_id'), g.meta('tokenizer.ggml.eos_token_id')], [1, 2]);
    fs.writeFileSync(path.join(dir, 'tokenizer.model'), Buffer.from([0x0a, 0x05, 0x01]));
    assert.throws(() => exportGgufModel({ modelDir: dir, out: `${dir}-bad.gguf` }), (e: unknown) => e instanceof InputError && /SentencePiece model/.test(e.message));
  });

  it('general.name: "phi3" / "Phi-3" only rewritten when a token the rule looks up is missing', () => {
    assert.deepEqual(llamaCppModelName('My-Phi-3-ft', ['<s>']).name, 'My-Phi 3-ft');
    assert.equal(llamaCppModelName('phi3-mini', ['</s>', '<unk>', '<s>', '<|endoftext|>']).warning, null);
    assert.equal(llamaCppModelName('llama', []).name, 'llama');
  });
});
