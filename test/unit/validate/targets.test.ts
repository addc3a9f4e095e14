// The validator's per-entry matcher (targets.ts, which must work on half-typed configs) agrees with the PEFT
// resolver (core/peft/resolve.ts) on the adapted modules of valid configs, so diagnostics and training never disagree.
import * as assert from 'node:assert/strict';
import { loadModel } from '../../../src/core/hf/loadModel';
import { parseLoraConfig } from '../../../src/core/peft/loraConfig';
import { resolveTargets } from '../../../src/core/peft/resolve';
import { matchTargets } from '../../../src/core/validate';
import { gpt2ConfigModel, llamaConfigModel, tempDir } from './helpers';

describe('validator target matching vs the PEFT resolver', () => {
  const dir = tempDir();
  const llama = loadModel(llamaConfigModel(dir, 6));
  const gpt2 = loadModel(gpt2ConfigModel(dir, 3));
  const cases: [string, typeof llama, Record<string, unknown>][] = [
    ['list', llama, { target_modules: ['q_proj', 'v_proj'] }],
    ['suffix with a layer', llama, { target_modules: ['layers.2.mlp.down_proj', 'o_proj'] }],
    ['regex', llama, { target_modules: '.*\\.(q|k)_proj' }],
    ['all-linear', llama, { target_modules: 'all-linear' }],
    ['exclude', llama, { target_modules: 'all-linear', exclude_modules: ['down_proj'] }],
    ['layers_to_transform', llama, { target_modules: ['q_proj'], layers_to_transform: [1, 4] }],
    ['layers_pattern', llama, { target_modules: ['up_proj'], layers_to_transform: 3, layers_pattern: 'layers' }],
    ['gpt2 defaults', gpt2, { target_modules: null }],
    ['gpt2 all-linear', gpt2, { target_modules: 'all-linear' }],
  ];
  for (const [name, inv, cfg] of cases) {
    it(name, () => {
      const peft = resolveTargets(parseLoraConfig({ peft_type: 'LORA', ...cfg }), inv).targets.map((t) => t.module.name).sort();
      const ours = matchTargets(inv, {
        targetModules: cfg['target_modules'] as string[] | string | null,
        excludeModules: (cfg['exclude_modules'] ?? null) as string[] | null,
        layersToTransform: (cfg['layers_to_transform'] ?? null) as number[] | number | null,
        layersPattern: (cfg['layers_pattern'] ?? null) as string | null,
      }).targets.map((m) => m.name).sort();
      assert.ok(peft.length > 0);
      assert.deepEqual(ours, peft);
    });
  }
});
