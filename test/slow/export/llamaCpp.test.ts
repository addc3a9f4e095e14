// llama.cpp itself (node-llama-cpp 3.21.1, CPU) runs our GGUF files: greedy tokens of base GGUF, base GGUF + GGUF
// LoRA, and merged GGUF equal the float64 PyTorch reference (test/reference/torch_ref.py) with and without the adapter,
// and our own generation engine's;
// the merged HF folder's logits equal base + adapter logits. Every family's fixture, and Phi-3 with LongRoPE.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { exportGgufAdapter, exportGgufModel } from '../../../src/core/export/gguf/exportModel';
import { mergeToHfFolder } from '../../../src/core/export/merge';
import { Generator } from '../../../src/core/generate/generator';
import { loadModel } from '../../../src/core/hf/loadModel';
import { makeFixture, type FixtureArch } from '../../../src/core/fixtures/makeFixture';
import { loadTokenizer } from '../../../src/core/hf/tokenizer';
import { writeRandomAdapter } from '../../helpers/randomAdapter';
import { testPieces, writeSentencePieceModel } from '../../helpers/sentencePieceModel';
import { tinyModel } from '../../unit/train/engineHelpers';
import type { ModelInventory } from '../../../src/core/hf/types';
import { type AdapterFolder, addEmbeddingLora, addTrainableTokens, generateBaseAndTuned, referenceGenerate, withCopies, writeAdapterFolder } from '../../unit/generate/helpers';

const ROOT = path.join(__dirname, '../../..');
const PYTHON = '/usr/bin/python3';
const NEW_TOKENS = 12;

