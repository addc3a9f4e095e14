// The adapter server over loopback on a tiny llama: per-adapter answers equal Generator.generate (greedy),
// concurrent mixed requests equal sequential ones, routes split by weight, runtime load/unload, SSE, metrics.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Generator } from '../../../src/core/generate/generator';
import type { ModelInventory } from '../../../src/core/hf/types';
import { register } from '../../../src/core/serve/registry';
import { AdapterServer } from '../../../src/core/serve/server';
import { Rng } from '../../../src/core/util/random';
import { tinyModel, tmpDir } from '../train/engineHelpers';
import { writeAdapterFolder } from '../generate/helpers';
import { call, sseData } from './helpers';

interface Completion {
  model: string;
  object: string;
  choices: { text?: string; message?: { content: string }; token_ids?: number[]; finish_reason: string }[];
  usage: { prompt_tokens: number; completion_tokens: number };
}

describe('serve: OpenAI-compatible adapter server', function () {
  this.timeout(120_000);
  let work: string;
  let inv: ModelInventory;
  let ref: Generator;
  let server: AdapterServer;
  let base: string;
  const dirs: Record<string, string> = {};
  let prompts: number[][];

  before(async () => {
    work = tmpDir('serve');
    inv = await tinyModel('llama', `${work}/model`);
    dirs['A'] = writeAdapterFolder(`${work}/a`, inv, ['q_proj', 'v_proj'], 4, 8, 3).dir;
    dirs['B'] = writeAdapterFolder(`${work}/b`, inv, ['o_proj', 'up_proj'], 8, 16, 4).dir;
    dirs['C'] = writeAdapterFolder(`${work}/c`, inv, ['q_proj', 'down_proj'], 4, 8, 5).dir;
    const cacheDir = `${work}/cache`;
    ref = await Generator.open(inv.dir, { adapters: [dirs['A'], dirs['B'], dirs['C']], cacheDir, threads: 1 });
    server = await AdapterServer.start({
      modelDir: inv.dir, baseName: 'tiny', adapters: [{ name: 'A', dir: dirs['A'] }, { name: 'B', dir: dirs['B'] }],
      routes: [{ name: 'canary', targets: [{ adapter: 'A', weight: 80 }, { adapter: 'B', weight: 20 }] }],
      port: 0, threads: 1, cacheDir, routeSeed: 11, allowRoots: [work],
    });
    base = server.url;
    const rng = new Rng(3);
    prompts = [5, 9, 3, 7, 4, 6].map((n) => Array.from({ length: n }, () => 3 + rng.int(inv.spec.vocabSize - 3)));
  });
  after(async () => {
    await server?.close();
    await ref?.dispose();
  });

  const refGen = (adapter: string | null, prompt: number[], n = 8): Promise<{ tokenIds: number[]; text?: string }> =>
    ref.generate({ inputIds: prompt, maxNewTokens: n, ignoreEos: true, adapter: adapter === null ? null : path.resolve(dirs[adapter]!) });

  it('GET /v1/models lists the base, then the adapters, then the routes; /health answers', async () => {
    const r = await call(base, '/v1/models');
    assert.equal(r.status, 200);
    assert.deepEqual((r.body as { data: { id: string }[] }).data.map((m) => m.id), ['tiny', 'A', 'B', 'canary']);
    const h = await call(base, '/health');
    assert.equal((h.body as { status: string }).status, 'ok');
  });

  it('per-adapter answers (greedy) equal Generator.generate, and `model` names the adapter', async () => {
    for (const model of ['tiny', 'A', 'B']) {
      const r = await call(base, '/v1/completions', { model, prompt: prompts[0], max_tokens: 8, ignore_eos: true, temperature: 0, return_token_ids: true });
      assert.equal(r.status, 200, r.text);
      const c = r.body as Completion;
      const want = await refGen(model === 'tiny' ? null : model, prompts[0]!);
      assert.equal(c.model, model);
      assert.equal(c.object, 'text_completion');
      assert.deepEqual(c.choices[0]!.token_ids, want.tokenIds, model);
      assert.equal(c.choices[0]!.text, want.text);
      assert.deepEqual([c.usage.prompt_tokens, c.usage.completion_tokens], [prompts[0]!.length, 8]);
    }
    const a = await refGen('A', prompts[0]!);
    const b = await refGen('B', prompts[0]!);
    assert.notDeepEqual(a.tokenIds, b.tokenIds, 'the adapters differ');
  });

  it('concurrent mixed-adapter requests are batched and equal sequential answers', async () => {
    const models = ['A', 'B', 'tiny', 'B', 'A', 'tiny'];
    const rows = async (): Promise<[number, number]> => {
      const t = (await call(base, '/metrics')).text;
      return [Number(/peft_serve_batch_rows_bucket\{le="1"\} (\d+)/.exec(t)?.[1] ?? 0), Number(/peft_serve_batch_rows_count (\d+)/.exec(t)?.[1] ?? 0)];
    };
    const [single0, steps0] = await rows();
    const answers = await Promise.all(models.map((model, i) => call(base, '/v1/completions', { model, prompt: prompts[i], max_tokens: 6 + i, ignore_eos: true, return_token_ids: true })));
    for (let i = 0; i < models.length; i++) {
      const want = await refGen(models[i] === 'tiny' ? null : models[i]!, prompts[i]!, 6 + i);
      assert.deepEqual((answers[i]!.body as Completion).choices[0]!.token_ids, want.tokenIds, `request ${i}`);
    }
    // Forward passes with more than one row: the requests shared them.
    const [single, steps] = await rows();
    assert.ok(steps - steps0 > single - single0, `${steps - steps0} forward passes, ${single - single0} with one row`);
  });

  it('a route splits 80/20 over 60 requests (seeded), and POST /v1/routes changes the weights live', async () => {
    const count = async (n: number): Promise<Record<string, number>> => {
      const seen: Record<string, number> = {};
      for (let i = 0; i < n; i++) {
        const r = await call(base, '/v1/completions', { model: 'canary', prompt: prompts[1], max_tokens: 1 });
        const m = (r.body as Completion).model;
        seen[m] = (seen[m] ?? 0) + 1;
      }
      return seen;
    };
    const split = await count(60);
    assert.equal((split['A'] ?? 0) + (split['B'] ?? 0), 60);
    assert.ok(split['A']! >= 38 && split['A']! <= 58, `A served ${split['A']} of 60`);
    assert.ok(split['B']! >= 2, `B served ${split['B']} of 60`);
    const set = await call(base, '/v1/routes', { name: 'canary', targets: { A: 0, B: 100 } });
    assert.equal(set.status, 200, set.text);
    assert.deepEqual(await count(5), { B: 5 });
    const badRoute = await call(base, '/v1/routes', { name: 'canary', targets: { Z: 100 } });
    assert.equal(badRoute.status, 400);
    assert.match(badRoute.text, /names \\"Z\\", which is not loaded/);
    await call(base, '/v1/routes', { name: 'canary', targets: { A: 80, B: 20 } });
  });

  it('loads and unloads an adapter at runtime, only from allowed roots, and refuses a changed registry version', async () => {
    const load = await call(base, '/v1/load_lora_adapter', { lora_name: 'C', lora_path: dirs['C'] });
    assert.equal(load.status, 200, load.text);
    const r = await call(base, '/v1/completions', { model: 'C', prompt: prompts[2], max_tokens: 8, ignore_eos: true, return_token_ids: true });
    assert.deepEqual((r.body as Completion).choices[0]!.token_ids, (await refGen('C', prompts[2]!)).tokenIds);
    assert.equal((r.body as Completion).model, 'C');
    const inRoute = await call(base, '/v1/unload_lora_adapter', { lora_name: 'A' });
    assert.equal(inRoute.status, 400);
    assert.match(inRoute.text, /is in route \\"canary\\"/);
    assert.equal((await call(base, '/v1/unload_lora_adapter', { lora_name: 'C' })).status, 200);
    const gone = await call(base, '/v1/completions', { model: 'C', prompt: prompts[2], max_tokens: 2 });
    assert.equal(gone.status, 404);
    assert.match(gone.text, /the model \\"C\\" does not exist/);
    // B still answers as before after C's slot went away.
    const b = await call(base, '/v1/completions', { model: 'B', prompt: prompts[0], max_tokens: 8, ignore_eos: true, return_token_ids: true });
    assert.deepEqual((b.body as Completion).choices[0]!.token_ids, (await refGen('B', prompts[0]!)).tokenIds);
    const outside = tmpDir('serve-outside');
    fs.cpSync(dirs['C']!, outside, { recursive: true });
    const refused = await call(base, '/v1/load_lora_adapter', { lora_name: 'D', lora_path: outside });
    assert.equal(refused.status, 400);
    assert.match(refused.text, /outside the allowed roots/);
    const v = register(work, 'reg', dirs['C']!);
    const file = path.join(v.dir, 'adapter_model.safetensors');
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 3] = bytes[bytes.length - 3]! ^ 0x01;
    fs.writeFileSync(file, bytes);
    const flipped = await call(base, '/v1/load_lora_adapter', { lora_name: 'reg@v1', lora_path: v.dir });
    assert.equal(flipped.status, 400);
    assert.match(flipped.text, /adapter_model.safetensors does not match the sha256 in manifest.json/);
  });

  it('stream: true sends OpenAI chunks as server-sent events that add up to the plain answer', async () => {
    for (const endpoint of ['completions', 'chat/completions']) {
      const req = endpoint === 'chat/completions'
        ? { model: 'A', messages: [{ role: 'user', content: 'hello' }], max_tokens: 10, ignore_eos: true }
        : { model: 'A', prompt: 'hello there', max_tokens: 10, ignore_eos: true };
      const plain = await call(base, `/v1/${endpoint}`, req);
      assert.equal(plain.status, 200, plain.text);
      const whole = (plain.body as Completion).choices[0]!;
      const s = await call(base, `/v1/${endpoint}`, { ...req, stream: true, stream_options: { include_usage: true } });
      assert.match(s.headers.get('content-type') ?? '', /text\/event-stream/);
      const data = sseData(s.text);
      assert.equal(data.at(-1), '[DONE]');
      const chunks = data.slice(0, -1) as (Completion & { choices: { delta?: { content?: string } }[] })[];
      const usage = chunks.at(-1)!;
      assert.equal(usage.usage.completion_tokens, 10);
      const parts = chunks.slice(0, -1);
      assert.equal(parts.at(-1)!.choices[0]!.finish_reason, 'length');
      const text = parts.map((c) => (endpoint === 'chat/completions' ? c.choices[0]!.delta?.content ?? '' : c.choices[0]!.text ?? '')).join('');
      assert.equal(text, endpoint === 'chat/completions' ? whole.message!.content : whole.text);
      assert.ok(text.length > 0);
      for (const c of parts) assert.equal(c.object, endpoint === 'chat/completions' ? 'chat.completion.chunk' : 'text_completion');
      assert.ok(parts.every((c) => c.model === 'A'));
    }
  });

  it('stop strings end the answer and are cut from the text, streamed or not', async () => {
    const full = await call(base, '/v1/completions', { model: 'B', prompt: 'hello there', max_tokens: 12, ignore_eos: true });
    const text = (full.body as Completion).choices[0]!.text!;
    const k = text.trim().length > 4 ? text.indexOf(text.trim().slice(2, 4)) : -1;
    assert.ok(k > 0, `the fixture produces text: ${JSON.stringify(text)}`);
    const stop = text.slice(k, k + 2);
    const cut = text.slice(0, text.indexOf(stop));
    const r = await call(base, '/v1/completions', { model: 'B', prompt: 'hello there', max_tokens: 12, ignore_eos: true, stop });
    assert.equal((r.body as Completion).choices[0]!.text, cut);
    assert.equal((r.body as Completion).choices[0]!.finish_reason, 'stop');
    const s = await call(base, '/v1/completions', { model: 'B', prompt: 'hello there', max_tokens: 12, ignore_eos: true, stop: [stop], stream: true });
    const parts = (sseData(s.text).slice(0, -1) as Completion[]).map((c) => c.choices[0]!.text).join('');
    assert.equal(parts, cut);
  });

  it('/metrics has per-adapter request and token counters and latency histograms in Prometheus text', async () => {
    const r = await call(base, '/metrics');
    assert.match(r.headers.get('content-type') ?? '', /text\/plain/);
    const a = Number(/peft_serve_requests_total\{model="A",status="200"\} (\d+)/.exec(r.text)?.[1]);
    assert.ok(a >= 4, `A requests: ${a}`);
    assert.match(r.text, /peft_serve_generated_tokens_total\{model="B"\} \d+/);
    assert.match(r.text, /peft_serve_request_duration_seconds_bucket\{le="\+Inf",model="A"\} \d+/);
    assert.match(r.text, /peft_serve_queue_depth 0/);
    assert.match(r.text, /peft_serve_requests_total\{model="-",status="404"\} 1/);
  });

  it('bad requests: unknown fields ranges, max_tokens cap, no such route', async () => {
    const big = await call(base, '/v1/completions', { model: 'A', prompt: prompts[0], max_tokens: 100000 });
    assert.equal(big.status, 400);
    assert.match(big.text, /max_tokens/);
    const t = await call(base, '/v1/completions', { model: 'A', prompt: prompts[0], temperature: 'hot' });
    assert.equal(t.status, 400);
    assert.equal((await call(base, '/v1/nothing', {})).status, 404);
    const json = await call(base, '/v1/completions', '{not json');
    assert.equal(json.status, 400);
    assert.match(json.text, /not valid JSON/);
  });
});

