// The Generator on a tiny llama fixture: KV-cache decoding equals full recomputation, seeded sampling is
// reproducible, cancel and stop strings end generation at the right token, streaming yields the same tokens.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Generator } from '../../../src/core/generate/generator';
import type { ModelInventory } from '../../../src/core/hf/types';
import { Rng } from '../../../src/core/util/random';
import { tinyModel, tmpDir } from '../train/engineHelpers';
import { writeAdapterFolder } from './helpers';

describe('generate: Generator', function () {
  this.timeout(60_000);
  let work: string;
  let inv: ModelInventory;
  let gen: Generator;
  let prompt: number[];

  before(async () => {
    work = tmpDir('gen-engine');
    inv = await tinyModel('llama', `${work}/model`);
    const adapter = writeAdapterFolder(`${work}/adapter`, inv, ['q_proj', 'v_proj']);
    gen = await Generator.open(inv.dir, { adapters: [adapter.dir], cacheDir: `${work}/cache`, threads: 1 });
    const rng = new Rng(5);
    prompt = Array.from({ length: 6 }, () => rng.int(inv.spec.vocabSize));
  });
  after(async () => gen.dispose());

  for (const withAdapter of [false, true]) {
    it(`KV-cache decoding equals full recomputation (${withAdapter ? 'adapter' : 'base'})`, async () => {
      const adapter = withAdapter ? gen.adapterIds[0]! : null;
      const cached = await gen.generate({ inputIds: prompt, maxNewTokens: 8, ignoreEos: true, adapter });
      assert.equal(cached.tokenIds.length, 8);
      for (let k = 0; k < 8; k++) {
        // One prefill over the prompt and the first k tokens: no cache at all.
        const full = await gen.generate({ inputIds: [...prompt, ...cached.tokenIds.slice(0, k)], maxNewTokens: 1, ignoreEos: true, adapter });
        assert.equal(full.tokenIds[0], cached.tokenIds[k], `token ${k}`);
        assert.ok(Math.abs(full.logprobs[0]! - cached.logprobs[k]!) < 1e-5, `logprob ${k}: ${full.logprobs[0]} vs ${cached.logprobs[k]}`);
      }
    });
  }

  it('sampling with a seed is reproducible, and another seed gives other tokens', async () => {
    const req = { inputIds: prompt, maxNewTokens: 16, ignoreEos: true, temperature: 1.2, topK: 40, topP: 0.95, repetitionPenalty: 1.1 };
    const a = await gen.generate({ ...req, seed: 7 });
    const b = await gen.generate({ ...req, seed: 7 });
    const c = await gen.generate({ ...req, seed: 8 });
    assert.deepEqual(a.tokenIds, b.tokenIds);
    assert.deepEqual(a.logprobs, b.logprobs);
    assert.notDeepEqual(a.tokenIds, c.tokenIds);
    const greedy = await gen.generate({ inputIds: prompt, maxNewTokens: 16, ignoreEos: true });
    assert.notDeepEqual(a.tokenIds, greedy.tokenIds);
  });

  it('cancel: an abort during streaming stops after that token; an aborted signal generates nothing', async () => {
    const controller = new AbortController();
    const seen: number[] = [];
    const r = await gen.generate({ inputIds: prompt, maxNewTokens: 16, ignoreEos: true }, {
      signal: controller.signal,
      onToken: (t) => {
        seen.push(t.id);
        if (seen.length === 3) controller.abort();
      },
    });
    assert.equal(r.finishReason, 'abort');
    assert.deepEqual(r.tokenIds, seen);
    assert.equal(r.tokenIds.length, 3);
    const none = await gen.generate({ inputIds: prompt, maxNewTokens: 16 }, { signal: AbortSignal.abort() });
    assert.deepEqual(none.tokenIds, []);
  });

  it('stop strings end generation at the token that completes them; EOS ids end it too', async () => {
    const full = await gen.generate({ inputIds: prompt, maxNewTokens: 16, ignoreEos: true });
    const tok = gen.tokenizer!;
    const texts = full.tokenIds.map((_, k) => tok.decode(full.tokenIds.slice(0, k + 1), { skipSpecialTokens: true }));
    const k = texts.findIndex((t, i) => i >= 4 && t.trim().length > texts[3]!.trim().length);
    assert.ok(k >= 4, 'the fixture produces text');
    const stop = texts[k]!.slice(texts[3]!.length).trim().slice(0, 3) || texts[k]!.slice(-1);
    const first = texts.findIndex((t) => t.includes(stop));
    const r = await gen.generate({ inputIds: prompt, maxNewTokens: 16, ignoreEos: true, stop: [stop] });
    assert.equal(r.finishReason, 'stop');
    assert.deepEqual(r.tokenIds, full.tokenIds.slice(0, first + 1));
    const e = await gen.generate({ inputIds: prompt, maxNewTokens: 16, eosTokenIds: [full.tokenIds[2]!] });
    assert.equal(e.finishReason, 'eos');
    assert.deepEqual(e.tokenIds, full.tokenIds.slice(0, full.tokenIds.indexOf(full.tokenIds[2]!) + 1));
  });

  it('stream() yields the token events, then the result; chat messages use the template with the generation prompt', async () => {
    const events: number[] = [];
    const it = gen.stream({ prompt: 'hello there', maxNewTokens: 5, ignoreEos: true });
    let next = await it.next();
    while (next.done !== true) {
      events.push(next.value.id);
      next = await it.next();
    }
    assert.deepEqual(events, next.value.tokenIds);
    // Leaving the loop early cancels the generation, and the Generator is free again.
    let n = 0;
    for await (const t of gen.stream({ inputIds: prompt, maxNewTokens: 100, ignoreEos: true })) {
      assert.equal(typeof t.id, 'number');
      if (++n === 2) break;
    }
    assert.equal((await gen.generate({ inputIds: prompt, maxNewTokens: 1 })).tokenIds.length, 1);
    const tok = gen.tokenizer!;
    const messages = [{ role: 'user', content: 'hi' }];
    const ids = gen.promptIds({ messages });
    assert.deepEqual(ids, tok.encode(tok.applyChatTemplate(messages, { addGenerationPrompt: true }), { addSpecialTokens: false }));
    assert.ok(ids.length > tok.encode(tok.applyChatTemplate(messages), { addSpecialTokens: false }).length - 1);
  });

  it('addAdapter: a base-only Generator takes an adapter later and gives what one opened with it gives', async () => {
    const late = await Generator.open(inv.dir, { cacheDir: `${work}/cache`, threads: 1 });
    try {
      const req = { inputIds: prompt, maxNewTokens: 6, ignoreEos: true };
      const base = await late.generate(req);
      const id = await late.addAdapter(`${work}/adapter`);
      assert.equal(id, gen.adapterIds[0]);
      const [withAdapter, ref, refBase] = [await late.generate({ ...req, adapter: id }), await gen.generate({ ...req, adapter: id }), await gen.generate(req)];
      assert.deepEqual(withAdapter.tokenIds, ref.tokenIds);
      assert.deepEqual(base.tokenIds, refBase.tokenIds);
      assert.ok(Math.max(...withAdapter.logprobs.map((x, i) => Math.abs(x - ref.logprobs[i]!))) < 1e-5);
    } finally {
      await late.dispose();
    }
  });

  it('bad input: a prompt as long as the positions, ids outside the vocabulary, bad sampling values', async () => {
    await assert.rejects(gen.generate({ inputIds: new Array<number>(inv.spec.maxPositionEmbeddings).fill(1) }), /has 128 tokens but the model has 128 positions/);
    await assert.rejects(gen.generate({ inputIds: [1, inv.spec.vocabSize] }), /token id 512 at position 1 is outside the vocabulary/);
    await assert.rejects(gen.generate({ inputIds: [1], topP: 0 }), /top_p must be a number in \(0, 1\]/);
    await assert.rejects(gen.generate({ inputIds: [1], adapter: '/nope' }), /no adapter "\/nope" is loaded/);
    await assert.rejects(gen.generate({ inputIds: [1], stop: [''] }), /a stop string must not be empty/);
    // A chat template that renders nothing names the file it came from.
    const blank = `${work}/blank-template`;
    fs.cpSync(inv.dir, blank, { recursive: true });
    const cfgFile = path.join(blank, 'tokenizer_config.json');
    fs.writeFileSync(cfgFile, JSON.stringify({ ...JSON.parse(fs.readFileSync(cfgFile, 'utf8')) as object, chat_template: '{{ "" }}' }));
    const g2 = await Generator.open(blank, { cacheDir: `${work}/cache`, threads: 1 });
    try {
      assert.throws(() => g2.promptIds({ messages: [{ role: 'user', content: 'hi' }] }),
        (e: unknown) => e instanceof Error && /renders these messages as an empty prompt/.test(e.message) && e.message.includes(cfgFile));
    } finally {
      await g2.dispose();
    }
  });
});
