import { strict as assert } from 'node:assert';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeFixture } from '../../../src/core/fixtures/makeFixture';
import { loadModel } from '../../../src/core/hf/loadModel';
import { resolveModel } from '../../../src/core/hf/resolveModel';
import { prepareGraphFolder } from '../../../src/core/train/graphCache';
import { type HubServer, startHubServer } from '../../helpers/hubServer';
import { downloadReporter, runTraining } from '../../../src/core/train/trainer';
import type { RunEvent } from '../../../src/shared/protocol';

const ENV_KEYS = ['HF_HOME', 'HF_ENDPOINT', 'HF_TOKEN', 'HF_HUB_CACHE', 'HUGGINGFACE_HUB_CACHE', 'HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE'];

/** A scratch folder and a stand-in hub for one suite, with the HF_* environment saved and restored around it. */
function scratchHub(prefix: string): { tmp(): string; serve(id: string, dir: string): Promise<void> } {
  let tmp = '';
  let server: HubServer | undefined;
  const saved: Record<string, string | undefined> = {};
  before(async () => {
    for (const k of ENV_KEYS) saved[k] = process.env[k];
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  });
  after(async () => {
    await server?.close();
    await fs.rm(tmp, { recursive: true, force: true });
    for (const k of ENV_KEYS) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  });
  return {
    tmp: () => tmp,
    /** Serves every file of `dir` as repo `id` and points HF_ENDPOINT / HF_HOME at the server and the scratch folder. */
    async serve(id, dir) {
      const names = await fs.readdir(dir);
      const files = await Promise.all(names.map(async (n) => ({ path: n, data: await fs.readFile(path.join(dir, n)) })));
      server = await startHubServer([{ id, files }]);
      for (const k of ENV_KEYS) delete process.env[k];
      process.env['HF_HOME'] = path.join(tmp, 'hf');
      process.env['HF_ENDPOINT'] = server.url;
    },
  };
}

describe('a fixture model served by the stand-in hub', () => {
  const hub = scratchHub('peft-hub-fixture-');

  it('downloads into the HF cache a snapshot that loads like the original and hard-links for ORT', async () => {
    const tmp = hub.tmp();
    const fx = await makeFixture({ arch: 'llama', outDir: path.join(tmp, 'src'), seed: 3 });
    const names = await fs.readdir(fx.dir);
    await hub.serve('fixtures/tiny-llama', fx.dir);

    const dir = await resolveModel('fixtures/tiny-llama');
    assert.ok(dir.startsWith(path.join(tmp, 'hf', 'hub', 'models--fixtures--tiny-llama', 'snapshots')));
    for (const n of names) {
      assert.ok(Buffer.compare(await fs.readFile(path.join(dir, n)), await fs.readFile(path.join(fx.dir, n))) === 0, n);
    }
    const original = loadModel(fx.dir);
    const downloaded = loadModel(dir);
    assert.equal(downloaded.source, 'safetensors');
    assert.equal(downloaded.totalParameters, original.totalParameters);
    assert.deepEqual(downloaded.parameters, original.parameters);

    // the graph folder gets a hard link to the blob itself, not to the snapshot's relative symlink
    const folder = prepareGraphFolder(path.join(tmp, 'graphs'), downloaded, 'k1');
    const linked = path.join(folder.dir, 'model.safetensors');
    assert.equal((await fs.lstat(linked)).isSymbolicLink(), false);
    assert.equal((await fs.stat(linked)).ino, (await fs.stat(await fs.realpath(path.join(dir, 'model.safetensors')))).ino);
  });
});

