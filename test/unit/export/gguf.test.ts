// GGUF export read back field by field with @huggingface/gguf: metadata keys and types, tokenizer arrays, tensor
// names/shapes/types, and tensor bytes against the safetensors source (q/k permutation, Conv1D transpose, Q8_0, LoRA).
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gguf, GGUFValueType } from '@huggingface/gguf';
import { exportGgufAdapter, exportGgufModel } from '../../../src/core/export/gguf/exportModel';
import { translateChatTemplate, writeModelfile } from '../../../src/core/export/gguf/ollama';
import { decodeQ8_0 } from '../../../src/core/export/gguf/quant';
import { preTokenizerName } from '../../../src/core/export/gguf/tokenizer';
import { makeFixture } from '../../../src/core/fixtures/makeFixture';
import { openCheckpoint } from '../../../src/core/safetensors/checkpoint';
import { f16ToF32 } from '../../../src/core/safetensors/dtypes';
import { readTensorAsFloat32 } from '../../../src/core/safetensors/read';
import { writeRandomAdapter } from '../../helpers/randomAdapter';
import { runCli as run } from '../cli/runCli';

type Parsed = Awaited<ReturnType<typeof readGguf>>;

async function readGguf(file: string) {
  const p = await gguf(file, { allowLocalFile: true, typedMetadata: true });
  const bytes = fs.readFileSync(file);
  const tensor = (name: string): { shape: number[]; dtype: number; data: Buffer } => {
    const i = p.tensorInfos.find((t) => t.name === name);
    assert.ok(i !== undefined, `no tensor ${name} in ${file}`);
    const shape = i.shape.map(Number);
    const n = shape.reduce((a, b) => a * b, 1);
    const size = i.dtype === 0 ? 4 * n : i.dtype === 1 ? 2 * n : (n / 32) * 34;
    const start = Number(p.tensorDataOffset + i.offset);
    return { shape, dtype: i.dtype, data: bytes.subarray(start, start + size) };
  };
  const f32 = (name: string): Float32Array => {
    const t = tensor(name);
    if (t.dtype === 0) return new Float32Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.length));
    if (t.dtype === 1) return Float32Array.from({ length: t.data.length / 2 }, (_, k) => f16ToF32(t.data.readUInt16LE(2 * k)));
    return decodeQ8_0(t.data, f16ToF32);
  };
  const meta = (key: string): unknown => (p.metadata as Record<string, unknown>)[key];
  const type = (key: string): GGUFValueType | undefined => (p.typedMetadata as Record<string, { type: GGUFValueType } | undefined>)[key]?.type;
  return { p, tensor, f32, meta, type };
}

/** numpy's w.reshape(heads, 2, rows/heads/2, cols).swapaxes(1, 2).reshape(rows, cols), written as index arithmetic. */
function swapaxesPermute(w: Float32Array, rows: number, cols: number, heads: number): Float32Array {
  const half = rows / heads / 2;
  const out = new Float32Array(w.length);
  let dst = 0;
  for (let h = 0; h < heads; h++) for (let j = 0; j < half; j++) for (let i = 0; i < 2; i++) {
    const srcRow = h * 2 * half + i * half + j;
    for (let c = 0; c < cols; c++) out[dst * cols + c] = w[srcRow * cols + c]!;
    dst++;
  }
  return out;
}

const same = (a: ArrayLike<number>, b: ArrayLike<number>): boolean => a.length === b.length && Array.prototype.every.call(a, (x: number, i: number) => x === b[i]);

