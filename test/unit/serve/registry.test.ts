// The adapter registry and `peft-studio adapters`: versions with a sha256 manifest, promote as a canary or to 100 %,
// rollback in one step, a changed file refused at load, and the route applied live to a running server.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promote, readState, register, rollback, sha256File, verifyVersion } from '../../../src/core/serve/registry';
import { AdapterServer } from '../../../src/core/serve/server';
import { tinyModel, tmpDir } from '../train/engineHelpers';
import { writeAdapterFolder } from '../generate/helpers';
import { call } from './helpers';
import { runCli as cli } from '../cli/runCli';

describe('serve: adapter registry', function () {
  this.timeout(60_000);

  it('register writes vN with a sha256 manifest; promote/rollback move current, previous and the route', async () => {
    const ws = tmpDir('registry');
    const inv = await tinyModel('llama', `${ws}/model`);
    const a1 = writeAdapterFolder(`${ws}/a1`, inv, ['q_proj'], 4, 8, 3).dir;
    const a2 = writeAdapterFolder(`${ws}/a2`, inv, ['q_proj'], 4, 8, 4).dir;
    const v1 = register(ws, 'chat', a1, inv.dir);
    const v2 = register(ws, 'chat', a2);
    assert.deepEqual([v1.version, v2.version], [1, 2]);
    assert.equal(v2.dir, path.join(ws, '.peft-studio', 'adapters', 'chat', 'v2'));
    const m = verifyVersion(v1.dir);
    assert.equal(m.files['adapter_model.safetensors'], sha256File(path.join(a1, 'adapter_model.safetensors')));
    assert.equal(m.base.name_or_path, inv.dir);
    assert.equal(m.base.config_sha256, sha256File(path.join(inv.dir, 'config.json')));
    assert.deepEqual(readState(ws, 'chat'), { current: 1, previous: null, route: [{ version: 1, weight: 100 }] });
    assert.deepEqual(promote(ws, 'chat', 2, 20).route, [{ version: 1, weight: 80 }, { version: 2, weight: 20 }]);
    assert.deepEqual(rollback(ws, 'chat'), { current: 1, previous: null, route: [{ version: 1, weight: 100 }] });
    assert.deepEqual(promote(ws, 'chat', 2), { current: 2, previous: 1, route: [{ version: 2, weight: 100 }] });
    assert.deepEqual(rollback(ws, 'chat'), { current: 1, previous: null, route: [{ version: 1, weight: 100 }] });
    assert.throws(() => rollback(ws, 'chat'), /no previous version/);
    assert.throws(() => promote(ws, 'chat', 7), /has no version v7/);
    // One flipped byte: refused by verify, by promote and by a server at start.
    const file = path.join(v2.dir, 'adapter_config.json');
    const bytes = fs.readFileSync(file);
    bytes[0] = bytes[0]! ^ 0x20;
    fs.writeFileSync(file, bytes);
    assert.throws(() => verifyVersion(v2.dir), /chat v2: adapter_config.json does not match the sha256 in manifest.json/);
    assert.throws(() => promote(ws, 'chat', 2), /does not match the sha256/);
    await assert.rejects(AdapterServer.start({ modelDir: inv.dir, adapters: [{ name: 'x', dir: v2.dir }], port: 0 }), /does not match the sha256/);
  });

  it('adapters CLI: promote --weight and rollback --server change a running server\'s route at once', async () => {
    const ws = tmpDir('registry-cli');
    const inv = await tinyModel('llama', `${ws}/model`);
    const a1 = writeAdapterFolder(`${ws}/a1`, inv, ['q_proj'], 4, 8, 3).dir;
    const a2 = writeAdapterFolder(`${ws}/a2`, inv, ['v_proj'], 4, 8, 4).dir;
    for (const a of [a1, a2]) assert.equal((await cli(['adapters', 'register', 'chat', a, '--workspace', ws])).code, 0);
    const list = await cli(['adapters', 'list', '--workspace', ws]);
    assert.match(list.out, /chat: v1 v2 {2}current v1 {2}previous v- {2}route v1 100%/);
    const server = await AdapterServer.start({
      modelDir: inv.dir, adapters: [{ name: 'chat@v1', dir: path.join(ws, '.peft-studio/adapters/chat/v1') }],
      routes: [{ name: 'chat', targets: [{ adapter: 'chat@v1', weight: 100 }] }], port: 0, threads: 1, cacheDir: `${ws}/cache`, allowRoots: [ws], routeSeed: 5,
    });
    try {
      const p = await cli(['adapters', 'promote', 'chat', 'v2', '--weight', '30', '--workspace', ws, '--server', server.url]);
      assert.equal(p.code, 0, p.err);
      const routes = await call(server.url, '/v1/routes');
      assert.deepEqual((routes.body as { routes: unknown }).routes, { chat: [{ adapter: 'chat@v1', weight: 70 }, { adapter: 'chat@v2', weight: 30 }] });
      const r = await cli(['adapters', 'rollback', 'chat', '--workspace', ws, '--server', server.url]);
      assert.equal(r.code, 0, r.err);
      assert.deepEqual(((await call(server.url, '/v1/routes')).body as { routes: unknown }).routes, { chat: [{ adapter: 'chat@v1', weight: 100 }] });
      for (let i = 0; i < 5; i++) {
        const c = await call(server.url, '/v1/completions', { model: 'chat', prompt: [4, 5, 6], max_tokens: 1 });
        assert.equal((c.body as { model: string }).model, 'chat@v1');
      }
      const bad = await cli(['adapters', 'promote', 'chat', 'v9', '--workspace', ws]);
      assert.equal(bad.code, 1);
      assert.match(bad.err, /has no version v9/);
    } finally {
      await server.close();
    }
  });
});
