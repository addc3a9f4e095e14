// Greedy generation with the KV cache equals the PyTorch reference (full recomputation): the same 16 new tokens
// and log-probabilities within 1e-4, for llama, qwen2, gpt2, qwen3, phi3 (also with LongRoPE) and gemma2 fixtures, the base model and with an adapter.
import * as assert from 'node:assert/strict';
import { Generator } from '../../../src/core/generate/generator';
import { Rng } from '../../../src/core/util/random';
import { tinyModel, tmpDir } from '../train/engineHelpers';
import { referenceGenerate, writeAdapterFolder } from './helpers';

const CASES = [
  { arch: 'llama', suffixes: ['q_proj', 'v_proj', 'down_proj'] },
  { arch: 'qwen2', suffixes: ['q_proj', 'k_proj', 'o_proj', 'up_proj', 'lm_head'] }, // LoRA on the tied head too (unmerged)
  { arch: 'gpt2', suffixes: ['c_attn', 'c_fc'] },
  { arch: 'phi3', suffixes: ['qkv_proj', 'gate_up_proj', 'o_proj'] }, // fused modules, partial rotary 0.5
  { arch: 'gemma2', suffixes: ['q_proj', 'v_proj', 'gate_proj', 'lm_head'] }, // soft-caps, (1 + w) norms, scaled embeddings
  // q/k norms, local/global RoPE bases (generation stops at the window: widen the fixture's 4 to 64)
  { arch: 'gemma3_text', suffixes: ['q_proj', 'k_proj', 'down_proj'], overrides: { sliding_window: 64 } },
  { arch: 'qwen3', suffixes: ['q_proj', 'k_proj', 'v_proj', 'gate_proj'] }, // q_norm/k_norm before RoPE, head_dim 2·hidden/heads
  // LongRoPE: short factors up to 10 tokens, then the cache is prefilled again with the long ones (prompt 7 + 16 new)
  {
    arch: 'phi3', label: 'phi3 longrope', suffixes: ['qkv_proj', 'o_proj'],
    overrides: { original_max_position_embeddings: 10, rope_scaling: { rope_type: 'longrope', short_factor: [1.0, 1.4, 2.2, 3.1], long_factor: [1.2, 3.3, 6.5, 17.0] } },
  },
] as const;

describe('generate: greedy parity with the PyTorch reference', function () {
  this.timeout(120_000);
  for (const c of CASES) {
    it(`${'label' in c ? c.label : c.arch}: prompt + 16 tokens, base and adapter, tokens equal and logprobs within 1e-4`, async () => {
      const work = tmpDir(`gen-${c.arch}`);
      const inv = await tinyModel(c.arch, `${work}/model`, 'overrides' in c ? c.overrides : undefined);
      const adapter = writeAdapterFolder(`${work}/adapter`, inv, [...c.suffixes]);
      const rng = new Rng(11);
      const prompts = [Array.from({ length: 7 }, () => rng.int(inv.spec.vocabSize))];
      const ref = referenceGenerate(inv, prompts, 16, [null, adapter], work);
      const gen = await Generator.open(inv.dir, { adapters: [adapter.dir], cacheDir: `${work}/cache`, threads: 1 });
      try {
        const runs = [await gen.generate({ inputIds: prompts[0]!, maxNewTokens: 16, ignoreEos: true }), await gen.generate({ inputIds: prompts[0]!, maxNewTokens: 16, ignoreEos: true, adapter: gen.adapterIds[0]! })];
        runs.forEach((r, i) => {
          const want = ref[i]!;
          assert.deepEqual(r.tokenIds, want.token_ids, `${i === 0 ? 'base' : 'adapter'} tokens`);
          const err = Math.max(...r.logprobs.map((lp, j) => Math.abs(lp - want.logprobs[j]!)));
          assert.ok(err < 1e-4, `${i === 0 ? 'base' : 'adapter'} logprob error ${err}`);
        });
        // The adapter changes the output (otherwise the test would not test the adapter).
        assert.notDeepEqual(runs[0]!.logprobs, runs[1]!.logprobs);
      } finally {
        await gen.dispose();
      }
    });
  }
});