describe('serve: safe defaults', function () {
  this.timeout(60_000);
  it('a bearer key guards /v1 and /metrics (not /health); bodies over the cap get 413', async () => {
    const work = tmpDir('serve-key');
    const inv = await tinyModel('llama', `${work}/model`);
    const server = await AdapterServer.start({ modelDir: inv.dir, port: 0, threads: 1, cacheDir: `${work}/cache`, apiKey: 's3cret', maxBodyBytes: 2048 });
    try {
      assert.equal(server.url.startsWith('http://127.0.0.1:'), true);
      const req = { prompt: [5, 6, 7], max_tokens: 2 };
      assert.equal((await call(server.url, '/v1/completions', req)).status, 401);
      assert.equal((await call(server.url, '/v1/completions', req, { authorization: 'Bearer wrong' })).status, 401);
      assert.equal((await call(server.url, '/metrics')).status, 401);
      assert.equal((await call(server.url, '/health')).status, 200);
      const ok = await call(server.url, '/v1/completions', req, { authorization: 'Bearer s3cret' });
      assert.equal(ok.status, 200, ok.text);
      assert.equal((ok.body as Completion).model, 'model');
      const huge = await call(server.url, '/v1/completions', { prompt: 'x'.repeat(5000) }, { authorization: 'Bearer s3cret' });
      assert.equal(huge.status, 413);
    } finally {
      await server.close();
    }
  });
});