describe('GGUF export (read back with @huggingface/gguf)', function () {
  let tmp: string;
  let llama: Parsed;
  before(async function () {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'peft-gguf-'));
    // vocab_size above the tokenizer's 512 tokens: the token list must be padded.
    await makeFixture({ arch: 'llama', outDir: path.join(tmp, 'llama'), overrides: { vocab_size: 520 } });
    await makeFixture({ arch: 'qwen2', outDir: path.join(tmp, 'qwen2') });
    await makeFixture({ arch: 'gpt2', outDir: path.join(tmp, 'gpt2'), gpt2Layout: 'hub' });
    exportGgufModel({ modelDir: path.join(tmp, 'llama'), out: path.join(tmp, 'llama.gguf'), type: 'f32' });
    llama = await readGguf(path.join(tmp, 'llama.gguf'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('llama: general.*, llama.* hyper-parameters with their GGUF types', function () {
    const { meta, type, p } = llama;
    assert.equal(meta('version'), 3);
    assert.equal(meta('general.architecture'), 'llama');
    assert.equal(meta('general.type'), 'model');
    assert.equal(meta('general.file_type'), 0);
    const cfg = JSON.parse(fs.readFileSync(path.join(tmp, 'llama', 'config.json'), 'utf8')) as Record<string, number>;
    const want: [string, number, GGUFValueType][] = [
      ['llama.context_length', cfg['max_position_embeddings']!, GGUFValueType.UINT32], ['llama.embedding_length', 64, GGUFValueType.UINT32],
      ['llama.feed_forward_length', 128, GGUFValueType.UINT32], ['llama.block_count', 2, GGUFValueType.UINT32],
      ['llama.attention.head_count', 4, GGUFValueType.UINT32], ['llama.attention.head_count_kv', 2, GGUFValueType.UINT32],
      ['llama.rope.dimension_count', 16, GGUFValueType.UINT32], ['llama.rope.freq_base', 10000, GGUFValueType.FLOAT32],
      ['llama.vocab_size', 520, GGUFValueType.UINT32],
    ];
    for (const [k, v, t] of want) {
      assert.equal(meta(k), v, k);
      assert.equal(type(k), t, k);
    }
    assert.ok(Math.abs((meta('llama.attention.layer_norm_rms_epsilon') as number) - 1e-5) < 1e-10);
    assert.equal(p.tensorInfos.length, 1 + 2 * 9 + 1 + 1);
  });

  it('llama: tokenizer metadata from tokenizer.json (tokens padded to vocab_size, types, merges, specials, template)', function () {
    const { meta, type } = llama;
    const tj = JSON.parse(fs.readFileSync(path.join(tmp, 'llama', 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number>; merges: string[] }; added_tokens: { id: number; content: string }[] };
    const tokens = meta('tokenizer.ggml.tokens') as string[];
    const types = meta('tokenizer.ggml.token_type') as number[];
    assert.equal(meta('tokenizer.ggml.model'), 'gpt2');
    assert.equal(meta('tokenizer.ggml.pre'), 'gpt-2');
    assert.equal(tokens.length, 520);
    assert.equal(types.length, 520);
    assert.equal(type('tokenizer.ggml.token_type'), GGUFValueType.ARRAY);
    for (const [tok, id] of Object.entries(tj.model.vocab)) {
      assert.equal(tokens[id], tok);
      assert.equal(types[id], 1);
    }
    for (const a of tj.added_tokens) {
      assert.equal(tokens[a.id], a.content);
      assert.equal(types[a.id], 3, `${a.content} is special → CONTROL`);
    }
    assert.equal(tokens[515], '[PAD515]');
    assert.equal(types[515], 5);
    assert.deepEqual(meta('tokenizer.ggml.merges'), tj.model.merges);
    assert.equal(meta('tokenizer.ggml.bos_token_id'), tj.added_tokens.find((t) => t.content === '<|begin_of_text|>')!.id);
    assert.equal(meta('tokenizer.ggml.eos_token_id'), tj.added_tokens.find((t) => t.content === '<|end_of_text|>')!.id);
    assert.equal(meta('tokenizer.ggml.add_bos_token'), true);
    assert.match(meta('tokenizer.chat_template') as string, /<\|im_start\|>/);
  });

  it('llama: tensor names, GGUF dims (reversed), q/k rows permuted for llama.cpp RoPE (k with kv heads), v untouched', function () {
    const ck = openCheckpoint(path.join(tmp, 'llama'));
    const src = (n: string): Float32Array => readTensorAsFloat32(ck.tensors.get(n)!);
    assert.deepEqual(llama.tensor('blk.0.attn_q.weight').shape, [64, 64]);
    assert.deepEqual(llama.tensor('blk.0.attn_k.weight').shape, [64, 32]);
    assert.deepEqual(llama.tensor('token_embd.weight').shape, [64, 520]);
    assert.deepEqual(llama.tensor('blk.1.ffn_down.weight').shape, [128, 64]);
    const q = src('model.layers.1.self_attn.q_proj.weight');
    assert.ok(same(llama.f32('blk.1.attn_q.weight'), swapaxesPermute(q, 64, 64, 4)));
    assert.ok(!same(llama.f32('blk.1.attn_q.weight'), q));
    assert.ok(same(llama.f32('blk.1.attn_k.weight'), swapaxesPermute(src('model.layers.1.self_attn.k_proj.weight'), 32, 64, 2)));
    assert.ok(same(llama.f32('blk.1.attn_v.weight'), src('model.layers.1.self_attn.v_proj.weight')));
    assert.ok(same(llama.f32('output.weight'), src('lm_head.weight')));
    assert.ok(same(llama.f32('output_norm.weight'), src('model.norm.weight')));
    assert.ok(same(llama.f32('blk.0.ffn_gate.weight'), src('model.layers.0.mlp.gate_proj.weight')));
  });

  it('qwen2: arch qwen2, q/k/v biases, no permutation, tied head (no output.weight)', async function () {
    exportGgufModel({ modelDir: path.join(tmp, 'qwen2'), out: path.join(tmp, 'qwen2.gguf'), type: 'f32' });
    const g = await readGguf(path.join(tmp, 'qwen2.gguf'));
    const ck = openCheckpoint(path.join(tmp, 'qwen2'));
    assert.equal(g.meta('general.architecture'), 'qwen2');
    assert.equal(g.meta('qwen2.rope.freq_base'), 1000000);
    assert.ok(same(g.f32('blk.0.attn_q.weight'), readTensorAsFloat32(ck.tensors.get('model.layers.0.self_attn.q_proj.weight')!)));
    assert.ok(same(g.f32('blk.0.attn_k.bias'), readTensorAsFloat32(ck.tensors.get('model.layers.0.self_attn.k_proj.bias')!)));
    assert.ok(g.p.tensorInfos.every((t) => t.name !== 'output.weight'));
  });

  it('mistral is written as arch llama, with the llama q/k permutation', async function () {
    const dir = path.join(tmp, 'mistral');
    await makeFixture({ arch: 'llama', outDir: dir, overrides: { model_type: 'mistral', architectures: ['MistralForCausalLM'], sliding_window: 4096 } });
    exportGgufModel({ modelDir: dir, out: path.join(tmp, 'mistral.gguf'), type: 'f32' });
    const g = await readGguf(path.join(tmp, 'mistral.gguf'));
    assert.equal(g.meta('general.architecture'), 'llama');
    assert.equal(g.meta('llama.attention.head_count_kv'), 2);
    const q = readTensorAsFloat32(openCheckpoint(dir).tensors.get('model.layers.0.self_attn.q_proj.weight')!);
    assert.ok(same(g.f32('blk.0.attn_q.weight'), swapaxesPermute(q, 64, 64, 4)));
  });

  it('gpt2 (hub layout): Conv1D weights transposed to [out, in], causal-mask buffers dropped, position_embd', async function () {
    exportGgufModel({ modelDir: path.join(tmp, 'gpt2'), out: path.join(tmp, 'gpt2.gguf'), type: 'f32' });
    const g = await readGguf(path.join(tmp, 'gpt2.gguf'));
    const ck = openCheckpoint(path.join(tmp, 'gpt2'));
    assert.equal(g.meta('general.architecture'), 'gpt2');
    assert.equal(g.meta('gpt2.feed_forward_length'), 256);
    const w = readTensorAsFloat32(ck.tensors.get('h.0.attn.c_attn.weight')!); // [64, 192]
    const t = g.f32('blk.0.attn_qkv.weight');
    assert.deepEqual(g.tensor('blk.0.attn_qkv.weight').shape, [64, 192]); // ne = (in, out): row-major [out, in]
    assert.equal(t[5 * 64 + 7], w[7 * 192 + 5]);
    assert.ok(same(g.f32('position_embd.weight'), readTensorAsFloat32(ck.tensors.get('wpe.weight')!)));
    assert.ok(g.p.tensorInfos.every((x) => !x.name.includes('attn.bias') || x.name.endsWith('attn_qkv.bias') || x.name.endsWith('attn_output.bias')));
    assert.equal(g.p.tensorInfos.length, 2 + 2 * 12 + 2);
  });

  it('--type q8_0 / f16: 2-D weights quantized within half a step, 1-D tensors F32, file_type 7 / 1', async function () {
    const ck = openCheckpoint(path.join(tmp, 'llama'));
    for (const [type, ftype, ggml] of [['q8_0', 7, 8], ['f16', 1, 1]] as const) {
      const file = path.join(tmp, `llama-${type}.gguf`);
      exportGgufModel({ modelDir: path.join(tmp, 'llama'), out: file, type });
      const g = await readGguf(file);
      assert.equal(g.meta('general.file_type'), ftype);
      assert.equal(g.tensor('blk.0.ffn_up.weight').dtype, ggml);
      assert.equal(g.tensor('blk.0.attn_norm.weight').dtype, 0);
      const w = readTensorAsFloat32(ck.tensors.get('model.layers.0.mlp.up_proj.weight')!);
      const got = g.f32('blk.0.ffn_up.weight');
      let worst = 0;
      for (let b = 0; b < w.length / 32; b++) {
        let amax = 0;
        for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(w[32 * b + j]!));
        for (let j = 0; j < 32; j++) worst = Math.max(worst, Math.abs(got[32 * b + j]! - w[32 * b + j]!) / (type === 'q8_0' ? amax / 127 : Math.max(Math.abs(w[32 * b + j]!), 6e-5) * 2 ** -10));
      }
      // Q8_0: half a step, plus the f16 rounding of the scale (127 · 2^-11 steps); F16: half an ulp.
      assert.ok(worst <= (type === 'q8_0' ? 0.5 + 127 * 2 ** -11 : 0.5) && worst > 0, `${type}: worst error ${worst} steps`);
    }
  });

  it('gguf-adapter: general.type adapter, lora alpha, lora_a = A (in×r), lora_b = B (r×out) with q/k rows permuted', async function () {
    const model = path.join(tmp, 'llama');
    const ad = writeRandomAdapter({ modelDir: model, outDir: path.join(tmp, 'ad'), config: { r: 4, lora_alpha: 8, target_modules: ['q_proj', 'k_proj', 'v_proj'], alpha_pattern: { v_proj: 2 } } });
    exportGgufAdapter({ adapterDir: ad.dir, modelDir: model, out: path.join(tmp, 'lora.gguf') });
    const g = await readGguf(path.join(tmp, 'lora.gguf'));
    assert.equal(g.meta('general.type'), 'adapter');
    assert.equal(g.meta('general.architecture'), 'llama');
    assert.equal(g.meta('adapter.type'), 'lora');
    assert.equal(g.meta('adapter.lora.alpha'), 8);
    assert.equal(g.type('adapter.lora.alpha'), GGUFValueType.FLOAT32);
    assert.equal(g.p.tensorInfos.length, 12);
    const ck = openCheckpoint(path.join(ad.dir, 'adapter_model.safetensors'));
    const src = (n: string): Float32Array => readTensorAsFloat32(ck.tensors.get(`base_model.model.model.layers.1.self_attn.${n}`)!);
    assert.deepEqual(g.tensor('blk.1.attn_q.weight.lora_a').shape, [64, 4]);
    assert.deepEqual(g.tensor('blk.1.attn_q.weight.lora_b').shape, [4, 64]);
    assert.ok(same(g.f32('blk.1.attn_q.weight.lora_a'), src('q_proj.lora_A.weight')));
    assert.ok(same(g.f32('blk.1.attn_q.weight.lora_b'), swapaxesPermute(src('q_proj.lora_B.weight'), 64, 4, 4)));
    assert.ok(same(g.f32('blk.1.attn_k.weight.lora_b'), swapaxesPermute(src('k_proj.lora_B.weight'), 32, 4, 2)));
    // alpha_pattern v_proj: 2 → PEFT scaling 2/4; llama.cpp applies 8/4, so B carries the ratio 1/4.
    const vb = src('v_proj.lora_B.weight');
    const got = g.f32('blk.1.attn_v.weight.lora_b');
    for (let i = 0; i < vb.length; i++) assert.ok(Math.abs(got[i]! - vb[i]! / 4) <= 1e-7 * Math.abs(vb[i]!), `v lora_b[${i}]`);
  });

  it('tokenizer.ggml.pre from the pre-tokenizer: GPT-2, SmolLM, Llama 3, Qwen2 patterns; others "default"', function () {
    const split = (regex: string): unknown => ({ type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false }, { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false }] });
    assert.deepEqual(preTokenizerName({ type: 'ByteLevel', add_prefix_space: false, use_regex: true }), { name: 'gpt-2', recognised: true });
    assert.equal(preTokenizerName({ type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, { type: 'ByteLevel', use_regex: true }] }).name, 'smollm');
    assert.equal(preTokenizerName(split("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")).name, 'llama-bpe');
    assert.equal(preTokenizerName(split("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")).name, 'qwen2');
    assert.deepEqual(preTokenizerName(split('\\s+')), { name: 'default', recognised: false });
    assert.deepEqual(preTokenizerName(null), { name: 'default', recognised: false });
  });

  it('Modelfile: FROM/ADAPTER paths, ChatML → Go template, stop tokens; unknown templates are left to the user', function () {
    const dir = path.join(tmp, 'ollama');
    const { file, templateFormat } = writeModelfile({ dir, from: path.join(dir, 'base.gguf'), adapter: path.join(tmp, 'lora.gguf'), chatTemplate: '{{ "<|im_start|>" }}{{ "<|im_end|>" }}', eosToken: '<|end_of_text|>' });
    const text = fs.readFileSync(file, 'utf8');
    assert.equal(templateFormat, 'ChatML');
    assert.match(text, /^FROM \.\/base\.gguf$/m);
    assert.match(text, new RegExp(`^ADAPTER ${path.join(tmp, 'lora.gguf').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    assert.match(text, /TEMPLATE """\{\{- range \.Messages \}\}<\|im_start\|>\{\{ \.Role \}\}\n\{\{ \.Content \}\}<\|im_end\|>/);
    assert.deepEqual(text.match(/^PARAMETER stop .*$/gm), ['PARAMETER stop "<|im_end|>"', 'PARAMETER stop "<|im_start|>"', 'PARAMETER stop "<|end_of_text|>"']);
    assert.equal(translateChatTemplate('{{ messages[0].content }}'), null);
    assert.equal(translateChatTemplate('<|start_header_id|>x<|eot_id|>')?.format, 'Llama 3');
  });

  it('CLI: export gguf --adapter --merge --ollama, export gguf-adapter --json; usage errors exit 2, bad input exit 1', async function () {
    const model = path.join(tmp, 'qwen2');
    const ad = writeRandomAdapter({ modelDir: model, outDir: path.join(tmp, 'ad-q'), config: { r: 2, lora_alpha: 4, target_modules: ['q_proj'] } });
    const merged = await run(['export', 'gguf', model, path.join(tmp, 'cli-merged.gguf'), '--adapter', ad.dir, '--merge', '--type', 'q8_0', '--ollama', path.join(tmp, 'cli-ollama'), '--json']);
    assert.equal(merged.code, 0, merged.err);
    const j = JSON.parse(merged.out) as { arch: string; modelfile: string };
    assert.equal(j.arch, 'qwen2');
    assert.match(fs.readFileSync(j.modelfile, 'utf8'), /^FROM .*cli-merged\.gguf$/m);
    assert.equal((await readGguf(path.join(tmp, 'cli-merged.gguf'))).meta('general.file_type'), 7);
    const adapter = await run(['export', 'gguf-adapter', ad.dir, path.join(tmp, 'cli-lora.gguf'), '--model', model, '--json']);
    assert.equal(adapter.code, 0, adapter.err);
    assert.equal((JSON.parse(adapter.out) as { tensors: number }).tensors, 4);
    const withOllama = await run(['export', 'gguf-adapter', ad.dir, path.join(tmp, 'cli-ollama2', 'lora.gguf'), '--model', model, '--ollama', path.join(tmp, 'cli-ollama2'), '--base-gguf', path.join(tmp, 'cli-ollama2', 'base.gguf')]);
    assert.equal(withOllama.code, 0, withOllama.err);
    const mf = fs.readFileSync(path.join(tmp, 'cli-ollama2', 'Modelfile'), 'utf8');
    assert.match(mf, /^FROM \.\/base\.gguf\nADAPTER \.\/lora\.gguf\nTEMPLATE """/m);
    assert.equal((await run(['export', 'gguf', model, path.join(tmp, 'x.gguf'), '--adapter', ad.dir])).code, 2);
    assert.equal((await run(['export', 'ggfu', model, path.join(tmp, 'x.gguf')])).code, 2);
    assert.equal((await run(['export', 'gguf', model, path.join(tmp, 'x.gguf'), '--type', 'q4'])).code, 2);
    assert.equal((await run(['export', 'gguf-adapter', ad.dir, path.join(tmp, 'x.gguf')])).code, 2);
    const wrongBase = await run(['export', 'gguf-adapter', ad.dir, path.join(tmp, 'x.gguf'), '--model', path.join(tmp, 'gpt2')]);
    assert.equal(wrongBase.code, 1);
    assert.match(wrongBase.err, /not found in the base model/);
  });
});
