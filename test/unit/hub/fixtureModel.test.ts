import { strict as assert } from 'node:assert';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeFixture } from '../../../src/core/fixtures/makeFixture';
import { loadModel } from '../../../src/core/hf/loadModel';
import { resolveModel } from '../../../src/core/hf/resolveModel';
import { prepareGraphFolder } from '../../../src/core/train/graphCache';
import { type HubServer, startHubServer } from '../../helpers/hubServer';

const ENV_KEYS = ['HF_HOME', 'HF_ENDPOINT', 'HF_TOKEN', 'HF_HUB_CACHE', 'HUGGINGFACE_HUB_CACHE', 'HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE'];

describe('a fixture model served by the stand-in hub', () => {
  let tmp: string;
  let server: HubServer | undefined;
  const saved: Record<string, string | undefined> = {};
  before(async () => {
    for (const k of ENV_KEYS) saved[k] = process.env[k];
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'peft-hub-fixture-'));
  });
  after(async () => {
    await server?.close();
    await fs.rm(tmp, { recursive: true, force: true });
    for (const k of ENV_KEYS) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  });

  it('downloads into the HF cache a snapshot that loads like the original and hard-links for ORT', async () => {
    const fx = await makeFixture({ arch: 'llama', outDir: path.join(tmp, 'src'), seed: 3 });
    const names = await fs.readdir(fx.dir);
    const files = await Promise.all(names.map(async (n) => ({ path: n, data: await fs.readFile(path.join(fx.dir, n)) })));
    server = await startHubServer([{ id: 'fixtures/tiny-llama', files }]);
    for (const k of ENV_KEYS) delete process.env[k];
    process.env['HF_HOME'] = path.join(tmp, 'hf');
    process.env['HF_ENDPOINT'] = server.url;

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
