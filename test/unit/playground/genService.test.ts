// The Playground's generation service and worker: three columns (base + two adapters) in one stacked batch give
// the tokens of separate generate calls with the same seed; cancel; bad adapters and prompts are column messages.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { Generator } from '../../../src/core/generate/generator';
import { GenClient } from '../../../src/core/playground/genClient';
import { GenService, adapterSha256 } from '../../../src/core/playground/genService';
import { DEFAULT_SAMPLING, type GenToHost, type HostToGen, type PgColumnRequest } from '../../../src/shared/playground';
import { tinyModel, tmpDir } from '../train/engineHelpers';
import { addCopies, writeAdapterFolder } from '../generate/helpers';

type Opened = Extract<GenToHost, { type: 'opened' }>;

function collect(): { msgs: GenToHost[]; send: (m: GenToHost) => void } {
  const msgs: GenToHost[] = [];
  return { msgs, send: (m) => msgs.push(m) };
}

describe('playground: generation service', function () {
  this.timeout(120_000);
  let work: string;
  let model: string;
  let a1: string;
  let a2: string;
  let foreign: string;
  let normCopy: string;
  before(async () => {
    work = tmpDir('pg-service');
    const inv = await tinyModel('llama', `${work}/model`);
    model = inv.dir;
    a1 = writeAdapterFolder(`${work}/a1`, inv, ['q_proj', 'v_proj'], 4, 8, 3).dir;
    a2 = writeAdapterFolder(`${work}/a2`, inv, ['o_proj', 'up_proj'], 8, 16, 4).dir;
    const other = await tinyModel('llama', `${work}/other`, { hidden_size: 48, intermediate_size: 96 });
    foreign = writeAdapterFolder(`${work}/foreign`, other, ['q_proj'], 4, 8, 5).dir;
    const withNorm = writeAdapterFolder(`${work}/linear-copy`, inv, ['q_proj'], 4, 8, 6);
    addCopies(withNorm, inv, ['model.layers.0.mlp.down_proj'], ['model.layers.0.mlp.down_proj']);
    normCopy = withNorm.dir;
  });

  it('three columns stream the tokens of separate generate calls with the same seed, and report hashes', async () => {
    const { msgs, send } = collect();
    const svc = new GenService(send, { cacheDir: `${work}/cache` });
    const sampling = { ...DEFAULT_SAMPLING, temperature: 0.9, topK: 20, maxNewTokens: 12, seed: 11 };
    const adapters = [null, a1, a2];
    try {
      await svc.handle({ type: 'open', model, adapters: [a1, a2], threads: 1 });
      const opened = msgs.find((m): m is Opened => m.type === 'opened')!;
      assert.deepEqual(opened.adapters.map((a) => a.dir), [a1, a2].map((d) => path.resolve(d)));
      assert.equal(opened.adapters[0]!.sha256, adapterSha256(a1));
      assert.match(opened.adapters[0]!.sha256!, /^[0-9a-f]{64}$/);
      assert.equal(opened.tokenizer, true);
      const columns: PgColumnRequest[] = adapters.map((adapter) => ({ adapter, sampling, prompt: 'The cat sat on' }));
      await svc.handle({ type: 'generate', id: 1, columns });
      const streamed = adapters.map((_, c) => msgs.filter((m) => m.type === 'token' && m.column === c).map((m) => (m as { token: number }).token));
      const done = adapters.map((_, c) => msgs.find((m) => m.type === 'columnDone' && m.column === c) as Extract<GenToHost, { type: 'columnDone' }>);
      assert.equal(msgs.at(-1)!.type, 'done');
      const single = await Generator.open(model, { adapters: [a1, a2], cacheDir: `${work}/cache`, threads: 1 });
      try {
        for (let c = 0; c < 3; c++) {
          const alone = await single.generate({ prompt: 'The cat sat on', adapter: adapters[c], maxNewTokens: 12, temperature: 0.9, topK: 20, topP: 1, repetitionPenalty: 1, seed: 11 });
          assert.deepEqual(done[c]!.result.tokenIds, alone.tokenIds, `column ${c}`);
          assert.deepEqual(streamed[c], alone.tokenIds, `column ${c} streamed`);
          assert.equal(done[c]!.result.text, alone.text);
        }
      } finally {
        await single.dispose();
      }
      assert.notDeepEqual(streamed[1], streamed[2], 'the adapters differ');
    } finally {
      await svc.dispose();
    }
  });

  it('bad adapters and prompts are messages in their columns; the other columns still generate', async () => {
    const { msgs, send } = collect();
    const svc = new GenService(send, { cacheDir: `${work}/cache` });
    try {
      await svc.handle({ type: 'open', model, adapters: [a1, foreign, `${work}/nowhere`, normCopy], threads: 1 });
      const opened = msgs.find((m): m is Opened => m.type === 'opened')!;
      assert.equal(opened.adapters[0]!.error, undefined);
      assert.match(opened.adapters[1]!.error!, /does not fit the base model.*expected \[4, 64\], got \[4, 48\]/s);
      assert.ok(opened.adapters[2]!.error !== undefined);
      // A copy of a Linear weight is picked per row in the batch: it opens beside the others.
      assert.equal(opened.adapters[3]!.error, undefined);
      const s = { ...DEFAULT_SAMPLING, maxNewTokens: 4 };
      await svc.handle({ type: 'generate', id: 2, columns: [
        { adapter: null, sampling: s, prompt: 'hello' },
        { adapter: foreign, sampling: s, prompt: 'hello' },
        { adapter: a1, sampling: s, prompt: 'word '.repeat(400) },
      ] });
      const err = (c: number): string | undefined => (msgs.find((m) => m.type === 'columnError' && m.column === c) as { message?: string } | undefined)?.message;
      assert.equal(err(0), undefined);
      assert.match(err(1)!, /does not fit the base model/);
      assert.doesNotMatch(err(1)!, /\n\s+at /, 'no stack trace');
      assert.match(err(2)!, /the prompt has \d+ tokens but the model has \d+ positions/);
      const done0 = msgs.find((m) => m.type === 'columnDone' && m.column === 0) as Extract<GenToHost, { type: 'columnDone' }>;
      assert.equal(done0.result.tokenIds.length, 4);
    } finally {
      await svc.dispose();
    }
  });

  it('chat columns go through the chat template, as generate with the same messages', async () => {
    const { msgs, send } = collect();
    const svc = new GenService(send, { cacheDir: `${work}/cache` });
    const messages = [{ role: 'user' as const, content: 'Hello there' }];
    try {
      await svc.handle({ type: 'open', model, adapters: [a1], threads: 1 });
      assert.equal(msgs.find((m): m is Opened => m.type === 'opened')!.chatTemplate, true);
      const sampling = { ...DEFAULT_SAMPLING, maxNewTokens: 6 };
      await svc.handle({ type: 'generate', id: 3, columns: [{ adapter: null, sampling, messages }, { adapter: a1, sampling, messages }] });
      const single = await Generator.open(model, { adapters: [a1], cacheDir: `${work}/cache`, threads: 1 });
      try {
        for (const [c, adapter] of [[0, null], [1, a1]] as const) {
          const d = msgs.find((m) => m.type === 'columnDone' && m.column === c) as Extract<GenToHost, { type: 'columnDone' }>;
          const alone = await single.generate({ messages, adapter, maxNewTokens: 6, temperature: 0 });
          assert.deepEqual(d.result.tokenIds, alone.tokenIds, `column ${c}`);
          assert.equal(d.result.promptTokens, alone.promptTokens);
        }
      } finally {
        await single.dispose();
      }
    } finally {
      await svc.dispose();
    }
  });

  it('the forked worker streams every column and cancels at a token', async () => {
    const msgs: GenToHost[] = [];
    let onMsg: (() => void) | undefined;
    const client = new GenClient({
      workerPath: path.resolve(__dirname, '../../../src/worker/genWorker.ts'), execArgv: ['-r', 'tsx/cjs'],
      env: { PEFT_STUDIO_GRAPH_CACHE: `${work}/cache` },
      onMessage: (m) => { msgs.push(m); onMsg?.(); },
    });
    const until = (pred: (m: GenToHost) => boolean): Promise<GenToHost> => new Promise((resolve) => {
      const check = (): void => { const m = msgs.find(pred); if (m !== undefined) { onMsg = undefined; resolve(m); } };
      onMsg = check;
      check();
    });
    try {
      const send = (m: HostToGen): void => client.send(m);
      send({ type: 'open', model, adapters: [a1, a2], threads: 1 });
      await until((m) => m.type === 'opened');
      const s = { ...DEFAULT_SAMPLING, maxNewTokens: 200 };
      send({ type: 'generate', id: 7, columns: [null, a1, a2].map((adapter) => ({ adapter, sampling: { ...s }, prompt: 'Once' })) });
      await until((m) => m.type === 'token' && m.column === 2);
      send({ type: 'cancel', id: 7 });
      await until((m) => m.type === 'done' && m.id === 7);
      for (let c = 0; c < 3; c++) {
        const d = msgs.find((m) => m.type === 'columnDone' && m.column === c) as Extract<GenToHost, { type: 'columnDone' }>;
        assert.ok(d.result.tokenIds.length >= 1, `column ${c} streamed`);
        if (d.result.finishReason !== 'eos') {
          assert.equal(d.result.finishReason, 'abort');
          assert.ok(d.result.tokenIds.length < 200);
        }
      }
    } finally {
      client.dispose();
    }
  });
});