describe('training a model given as a hub id', () => {
  const hub = scratchHub('peft-hub-train-');

  it('downloads it into the HF cache with progress in the log, trains, and names the hub id in the adapter', async function () {
    this.timeout(120000);
    const tmp = hub.tmp();
    const fx = await makeFixture({ arch: 'gpt2', outDir: path.join(tmp, 'src'), seed: 5 });
    await hub.serve('fixtures/tiny-gpt2', fx.dir);

    const proj = path.join(tmp, 'proj');
    await fs.mkdir(path.join(proj, 'data'), { recursive: true });
    await fs.writeFile(path.join(proj, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 4, lora_alpha: 8, target_modules: ['c_attn'] }));
    const rows = Array.from({ length: 6 }, (_, i) => JSON.stringify({ input_ids: [1 + i, 2 + i, 3 + i, 4 + i, 5 + i] }));
    await fs.writeFile(path.join(proj, 'data', 'train.jsonl'), rows.join('\n') + '\n');
    await fs.writeFile(path.join(proj, 'peft-train.yaml'), [
      'base_model: fixtures/tiny-gpt2',
      'adapter_config: ./adapter_config.json',
      'dataset:',
      '  train: data/train.jsonl',
      '  format: tokenized',
      '  shuffle: false',
      '  max_length: 16',
      'training:',
      '  max_steps: 2',
      '  per_device_train_batch_size: 2',
      'device: cpu',
      'run_name: from-hub',
      '',
    ].join('\n'));
    const events: RunEvent[] = [];
    const done = await runTraining({ configFile: path.join(proj, 'peft-train.yaml'), onEvent: (e) => events.push(e) });
    const logs = events.filter((e) => e.event === 'log').map((e) => (e.event === 'log' ? e.message : ''));
    assert.ok(logs.some((m) => /^downloading fixtures\/tiny-gpt2: model\.safetensors [\d.]+ MiB \/ [\d.]+ MiB \(100%\)$/.test(m)), logs.join('\n'));
    assert.equal(events.filter((e) => e.event === 'step').length, 2);
    const cfg = JSON.parse(await fs.readFile(path.join(done.adapter_dir, 'adapter_config.json'), 'utf8')) as { base_model_name_or_path: string };
    assert.equal(cfg.base_model_name_or_path, 'fixtures/tiny-gpt2');
    // a second run uses the cached snapshot: no file transfer, so no download log
    const again: RunEvent[] = [];
    await fs.writeFile(path.join(proj, 'peft-train.yaml'), (await fs.readFile(path.join(proj, 'peft-train.yaml'), 'utf8')).replace('run_name: from-hub', 'run_name: from-cache'));
    await runTraining({ configFile: path.join(proj, 'peft-train.yaml'), onEvent: (e) => again.push(e) });
    assert.ok(!again.some((e) => e.event === 'log' && e.message.startsWith('downloading')));
  });
});

describe('download progress in the run log', () => {
  it('reports a file when it starts, at most every 2 s, and when it completes', () => {
    const out: string[] = [];
    let t = 0;
    const report = downloadReporter('org/m', (e) => { if (e.event === 'log') out.push(e.message); }, () => t);
    const MiB = 2 ** 20;
    report({ file: 'model.safetensors', bytes: 0, total: 10 * MiB });
    t = 500; report({ file: 'model.safetensors', bytes: 2 * MiB, total: 10 * MiB });
    t = 2600; report({ file: 'model.safetensors', bytes: 5 * MiB, total: 10 * MiB });
    t = 2700; report({ file: 'model.safetensors', bytes: 10 * MiB, total: 10 * MiB });
    t = 2800; report({ file: 'model.safetensors', bytes: 10 * MiB, total: 10 * MiB });
    report({ file: 'config.json', bytes: 700, total: null });
    assert.deepEqual(out, [
      'downloading org/m: model.safetensors 0.0 MiB / 10.0 MiB (0%)',
      'downloading org/m: model.safetensors 5.0 MiB / 10.0 MiB (50%)',
      'downloading org/m: model.safetensors 10.0 MiB / 10.0 MiB (100%)',
      'downloading org/m: config.json 0.0 MiB',
    ]);
  });
});
