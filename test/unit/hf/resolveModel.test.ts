import { strict as assert } from 'node:assert';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InputError } from '../../../src/core/errors';
import { isHubId, parseHubId } from '../../../src/core/hf/hub';
import { resolveModel, resolveModelConfigOnly } from '../../../src/core/hf/resolveModel';
import { type HubServer, type StandInFile, startHubServer } from '../../helpers/hubServer';

const ENV_KEYS = ['HF_HOME', 'HF_ENDPOINT', 'HF_TOKEN', 'HF_HUB_CACHE', 'HUGGINGFACE_HUB_CACHE', 'HF_HUB_OFFLINE',
  'TRANSFORMERS_OFFLINE', 'HF_TOKEN_PATH', 'HUGGING_FACE_HUB_TOKEN', 'XDG_CACHE_HOME', 'HF_HUB_ETAG_TIMEOUT'];

const json = (o: unknown): Buffer => Buffer.from(JSON.stringify(o));
const WEIGHTS = randomBytes(300_000);
const LLAMA_FILES: StandInFile[] = [
  { path: 'config.json', data: json({ model_type: 'llama', hidden_size: 64 }) },
  { path: 'generation_config.json', data: json({ bos_token_id: 1 }) },
  { path: 'tokenizer.json', data: json({ version: '1.0', model: { type: 'BPE' } }) },
  { path: 'tokenizer_config.json', data: json({ bos_token: '<s>' }) },
  { path: 'special_tokens_map.json', data: json({ bos_token: '<s>', eos_token: '</s>' }) },
  { path: 'model.safetensors', data: WEIGHTS },
  { path: 'pytorch_model.bin', data: randomBytes(1000) },
  { path: 'README.md', data: Buffer.from('# tiny') },
];
const SHARD1 = randomBytes(20_000);
const SHARD2 = randomBytes(30_000);

