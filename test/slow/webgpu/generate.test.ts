// Generation on the WebGPU EP (Mesa lavapipe here: software Vulkan, so this proves the code path, not speed): the
// same greedy tokens and log-probabilities as the CPU, with the KV cache kept in GPU buffers and brought back.
import * as assert from 'node:assert/strict';
import { Generator } from '../../../src/core/generate/generator';
import type { GenerateResult } from '../../../src/core/generate/types';
import { tinyModel, tmpDir } from '../../unit/train/engineHelpers';
import { writeAdapterFolder } from '../../unit/generate/helpers';

describe('generate on WebGPU (lavapipe)', function () {
  this.timeout(600_000);
  it('llama + adapter: KV cache on the device or on the host, the CPU\'s tokens and logprobs', async () => {
    process.env['XDG_RUNTIME_DIR'] ??= '/tmp';
    const work = tmpDir('gen-webgpu');
    const inv = await tinyModel('llama', `${work}/model`);
    const adapter = writeAdapterFolder(`${work}/adapter`, inv, ['q_proj', 'v_proj', 'down_proj']);
    const req = { inputIds: [5, 17, 230, 41, 9, 300], maxNewTokens: 12, ignoreEos: true };
    const results: Record<string, GenerateResult> = {};
    for (const [name, opts] of [['cpu', { device: 'cpu' }], ['host-kv', { device: 'webgpu', kvOnDevice: false }], ['gpu-kv', { device: 'webgpu', kvOnDevice: true }]] as const) {
      const gen = await Generator.open(inv.dir, { ...opts, adapters: [adapter.dir], cacheDir: `${work}/cache` }).catch((e: unknown) => {
        throw new Error(`${name}: ${String(e)} (WebGPU needs Mesa >= 25 lavapipe: apt-get install -t bookworm-backports mesa-vulkan-drivers)`);
      });
      try {
        await gen.generate({ ...req, adapter: gen.adapterIds[0]! }); // warm-up (shader compilation)
        results[name] = await gen.generate({ ...req, adapter: gen.adapterIds[0]! });
        console.log(`      ${name}: decode ${results[name].tokensPerS.toFixed(1)} tokens/s, first token ${results[name].ttftMs.toFixed(0)} ms`);
      } finally {
        await gen.dispose();
      }
    }
    for (const name of ['gpu-kv', 'host-kv']) {
      assert.deepEqual(results[name]!.tokenIds, results['cpu']!.tokenIds, name);
      const err = Math.max(...results[name]!.logprobs.map((x, i) => Math.abs(x - results['cpu']!.logprobs[i]!)));
      assert.ok(err < 1e-3, `${name} logprob error ${err}`);
    }
  });
});
