// Stacked generation (one batch, each row its own adapter: the Playground and `serve`) of adapters with modules_to_save
// copies of the embedding / lm_head, trainable tokens and embedding LoRA, beside plain LoRA adapters and the base
// model: every row's greedy tokens equal the PyTorch reference for its adapter alone, and its logprobs are within 1e-4.
import * as assert from 'node:assert/strict';
import { Generator } from '../../../src/core/generate/generator';
import type { ModelInventory } from '../../../src/core/hf/types';
import { Rng } from '../../../src/core/util/random';
import { tinyModel, tmpDir } from '../train/engineHelpers';
import { writeDoraFolder } from './doraHelpers';
import { type AdapterFolder, addEmbeddingLora, addTrainableTokens, addTrainedBiases, assertMatchesReference, referenceGenerate, withCopies, writeAdapterFolder } from './helpers';

type Build = (dir: string, inv: ModelInventory, prompt: number[]) => AdapterFolder;

const CASES: { arch: 'llama' | 'qwen2' | 'gpt2'; adapters: [string, Build][] }[] = [
  {
    arch: 'qwen2', // tied embeddings
    adapters: [
      ['trainable tokens (the tied head follows)', (d, inv, p) => addTrainableTokens(writeAdapterFolder(d, inv, ['q_proj']), inv, 'model.embed_tokens', [p[1]!, p[4]!, 9], 21)],
      ['a tied lm_head\'s own copy', (d, inv) => withCopies(writeAdapterFolder(d, inv, ['v_proj']), inv, ['lm_head'], ['lm_head'])],
      ['an embedding copy (the tied head keeps the base)', (d, inv) => withCopies(writeAdapterFolder(d, inv, ['q_proj']), inv, ['embed_tokens'], ['model.embed_tokens'])],
      ['embedding LoRA', (d, inv) => addEmbeddingLora(writeAdapterFolder(d, inv, ['q_proj']), inv, 'model.embed_tokens', 4, 8, 22)],
      ['other trainable token rows', (d, inv, p) => addTrainableTokens(writeAdapterFolder(d, inv, ['o_proj']), inv, 'model.embed_tokens', [p[2]!, 17], 23)],
      ['bias "all": k and v biases of layers it does not adapt', (d, inv) => addTrainedBiases(writeAdapterFolder(d, inv, ['q_proj']), inv, ['model.layers.0.self_attn.k_proj', 'model.layers.1.self_attn.v_proj'], 27)],
    ],
  },
  {
    arch: 'llama', // untied head
    adapters: [
      ['embedding and lm_head copies', (d, inv) => withCopies(writeAdapterFolder(d, inv, ['q_proj']), inv, ['embed_tokens', 'lm_head'], ['model.embed_tokens', 'lm_head'])],
      ['LoRA on lm_head', (d, inv) => writeAdapterFolder(d, inv, ['q_proj', 'lm_head'])],
      ['trainable tokens', (d, inv, p) => addTrainableTokens(writeAdapterFolder(d, inv, ['v_proj']), inv, 'model.embed_tokens', [p[0]!, p[3]!], 24)],
      ['copies of every norm', (d, inv) => withCopies(writeAdapterFolder(d, inv, ['q_proj']), inv, ['norm'], inv.modules.filter((m) => m.kind === 'rmsnorm').map((m) => m.name))],
      ['a copy of one down_proj', (d, inv) => withCopies(writeAdapterFolder(d, inv, ['q_proj']), inv, ['model.layers.0.mlp.down_proj'], ['model.layers.0.mlp.down_proj'])],
    ],
  },
  {
    arch: 'gpt2', // tied, learned positions
    adapters: [
      ['wte and wpe embedding LoRA', (d, inv) => addEmbeddingLora(addEmbeddingLora(writeAdapterFolder(d, inv, ['c_attn']), inv, 'transformer.wte', 4, 8, 25), inv, 'transformer.wpe', 4, 8, 26)],
      ['a wte copy', (d, inv) => withCopies(writeAdapterFolder(d, inv, ['c_attn']), inv, ['wte'], ['transformer.wte'])],
      ['bias "all": ln_f and an MLP bias', (d, inv) => addTrainedBiases(writeAdapterFolder(d, inv, ['c_attn']), inv, ['transformer.ln_f', 'transformer.h.0.mlp.c_fc'], 28)],
      ['a copy of one Conv1D layer (weight and bias)', (d, inv) => withCopies(writeAdapterFolder(d, inv, ['c_attn']), inv, ['h.1.mlp.c_proj'], ['transformer.h.1.mlp.c_proj'])],
    ],
  },
];