async function expectInputError(p: Promise<unknown>, code: string, ...mentions: string[]): Promise<InputError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof InputError, `expected InputError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    for (const m of mentions) assert.ok(e.message.includes(m), `"${e.message}" should mention "${m}"`);
    return e;
  }
  assert.fail(`expected InputError ${code}`);
}

describe('hub ids', () => {
  it('recognises org/name[@rev] and prefers an existing local folder', async () => {
    assert.equal(isHubId('meta-llama/Llama-3.2-1B'), true);
    assert.equal(isHubId('Qwen/Qwen2.5-0.5B@main'), true);
    assert.deepEqual(parseHubId('Qwen/Qwen2.5-0.5B@v1.0'), { repo: 'Qwen/Qwen2.5-0.5B', revision: 'v1.0' });
    assert.deepEqual(parseHubId('org/name', 'dev'), { repo: 'org/name', revision: 'dev' });
    assert.throws(() => parseHubId('org/name@a', 'b'), InputError);
    for (const s of ['./org/name', '/abs/path', 'a/b/c', 'gpt2', '../x/y', 'org/na--me', '~/models/x']) assert.equal(isHubId(s), false, s);
    const base = await fs.mkdtemp(path.join(os.tmpdir(), 'hubid-'));
    await fs.mkdir(path.join(base, 'models', 'tiny'), { recursive: true });
    assert.equal(isHubId('models/tiny', base), false);
    assert.equal(isHubId('models/other', base), true);
    await fs.rm(base, { recursive: true, force: true });
  });
});

describe('resolveModel against a stand-in hub', () => {
  let server: HubServer;
  let tmp: string;
  let hub: string;
  const saved: Record<string, string | undefined> = {};

  before(async () => {
    for (const k of ENV_KEYS) saved[k] = process.env[k];
    server = await startHubServer([
      { id: 'tiny/llama', files: LLAMA_FILES, refs: { v1: 'a'.repeat(40) } },
      { id: 'tiny/sharded', files: [
        { path: 'config.json', data: json({ model_type: 'llama' }) },
        { path: 'model.safetensors.index.json', data: json({ metadata: { total_size: 50_000 }, weight_map: {
          'model.embed_tokens.weight': 'model-00001-of-00002.safetensors', 'lm_head.weight': 'model-00002-of-00002.safetensors' } }) },
        { path: 'model-00001-of-00002.safetensors', data: SHARD1 },
        { path: 'model-00002-of-00002.safetensors', data: SHARD2 },
      ] },
      { id: 'tiny/bin-only', files: [{ path: 'config.json', data: json({ model_type: 'gpt2' }) }, { path: 'pytorch_model.bin', data: randomBytes(100) }] },
      { id: 'gated/model', gatedToken: 'hf_secret', files: [{ path: 'config.json', data: json({ model_type: 'gpt2' }) }, { path: 'model.safetensors', data: randomBytes(500) }] },
    ]);
  });
  after(async () => {
    await server.close();
    for (const k of ENV_KEYS) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  });
  beforeEach(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'peft-hub-'));
    for (const k of ENV_KEYS) delete process.env[k];
    process.env['HF_HOME'] = path.join(tmp, 'hf');
    process.env['HF_ENDPOINT'] = server.url;
    hub = path.join(tmp, 'hf', 'hub');
    server.requests.length = 0;
    server.dropAfter('model.safetensors', 0, 0);
    server.stallApi(false);
  });
  afterEach(async () => { await fs.rm(tmp, { recursive: true, force: true }); });

  it('downloads only config, tokenizer and safetensors into the HF cache layout, with progress', async () => {
    const progress: { file: string; bytes: number; total: number | null }[] = [];
    const dir = await resolveModel('tiny/llama', { onProgress: (p) => progress.push(p) });
    const commit = server.commitOf('tiny/llama');
    const storage = path.join(hub, 'models--tiny--llama');
    assert.equal(dir, path.join(storage, 'snapshots', commit));
    assert.equal((await fs.readFile(path.join(storage, 'refs', 'main'), 'utf8')).trim(), commit);
    assert.deepEqual((await fs.readdir(dir)).sort(), ['config.json', 'generation_config.json', 'model.safetensors',
      'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json']);
    // snapshot entries are relative symlinks into blobs/, named by sha256 (LFS) or git blob id as huggingface_hub does
    const link = await fs.readlink(path.join(dir, 'model.safetensors'));
    assert.equal(link, path.join('..', '..', 'blobs', createHash('sha256').update(WEIGHTS).digest('hex')));
    assert.ok(Buffer.compare(await fs.readFile(path.join(dir, 'model.safetensors')), WEIGHTS) === 0);
    const cfg = LLAMA_FILES[0]?.data ?? Buffer.alloc(0);
    const oid = createHash('sha1').update(`blob ${cfg.length}\0`).update(cfg).digest('hex');
    assert.equal(await fs.readlink(path.join(dir, 'config.json')), path.join('..', '..', 'blobs', oid));
    const fetched = server.downloads().map((r) => path.basename(r.path)).sort();
    assert.deepEqual(fetched, ['config.json', 'generation_config.json', 'model.safetensors', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json']);
    const last = progress.filter((p) => p.file === 'model.safetensors').at(-1);
    assert.deepEqual(last, { file: 'model.safetensors', bytes: 300_000, total: 300_000 });
  });

  it('makes no transfer on a second call, and works offline and with the hub unreachable', async () => {
    const first = await resolveModel('tiny/llama');
    server.requests.length = 0;
    assert.equal(await resolveModel('tiny/llama'), first);
    assert.equal(server.downloads().length, 0, 'no file downloads on the second call');
    assert.ok(server.requests.length <= 1, 'at most the revision lookup');
    process.env['HF_HUB_OFFLINE'] = '1';
    server.requests.length = 0;
    assert.equal(await resolveModel('tiny/llama'), first);
    assert.equal(server.requests.length, 0, 'offline: no request at all');
    await expectInputError(resolveModel('tiny/sharded'), 'hub-offline-missing', 'tiny/sharded', 'HF_HUB_OFFLINE');
    delete process.env['HF_HUB_OFFLINE'];
    process.env['HF_ENDPOINT'] = 'http://127.0.0.1:9'; // nothing listens there
    assert.equal(await resolveModel('tiny/llama'), first);
    await expectInputError(resolveModel('tiny/sharded'), 'hub-unreachable', 'tiny/sharded', '127.0.0.1:9');
    // a commit hash needs no request once cached
    process.env['HF_ENDPOINT'] = server.url;
    server.requests.length = 0;
    assert.equal(await resolveModel(`tiny/llama@${server.commitOf('tiny/llama')}`), first);
    assert.equal(server.requests.length, 0);
  });

  it('downloads a blob once when two callers resolve the same model at the same time', async () => {
    const [a, b] = await Promise.all([resolveModel('tiny/llama'), resolveModel('tiny/llama')]);
    assert.equal(a, b);
    assert.ok(Buffer.compare(await fs.readFile(path.join(a, 'model.safetensors')), WEIGHTS) === 0);
    assert.equal(server.downloads().filter((r) => r.path.endsWith('/model.safetensors')).length, 1);
  });

  it('gives up on a stalled hub after HF_HUB_ETAG_TIMEOUT and uses the cache', async () => {
    const first = await resolveModel('tiny/llama');
    process.env['HF_HUB_ETAG_TIMEOUT'] = '0.3';
    server.stallApi(true);
    const t0 = Date.now();
    assert.equal(await resolveModel('tiny/llama'), first);
    await expectInputError(resolveModel('tiny/sharded'), 'hub-unreachable', 'tiny/sharded');
    assert.ok(Date.now() - t0 < 5000);
    delete process.env['HF_HUB_ETAG_TIMEOUT'];
  });

  it('downloads the index and every shard of a sharded checkpoint', async () => {
    const dir = await resolveModel('tiny/sharded');
    assert.ok(Buffer.compare(await fs.readFile(path.join(dir, 'model-00001-of-00002.safetensors')), SHARD1) === 0);
    assert.ok(Buffer.compare(await fs.readFile(path.join(dir, 'model-00002-of-00002.safetensors')), SHARD2) === 0);
    assert.ok((await fs.stat(path.join(dir, 'model.safetensors.index.json'))).isFile());
  });

  it('resumes with a Range request after the connection drops mid-file', async () => {
    server.dropAfter('model.safetensors', 100_000, 1);
    const dir = await resolveModel('tiny/llama');
    assert.ok(Buffer.compare(await fs.readFile(path.join(dir, 'model.safetensors')), WEIGHTS) === 0);
    const gets = server.downloads().filter((r) => r.path.endsWith('/model.safetensors'));
    // the client keeps what reached it before the cut (a stream error may discard a buffered tail): 0 < N <= 100000
    assert.equal(gets.length, 2);
    assert.equal(gets[0]?.range, null);
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(gets[1]?.range ?? '')?.[1]);
    assert.ok(resumedAt > 0 && resumedAt <= 100_000, `resumed at ${resumedAt}`);
  });

  it('keeps the .incomplete file when every try fails, and the next call continues from it', async () => {
    server.dropAfter('model.safetensors', 50_000, 100);
    const e = await expectInputError(resolveModel('tiny/llama'), 'hub-download-failed', 'model.safetensors', 'tiny/llama');
    const kept = Number(/(\d+) of 300000 bytes kept/.exec(e.message)?.[1]);
    assert.ok(kept > 0 && kept <= 200_000, e.message);
    const blobs = path.join(hub, 'models--tiny--llama', 'blobs');
    const partial = (await fs.readdir(blobs)).filter((f) => f.endsWith('.incomplete'));
    assert.equal(partial.length, 1);
    assert.equal((await fs.stat(path.join(blobs, partial[0] ?? ''))).size, kept);
    server.dropAfter('model.safetensors', 0, 0);
    server.requests.length = 0;
    const dir = await resolveModel('tiny/llama');
    assert.ok(Buffer.compare(await fs.readFile(path.join(dir, 'model.safetensors')), WEIGHTS) === 0);
    assert.deepEqual(server.downloads().map((r) => r.range), [`bytes=${kept}-`]);
  });

  it('sends HF_TOKEN as a Bearer token and explains gated models without it', async () => {
    await expectInputError(resolveModel('gated/model'), 'hub-gated', 'gated/model', 'HF_TOKEN');
    process.env['HF_TOKEN'] = 'hf_wrong';
    await expectInputError(resolveModel('gated/model'), 'hub-gated', 'gated/model', 'licence');
    process.env['HF_TOKEN'] = 'hf_secret';
    server.requests.length = 0;
    const dir = await resolveModel('gated/model');
    assert.ok((await fs.stat(path.join(dir, 'model.safetensors'))).size === 500);
    assert.ok(server.requests.length >= 3);
    for (const r of server.requests) assert.equal(r.authorization, 'Bearer hf_secret', r.path);
  });

  it('reads the token file under HF_HOME when HF_TOKEN is unset', async () => {
    await fs.mkdir(path.join(tmp, 'hf'), { recursive: true });
    await fs.writeFile(path.join(tmp, 'hf', 'token'), 'hf_secret\n');
    await resolveModelConfigOnly('gated/model');
    assert.equal(server.requests[0]?.authorization, 'Bearer hf_secret');
  });

  it('names the hub id in 404s, unknown revisions and repos without safetensors', async () => {
    await expectInputError(resolveModel('nobody/nothing'), 'hub-not-found', 'nobody/nothing');
    process.env['HF_TOKEN'] = 'hf_any';
    await expectInputError(resolveModel('nobody/nothing'), 'hub-not-found', 'nobody/nothing');
    delete process.env['HF_TOKEN'];
    await expectInputError(resolveModel('tiny/llama@nope'), 'hub-revision-not-found', 'tiny/llama', 'nope');
    await expectInputError(resolveModel('tiny/bin-only'), 'hub-no-safetensors', 'tiny/bin-only', 'pytorch_model.bin', 'safetensors');
  });

  it('fetches only config.json for the config-only path, and the rest later', async () => {
    const dir = await resolveModelConfigOnly('tiny/llama', { revision: 'v1' });
    assert.equal(path.basename(dir), 'a'.repeat(40));
    assert.deepEqual(await fs.readdir(dir), ['config.json']);
    assert.equal((await fs.readFile(path.join(hub, 'models--tiny--llama', 'refs', 'v1'), 'utf8')).trim(), 'a'.repeat(40));
    assert.deepEqual(server.downloads().map((r) => path.basename(r.path)), ['config.json']);
    const full = await resolveModel('tiny/llama@v1');
    assert.equal(full, dir);
    assert.ok((await fs.readdir(dir)).includes('model.safetensors'));
    assert.equal(server.downloads().filter((r) => r.path.endsWith('/config.json')).length, 1, 'config.json is not fetched twice');
  });

  it('returns local folders as they are, relative to baseDir', async () => {
    await fs.mkdir(path.join(tmp, 'models', 'mine'), { recursive: true });
    await fs.writeFile(path.join(tmp, 'models', 'mine', 'config.json'), '{}');
    assert.equal(await resolveModel('models/mine', { baseDir: tmp }), path.join(tmp, 'models', 'mine'));
    assert.equal(await resolveModel('./models/mine', { baseDir: tmp }), path.join(tmp, 'models', 'mine'));
    await expectInputError(resolveModel('./models/missing', { baseDir: tmp }), 'model-not-found', 'models/missing');
    await fs.mkdir(path.join(tmp, 'empty'));
    await expectInputError(resolveModel('empty', { baseDir: tmp }), 'model-no-config', 'config.json');
    assert.equal(server.requests.length, 0);
  });
});