function torchRef(job: Record<string, unknown>, dir: string, tag: string): { generated?: number[]; logits?: number[][] } {
  const jobFile = path.join(dir, `${tag}.job.json`);
  const outFile = path.join(dir, `${tag}.out.json`);
  fs.writeFileSync(jobFile, JSON.stringify({ dtype: 'float64', threads: 1, modules: [], init_adapter: null, ...job }));
  const r = spawnSync(PYTHON, [path.join(ROOT, 'test/reference/torch_ref.py'), jobFile, outFile], { encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, `torch_ref.py failed (needs ${PYTHON} with torch): ${r.stderr}`);
  return JSON.parse(fs.readFileSync(outFile, 'utf8')) as { generated?: number[]; logits?: number[][] };
}

function llamaCpp(model: string, loras: string[], prompt: number[], contextSize = 128): number[] {
  const job = { model, loras, prompt, maxTokens: NEW_TOKENS, contextSize };
  const r = spawnSync(process.execPath, [path.join(ROOT, 'test/helpers/llamaGreedy.mjs'), JSON.stringify(job)], { encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, `llama.cpp run failed: ${r.stderr}`);
  return (JSON.parse(r.stdout.trim().split('\n').pop()!) as { tokens: number[] }).tokens;
}

/** Greedy tokens of our own generation engine (src/core/generate, KV cache) on the HF folder. */
async function ourGreedy(model: string, prompt: number[], cacheDir: string): Promise<number[]> {
  const gen = await Generator.open(model, { cacheDir, threads: 1 });
  try {
    return (await gen.generate({ inputIds: prompt, maxNewTokens: NEW_TOKENS, ignoreEos: true })).tokenIds;
  } finally {
    await gen.dispose();
  }
}

const TARGETS: Record<FixtureArch, Record<string, unknown>> = {
  // rsLoRA with rank and alpha patterns: llama.cpp's single alpha/r needs the per-module ratio folded into lora_b.
  llama: { r: 8, lora_alpha: 16, use_rslora: true, target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], rank_pattern: { o_proj: 4 }, alpha_pattern: { v_proj: 32 } },
  qwen2: { r: 8, lora_alpha: 16, target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'down_proj'] },
  qwen3: { r: 8, lora_alpha: 16, target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj'] },
  gemma3_text: { r: 8, lora_alpha: 16, target_modules: ['q_proj', 'v_proj'] },
  gemma2: { r: 8, lora_alpha: 16, target_modules: ['q_proj', 'v_proj'] },
  phi3: { r: 8, lora_alpha: 16, target_modules: ['qkv_proj', 'o_proj', 'gate_up_proj', 'down_proj'] },
  gpt2: { r: 8, lora_alpha: 16, target_modules: ['c_attn', 'c_proj', 'c_fc'] },
};

describe('llama.cpp runs our GGUF exports (node-llama-cpp) = PyTorch reference', function () {
  this.timeout(600_000);
  let tmp: string;
  before(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'peft-llamacpp-')); });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  for (const arch of ['llama', 'qwen2', 'gpt2', 'qwen3', 'phi3', 'gemma2', 'gemma3_text'] as const) {
    it(`${arch}: base, base + LoRA and merged GGUF greedy tokens; merged HF folder logits`, async function () {
      const model = path.join(tmp, arch);
      await makeFixture({ arch, outDir: model, seed: 3 });
      const ad = writeRandomAdapter({ modelDir: model, outDir: path.join(tmp, `${arch}-adapter`), config: TARGETS[arch], seed: 7 });
      const tok = await loadTokenizer(model);
      const prompt = tok.encode('The quick brown fox jumps over the lazy dog');
      assert.ok(prompt.length >= 6);
      const adapterJob = { modules: ad.modules, init_adapter: path.join(ad.dir, 'adapter_model.safetensors') };

      const refBase = torchRef({ model_dir: model, generate: { prompt, max_new_tokens: NEW_TOKENS } }, tmp, `${arch}-base`).generated!;
      const refLora = torchRef({ model_dir: model, ...adapterJob, generate: { prompt, max_new_tokens: NEW_TOKENS } }, tmp, `${arch}-lora`).generated!;
      assert.notDeepEqual(refLora, refBase, 'the adapter must change the greedy tokens (else the test proves nothing)');

      const baseGguf = path.join(tmp, `${arch}.gguf`);
      const loraGguf = path.join(tmp, `${arch}-lora.gguf`);
      const mergedGguf = path.join(tmp, `${arch}-merged.gguf`);
      exportGgufModel({ modelDir: model, out: baseGguf, type: 'f32' });
      exportGgufAdapter({ adapterDir: ad.dir, modelDir: model, out: loraGguf });
      exportGgufModel({ modelDir: model, adapterDir: ad.dir, out: mergedGguf, type: 'f32' });
      assert.deepEqual(llamaCpp(baseGguf, [], prompt), refBase, 'base GGUF');
      // Our engine stops at a sliding window (the gemma3 fixture's is 4 tokens): compare where it generates.
      const window = loadModel(model).spec.slidingWindow ?? Infinity;
      if (window >= prompt.length + NEW_TOKENS) assert.deepEqual(await ourGreedy(model, prompt, path.join(tmp, `${arch}-cache`)), refBase, 'our generation engine');
      assert.deepEqual(llamaCpp(baseGguf, [loraGguf], prompt), refLora, 'base GGUF + GGUF LoRA');
      assert.deepEqual(llamaCpp(mergedGguf, [], prompt), refLora, 'merged GGUF');

      const merged = path.join(tmp, `${arch}-merged`);
      mergeToHfFolder({ modelDir: model, adapterDir: ad.dir, outDir: merged });
      const lp = torchRef({ model_dir: model, ...adapterJob, logits_input: prompt }, tmp, `${arch}-lp`).logits!;
      const mp = torchRef({ model_dir: merged, logits_input: prompt }, tmp, `${arch}-mp`).logits!;
      let worst = 0;
      for (let i = 0; i < lp.length; i++) for (let j = 0; j < lp[i]!.length; j++) worst = Math.max(worst, Math.abs(lp[i]![j]! - mp[i]![j]!));
      assert.ok(worst <= 1e-4, `merged logits differ from base + adapter by ${worst}`);
      if (process.env['EXPORT_REPORT'] !== undefined) console.log(`${arch}: tokens ${JSON.stringify(refLora)}; merged logits max |diff| ${worst.toExponential(2)}`);
    });
  }

  // Phi-3-mini and Gemma ship SentencePiece vocabularies: with a tokenizer.model in the folder, llama.cpp loads the
  // "llama" vocabulary (pieces, scores, types) and the exported model generates the reference's tokens.
  for (const arch of ['phi3', 'gemma2'] as const) {
    it(`${arch} with a SentencePiece tokenizer.model: llama.cpp loads the vocabulary; greedy tokens = PyTorch reference`, async function () {
      const model = path.join(tmp, `${arch}-spm`);
      await makeFixture({ arch, outDir: model, seed: 3 });
      writeSentencePieceModel(path.join(model, 'tokenizer.model'), testPieces(512), arch === 'phi3');
      const prompt = [1, 400, 17, 260, 301, 99, 42, 77];
      const ref = torchRef({ model_dir: model, generate: { prompt, max_new_tokens: NEW_TOKENS } }, tmp, `${arch}-spm`).generated!;
      // The fixture's added tokens 509-511 (<|endoftext|>, <|im_start|>, <|im_end|>) end generation in llama.cpp.
      assert.ok(ref.every((t) => t < 509), `reference tokens ${JSON.stringify(ref)} include an end-of-generation token`);
      const gguf = path.join(tmp, `${arch}-spm.gguf`);
      exportGgufModel({ modelDir: model, out: gguf, type: 'f32' });
      assert.deepEqual(llamaCpp(gguf, [], prompt), ref);
    });
  }

  // PEFT variants merged into GGUF (the same merged numbers as `merge`): modules_to_save copies, trainable tokens,
  // embedding LoRA. llama.cpp's greedy tokens equal the PyTorch reference on the merged HF folder, and where merging
  // keeps the adapter's function, the reference with the unmerged adapter too: a tied qwen2 whose embedding is copied
  // keeps reading the original embedding in its head (PEFT), so the GGUF gets its own output.weight. Embedding LoRA on
  // a tied model changes the head when merged (PEFT's merge_and_unload adds the delta to the shared weight).
  const VARIANTS: [string, 'qwen2' | 'llama', boolean, (dir: string, inv: ModelInventory, prompt: number[]) => AdapterFolder][] = [
    ['qwen2 (tied) with an embedding copy', 'qwen2', true, (d, inv) => withCopies(writeAdapterFolder(d, inv, ['q_proj', 'v_proj']), inv, ['embed_tokens'], ['model.embed_tokens'])],
    ['llama with an lm_head copy and trainable tokens', 'llama', true, (d, inv, p) => addTrainableTokens(withCopies(writeAdapterFolder(d, inv, ['q_proj']), inv, ['lm_head'], ['lm_head']), inv, 'model.embed_tokens', [p[1]!, p[3]!], 41)],
    ['qwen2 (tied) with trainable tokens the head follows', 'qwen2', true, (d, inv, p) => addTrainableTokens(writeAdapterFolder(d, inv, ['o_proj']), inv, 'model.embed_tokens', [p[1]!, p[2]!, p[4]!, p[6]!], 43)],
    ['qwen2 (tied) with embedding LoRA', 'qwen2', false, (d, inv) => addEmbeddingLora(writeAdapterFolder(d, inv, ['o_proj']), inv, 'model.embed_tokens', 4, 8, 42)],
  ];
  for (const [title, arch, keepsFunction, build] of VARIANTS) {
    it(`${title}: merged GGUF greedy tokens = PyTorch reference on the merged folder${keepsFunction ? ' = with the adapter = our engine' : ''}`, async function () {
      const work = path.join(tmp, `variant-${title.replace(/\W+/g, '-')}`);
      const model = path.join(work, 'model');
      await makeFixture({ arch, outDir: model, seed: 3 });
      const inv = loadModel(model);
      const prompt = (await loadTokenizer(model)).encode('The quick brown fox jumps over the lazy dog');
      const adapter = build(path.join(work, 'adapter'), inv, prompt);
      const [base, withAdapter] = referenceGenerate(inv, [prompt], NEW_TOKENS, [null, adapter], work).map((g) => g.token_ids);
      assert.notDeepEqual(withAdapter, base, 'the adapter must change the greedy tokens (else the test proves nothing)');
      const mergedDir = path.join(work, 'merged');
      mergeToHfFolder({ modelDir: model, adapterDir: adapter.dir, outDir: mergedDir, dtype: 'float32' });
      const [merged] = referenceGenerate(loadModel(mergedDir), [prompt], NEW_TOKENS, [null], work).map((g) => g.token_ids);
      const gguf = path.join(work, 'merged.gguf');
      exportGgufModel({ modelDir: model, adapterDir: adapter.dir, out: gguf, type: 'f32' });
      assert.deepEqual(llamaCpp(gguf, [], prompt), merged, 'merged GGUF in llama.cpp = the merged HF folder');
      if (keepsFunction) {
        assert.deepEqual(merged, withAdapter, 'merging keeps the adapter\'s function');
        const { tuned } = await generateBaseAndTuned(model, adapter.dir, prompt, NEW_TOKENS, path.join(work, 'cache'));
        assert.deepEqual(tuned.tokenIds, withAdapter, 'our generation engine with the adapter');
      }
    });
  }

  it('gemma2: an adapter that unties the head cannot be merged into GGUF (llama.cpp reads the head from the embedding)', async function () {
    const work = path.join(tmp, 'gemma-untied');
    const model = path.join(work, 'model');
    await makeFixture({ arch: 'gemma2', outDir: model, seed: 3 });
    const adapter = withCopies(writeAdapterFolder(path.join(work, 'adapter'), loadModel(model), ['q_proj']), loadModel(model), ['lm_head'], ['lm_head']);
    assert.throws(() => exportGgufModel({ modelDir: model, adapterDir: adapter.dir, out: path.join(work, 'x.gguf'), type: 'f32' }),
      (e: unknown) => e instanceof Error && /reads the output head from the embedding/.test(e.message) && e.message.includes(adapter.dir));
  });

  // LongRoPE as llama.cpp takes it: rope_factors_long/short tensors and rope.scaling.attn_factor. llama.cpp picks the
  // table by its context size (padded to a multiple of 256) against original_max_position_embeddings, transformers by
  // the sequence length, so each regime is one where both pick the same: short (original 256, context 256, max 1024)
  // and long (a prompt longer than original 6). Weights ×5 sharpen attention so that the tokens depend on the
  // factors: swapping the two lists or dropping the attention factor changes the reference's tokens (checked).
  for (const [regime, original, contextSize, maxPos] of [['short', 256, 256, 1024], ['long', 6, 128, 128]] as const) {
    it(`phi3 longrope, ${regime} factors: GGUF greedy tokens = PyTorch reference`, async function () {
      const short = [1.0, 1.5, 2.5, 4.0];
      const long = [1.3, 4.0, 9.0, 24.0];
      const variants = {
        exact: { rope_type: 'longrope', short_factor: short, long_factor: long },
        swapped: { rope_type: 'longrope', short_factor: long, long_factor: short },
        noAttentionFactor: { rope_type: 'longrope', short_factor: short, long_factor: long, attention_factor: 1.0 },
      };
      const refs: Record<string, number[]> = {};
      let prompt: number[] = [];
      for (const [tag, rope_scaling] of Object.entries(variants)) {
        const dir = path.join(tmp, `phi3-longrope-${regime}-${tag}`);
        await tinyModel('phi3', dir, { original_max_position_embeddings: original, max_position_embeddings: maxPos, rope_scaling });
        prompt = (await loadTokenizer(dir)).encode('The quick brown fox jumps over the lazy dog');
        assert.ok(regime === 'short' ? prompt.length + NEW_TOKENS <= original : prompt.length > original, `prompt of ${prompt.length} tokens`);
        refs[tag] = torchRef({ model_dir: dir, generate: { prompt, max_new_tokens: NEW_TOKENS } }, tmp, `phi3-longrope-${regime}-${tag}`).generated!;
      }
      assert.notDeepEqual(refs['swapped'], refs['exact'], 'the factor lists must change the tokens');
      assert.notDeepEqual(refs['noAttentionFactor'], refs['exact'], 'the attention factor must change the tokens');
      const gguf = path.join(tmp, `phi3-longrope-${regime}.gguf`);
      exportGgufModel({ modelDir: path.join(tmp, `phi3-longrope-${regime}-exact`), out: gguf, type: 'f32' });
      assert.deepEqual(llamaCpp(gguf, [], prompt, contextSize), refs['exact'], `${regime} factors`);
      assert.deepEqual(await ourGreedy(path.join(tmp, `phi3-longrope-${regime}-exact`), prompt, path.join(tmp, `longrope-${regime}-cache`)), refs['exact'], 'our generation engine');
    });
  }
});