describe('stacked generation of copies, trainable tokens and embedding LoRA', function () {
  this.timeout(300_000);
  for (const c of CASES) {
    it(`${c.arch}: base + ${c.adapters.map(([name]) => name).join(' + ')} in one batch equal the reference row by row`, async () => {
      const work = tmpDir(`gen-stacked-${c.arch}`);
      const inv = await tinyModel(c.arch, `${work}/model`);
      const rng = new Rng(31);
      const prompt = Array.from({ length: 6 }, () => 4 + rng.int(inv.spec.vocabSize - 4));
      const folders = c.adapters.map(([, build], i) => build(`${work}/a${i}`, inv, prompt));
      const ref = referenceGenerate(inv, [prompt], 10, [null, ...folders], work);
      const gen = await Generator.open(inv.dir, { adapters: folders.map((f) => f.dir), lora: 'stacked', cacheDir: `${work}/cache`, threads: 1 });
      try {
        // Each adapter twice, in an order that is not the slot order, beside the base model.
        const rows = [null, ...folders.map((_, i) => i).reverse(), ...folders.map((_, i) => i)];
        const out = await gen.generateBatch(rows.map((i) => ({ inputIds: prompt, maxNewTokens: 10, ignoreEos: true, adapter: i === null ? null : gen.adapterIds[i]! })));
        out.forEach((r, j) => {
          const i = rows[j]!;
          assertMatchesReference(r, ref[i === null ? 0 : i + 1]!, `row ${j} (${i === null ? 'base' : c.adapters[i]![0]})`);
        });
        const distinct = new Set(ref.map((x) => x.logprobs.join(',')));
        assert.equal(distinct.size, ref.length, 'every adapter changes the generation (the check would catch a row reading another adapter)');
      } finally {
        await gen.dispose();
      }
    });
  }
});

describe('adding variant adapters to an open Generator', function () {
  this.timeout(300_000);
  it('single mode: token rows beside a plain adapter feed right; other token rows, or a copy of that embedding or of the tied head beside them, are refused and change nothing', async () => {
    const work = tmpDir('gen-add-variants');
    const inv = await tinyModel('qwen2', `${work}/model`);
    const prompt = [5, 40, 9, 77, 12, 30];
    const tokens = addTrainableTokens(writeAdapterFolder(`${work}/tokens`, inv, ['q_proj']), inv, 'model.embed_tokens', [40, 77], 61);
    const plain = writeAdapterFolder(`${work}/plain`, inv, ['v_proj'], 4, 8, 63);
    const embed = withCopies(writeAdapterFolder(`${work}/embed`, inv, ['v_proj']), inv, ['embed_tokens'], ['model.embed_tokens']);
    const head = withCopies(writeAdapterFolder(`${work}/head`, inv, ['v_proj']), inv, ['lm_head'], ['lm_head']);
    const other = addTrainableTokens(writeAdapterFolder(`${work}/other`, inv, ['q_proj']), inv, 'model.embed_tokens', [9], 62);
    const ref = referenceGenerate(inv, [prompt], 8, [null, tokens, plain], work);
    const gen = await Generator.open(inv.dir, { cacheDir: `${work}/cache`, threads: 1 });
    try {
      const t = await gen.addAdapter(tokens.dir);
      const p = await gen.addAdapter(plain.dir);
      const run = (adapter: string | null): ReturnType<Generator['generate']> => gen.generate({ inputIds: prompt, maxNewTokens: 8, ignoreEos: true, adapter });
      assertMatchesReference(await run(null), ref[0]!, 'base');
      assertMatchesReference(await run(t), ref[1]!, 'tokens');
      assertMatchesReference(await run(p), ref[2]!, 'plain');
      await assert.rejects(gen.addAdapter(other.dir), /different trainable_token_indices of the same layer/);
      await assert.rejects(gen.addAdapter(embed.dir), /trainable tokens of model\.embed_tokens beside another adapter's copy of model\.embed_tokens\.weight/);
      await assert.rejects(gen.addAdapter(head.dir), /trainable tokens of model\.embed_tokens beside another adapter's copy of lm_head\.weight/);
      assert.deepEqual(gen.adapterIds, [t, p], 'the refused adapters are not loaded');
      assertMatchesReference(await run(t), ref[1]!, 'tokens, after the refusal');
    } finally {
      await gen.dispose();
    }
    const stacked = await Generator.open(inv.dir, { adapters: [tokens.dir], lora: 'stacked', cacheDir: `${work}/cache`, threads: 1 });
    try {
      const [r] = await stacked.generateBatch([{ inputIds: prompt, maxNewTokens: 8, ignoreEos: true, adapter: stacked.adapterIds[0]! }]);
      assertMatchesReference(r!, ref[1]!, 'stacked tokens');
      // DoRA's scale reads a layer's bias as one vector: another adapter's trained bias of that layer cannot join it.
      const dora = writeDoraFolder(`${work}/dora`, inv, ['q_proj'], 64);
      const biased = addTrainedBiases(writeAdapterFolder(`${work}/biased`, inv, ['v_proj']), inv, ['model.layers.0.self_attn.q_proj'], 65);
      await stacked.addAdapter(dora.dir);
      await assert.rejects(stacked.addAdapter(biased.dir), /DoRA on a layer beside another adapter's trained bias of it \(model\.layers\.0\.self_attn\.q_proj\.bias\)/);
      assert.equal(stacked.adapterIds.length, 2, 'the refused adapter is not loaded');
      const [again] = await stacked.generateBatch([{ inputIds: prompt, maxNewTokens: 8, ignoreEos: true, adapter: stacked.adapterIds[0]! }]);
      assertMatchesReference(again!, ref[1]!, 'stacked tokens, after the refusal');
    } finally {
      await stacked.dispose();
    }
  });
});
