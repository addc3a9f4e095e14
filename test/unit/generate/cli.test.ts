// `peft-studio generate` as CONTRACTS.md describes it: JSON lines (token events, then done with the new ids and
// logprobs), --input-ids without a tokenizer, and bad input as exit 1 with a message naming what is wrong.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tinyModel, tmpDir } from '../train/engineHelpers';
import { writeAdapterFolder } from './helpers';
import { runCli as cli } from '../cli/runCli';

describe('peft-studio generate', function () {
  this.timeout(60_000);
  let work: string;
  let model: string;
  let adapter: string;
  before(async () => {
    work = tmpDir('gen-cli');
    process.env['PEFT_STUDIO_GRAPH_CACHE'] = path.join(work, 'cache');
    const inv = await tinyModel('llama', path.join(work, 'model'));
    model = inv.dir;
    adapter = writeAdapterFolder(path.join(work, 'adapter'), inv, ['q_proj', 'v_proj']).dir;
  });
  after(() => {
    delete process.env['PEFT_STUDIO_GRAPH_CACHE'];
  });

  it('--json: one token record per new token, then done with ids, logprobs, text and timings', async () => {
    const r = await cli(['generate', '--model', model, '--adapter', adapter, '--prompt', 'hello', '--max-new-tokens', '5', '--json', '--device', 'cpu']);
    assert.equal(r.code, 0, r.err);
    const lines = r.out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const done = lines.at(-1)!;
    const tokens = lines.slice(0, -1);
    assert.equal(done['event'], 'done');
    assert.ok(tokens.every((t) => t['event'] === 'token' && typeof t['id'] === 'number' && typeof t['text'] === 'string'));
    assert.deepEqual(tokens.map((t) => t['id']), done['token_ids']);
    const ids = done['token_ids'] as number[];
    assert.ok(ids.length >= 1 && ids.length <= 5);
    assert.equal((done['logprobs'] as number[]).length, ids.length);
    assert.ok((done['logprobs'] as number[]).every((x) => x <= 0));
    assert.equal(done['text'], tokens.map((t) => t['text']).join(''));
    assert.ok((done['prompt_tokens'] as number) >= 1 && typeof done['ttft_ms'] === 'number' && typeof done['tokens_per_s'] === 'number');
    // A run folder stands for its final adapter/.
    fs.cpSync(adapter, path.join(work, 'run', 'adapter'), { recursive: true });
    const run = await cli(['generate', '--model', model, '--adapter', path.join(work, 'run'), '--prompt', 'hello', '--max-new-tokens', '5', '--json']);
    assert.equal(run.code, 0, run.err);
    assert.deepEqual(JSON.parse(run.out.trim().split('\n').at(-1)!)['token_ids'], done['token_ids']);
  });

  it('--input-ids works on a model folder without a tokenizer (no text); --prompt there is exit 1', async () => {
    const bare = path.join(work, 'bare');
    fs.mkdirSync(bare);
    for (const f of ['config.json', 'model.safetensors', 'generation_config.json']) fs.copyFileSync(path.join(model, f), path.join(bare, f));
    const r = await cli(['generate', '--model', bare, '--input-ids', '1,2,3', '--max-new-tokens', '3', '--json']);
    assert.equal(r.code, 0, r.err);
    const done = JSON.parse(r.out.trim().split('\n').at(-1)!) as Record<string, unknown>;
    assert.equal(done['prompt_tokens'], 3);
    assert.equal('text' in done, false);
    const p = await cli(['generate', '--model', bare, '--prompt', 'hi']);
    assert.equal(p.code, 1);
    assert.match(p.err, /no tokenizer\.json, so text cannot be tokenized.*--input-ids/);
  });

  it('an adapter trained for another base: exit 1 naming the first tensor that does not fit and both shapes', async () => {
    const other = (await tinyModel('llama', path.join(work, 'other'), { hidden_size: 32, intermediate_size: 64 })).dir;
    const r = await cli(['generate', '--model', other, '--adapter', adapter, '--input-ids', '1,2']);
    assert.equal(r.code, 1);
    assert.match(r.err, /tensor "base_model\.model\.model\.layers\.0\.self_attn\.q_proj\.lora_A\.weight": LoRA tensor shape does not fit the base model.*another base model.*expected \[4, 32\], got \[4, 64\]/);
  });

  it('a prompt longer than the positions or the sliding window, an unsupported family, a missing prompt: exit 1 / 2', async () => {
    const long = await cli(['generate', '--model', model, '--input-ids', new Array(200).fill('1').join(',')]);
    assert.equal(long.code, 1);
    assert.match(long.err, /the prompt has 200 tokens but the model has 128 positions/);
    // Mistral's sliding window bounds the sequence (attention over the whole cache equals it only up to the window).
    const mistral = (await tinyModel('llama', path.join(work, 'mistral'), { model_type: 'mistral', architectures: ['MistralForCausalLM'], sliding_window: 16 })).dir;
    const sw = await cli(['generate', '--model', mistral, '--input-ids', new Array(16).fill('1').join(',')]);
    assert.equal(sw.code, 1);
    assert.match(sw.err, /the prompt has 16 tokens but the model has its sliding window \(16 tokens\)/);
    const ok = await cli(['generate', '--model', mistral, '--input-ids', '1,2,3', '--max-new-tokens', '50', '--json']);
    assert.equal(ok.code, 0, ok.err);
    const done = JSON.parse(ok.out.trim().split('\n').at(-1)!) as { token_ids: number[]; finish_reason: string };
    assert.ok(done.token_ids.length <= 13 && (done.finish_reason === 'length' || done.finish_reason === 'eos'));
    const bert = path.join(work, 'bert');
    fs.mkdirSync(bert);
    fs.writeFileSync(path.join(bert, 'config.json'), JSON.stringify({ model_type: 'bert', architectures: ['BertModel'], hidden_size: 32 }));
    const b = await cli(['generate', '--model', bert, '--input-ids', '1']);
    assert.equal(b.code, 1);
    assert.match(b.err, /bert/i);
    assert.doesNotMatch(b.err, /internal error|    at /);
    assert.equal((await cli(['generate', '--model', model])).code, 2);
  });
});
