// The adapter server with PEFT-variant adapters beside a plain one: trainable tokens (two adapters, different rows),
// a tied head's own modules_to_save copy, an embedding copy and embedding LoRA, in one stacked session with
// continuous batching. Concurrent answers equal Generator.generate with each adapter alone (single mode, itself
// checked against the PyTorch reference); a Linear-layer copy loaded at runtime answers as alone too.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { Generator } from '../../../src/core/generate/generator';
import { AdapterServer } from '../../../src/core/serve/server';
import { Rng } from '../../../src/core/util/random';
import { tinyModel, tmpDir } from '../train/engineHelpers';
import { addEmbeddingLora, addTrainableTokens, withCopies, writeAdapterFolder } from '../generate/helpers';
import { call } from './helpers';

describe('serve: PEFT-variant adapters in one stacked session', function () {
  this.timeout(180_000);

  it('concurrent requests to tokens / head-copy / embedding-copy / embedding-LoRA / plain adapters equal each adapter alone', async () => {
    const work = tmpDir('serve-variants');
    const inv = await tinyModel('qwen2', `${work}/model`); // tied embeddings
    const rng = new Rng(8);
    const prompts = [6, 4, 7, 5, 3, 6].map((n) => Array.from({ length: n }, () => 4 + rng.int(inv.spec.vocabSize - 4)));
    const dirs: Record<string, string> = {
      tokens: addTrainableTokens(writeAdapterFolder(`${work}/tokens`, inv, ['q_proj']), inv, 'model.embed_tokens', [prompts[0]![1]!, prompts[1]![0]!, 9], 51).dir,
      tokens2: addTrainableTokens(writeAdapterFolder(`${work}/tokens2`, inv, ['v_proj']), inv, 'model.embed_tokens', [prompts[2]![2]!, 11], 52).dir,
      head: withCopies(writeAdapterFolder(`${work}/head`, inv, ['o_proj']), inv, ['lm_head'], ['lm_head']).dir,
      embed: withCopies(writeAdapterFolder(`${work}/embed`, inv, ['q_proj']), inv, ['embed_tokens'], ['model.embed_tokens']).dir,
      emblora: addEmbeddingLora(writeAdapterFolder(`${work}/emblora`, inv, ['q_proj']), inv, 'model.embed_tokens', 4, 8, 53).dir,
      plain: writeAdapterFolder(`${work}/plain`, inv, ['q_proj', 'v_proj'], 4, 8, 54).dir,
    };
    const cacheDir = `${work}/cache`;
    const server = await AdapterServer.start({
      modelDir: inv.dir, baseName: 'tiny', adapters: Object.entries(dirs).map(([name, dir]) => ({ name, dir })), port: 0, threads: 1, cacheDir, allowRoots: [work],
    });
    // Each adapter alone: a single-mode Generator of its own (two token adapters with different rows cannot share one).
    const alone = async (model: string, prompt: number[], n: number): Promise<number[]> => {
      const gen = await Generator.open(inv.dir, { adapters: model === 'tiny' ? [] : [dirs[model]!], cacheDir, threads: 1 });
      try {
        return (await gen.generate({ inputIds: prompt, maxNewTokens: n, ignoreEos: true, adapter: model === 'tiny' ? null : gen.adapterIds[0]! })).tokenIds;
      } finally {
        await gen.dispose();
      }
    };
    try {
      const names = ['tokens', 'head', 'tiny', 'embed', 'emblora', 'tokens2', 'plain', 'head'];
      const answers = await Promise.all(names.map((model, i) => call(server.url, '/v1/completions', { model, prompt: prompts[i % prompts.length], max_tokens: 6 + (i % 3), ignore_eos: true, return_token_ids: true })));
      const seen = new Set<string>();
      for (const [i, model] of names.entries()) {
        assert.equal(answers[i]!.status, 200, answers[i]!.text);
        const want = await alone(model, prompts[i % prompts.length]!, 6 + (i % 3));
        const got = (answers[i]!.body as { choices: { token_ids: number[] }[] }).choices[0]!.token_ids;
        assert.deepEqual(got, want, `request ${i} (${model})`);
        seen.add(JSON.stringify(want));
      }
      assert.ok(seen.size >= 6, 'the adapters answer differently (a row reading another adapter would show)');

      // Loaded at runtime: a copy of a Linear layer (the session is rebuilt with its inputs), answering as alone.
      dirs['linear'] = withCopies(writeAdapterFolder(`${work}/linear`, inv, ['v_proj']), inv, ['model.layers.0.mlp.down_proj'], ['model.layers.0.mlp.down_proj']).dir;
      const load = await call(server.url, '/v1/load_lora_adapter', { lora_name: 'linear', lora_path: path.resolve(dirs['linear']) });
      assert.equal(load.status, 200, load.text);
      const both = await Promise.all(['linear', 'head'].map((model) => call(server.url, '/v1/completions', { model, prompt: prompts[0], max_tokens: 6, ignore_eos: true, return_token_ids: true })));
      for (const [i, model] of ['linear', 'head'].entries()) {
        assert.deepEqual((both[i]!.body as { choices: { token_ids: number[] }[] }).choices[0]!.token_ids, await alone(model, prompts[0]!, 6), model);
      }
    } finally {
      await server.close();
    }
  });
});
