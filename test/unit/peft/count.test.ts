import { strict as assert } from 'node:assert';
import { parseModelConfig } from '../../../src/core/hf/config';
import { inventoryFromConfig } from '../../../src/core/hf/inventory';
import type { ModelInventory } from '../../../src/core/hf/types';
import { countParameters, countParametersDetailed } from '../../../src/core/peft/count';
import { parseLoraConfig } from '../../../src/core/peft/loraConfig';
import { LLAMA3_8B_CONFIG } from '../hf/tinyModels';

/** hidden 32, 4 heads / 2 kv heads (head_dim 8, kv out 16), intermediate 64, 4 layers, vocab 100. */
function tiny(modelType = 'llama', extra: Record<string, unknown> = {}): ModelInventory {
  return inventoryFromConfig(parseModelConfig({
    model_type: modelType, hidden_size: 32, num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 64, num_hidden_layers: 4, vocab_size: 100, ...extra,
  }, 'config.json'), '/m');
}

// Base: embed 100*32 + lm_head 100*32 + norm 32 + 4 * (q 32*32 + k 16*32 + v 16*32 + o 32*32 + 3 * 64*32 + 2 * 32)
const BASE = 3200 + 3200 + 32 + 4 * (1024 + 512 + 512 + 1024 + 3 * 2048 + 64);

describe('peft/count (print_trainable_parameters)', () => {
  it('LoRA on q_proj, v_proj: r*(in+out) per module; total = base + trainable', () => {
    const inv = tiny();
    assert.equal(inv.totalParameters, BASE);
    assert.equal(BASE, 43_552);
    const c = countParameters(parseLoraConfig({ r: 4, target_modules: ['q_proj', 'v_proj'] }), inv);
    // per layer: q 4*(32+32) = 256, v 4*(32+16) = 192 → 448; 4 layers → 1792
    assert.equal(c.trainable, 1792);
    assert.equal(c.total, BASE + 1792);
    assert.equal(c.percent, (100 * 1792) / (BASE + 1792));
    assert.deepEqual(c.modules[1], { name: 'model.layers.0.self_attn.v_proj', r: 4, in: 32, out: 16, params: 192 });
  });

  it('rank_pattern changes the per-module size', () => {
    const c = countParameters(parseLoraConfig({ r: 4, target_modules: ['q_proj'], rank_pattern: { 'layers.2.self_attn.q_proj': 10 } }), tiny());
    // three layers at r=4: 4*64 = 256 each; layer 2 at r=10: 10*64 = 640
    assert.equal(c.trainable, 3 * 256 + 640);
  });

  it('DoRA adds a magnitude vector [out]; lora_bias adds lora_B.bias [out]', () => {
    const dora = countParameters(parseLoraConfig({ r: 4, target_modules: ['q_proj', 'v_proj'], use_dora: true }), tiny());
    assert.equal(dora.trainable, 1792 + 4 * (32 + 16));
    const lb = countParameters(parseLoraConfig({ r: 4, target_modules: ['q_proj', 'v_proj'], lora_bias: true }), tiny());
    assert.equal(lb.trainable, 1792 + 4 * (32 + 16));
    assert.equal(lb.total, BASE + lb.trainable);
  });

  it('bias "all" makes every base bias trainable (already in total); "lora_only" only adapted modules\' biases', () => {
    const inv = tiny('qwen2'); // q/k/v biases: 32 + 16 + 16 per layer
    assert.equal(inv.totalParameters, BASE + 4 * 64);
    const all = countParameters(parseLoraConfig({ r: 4, target_modules: ['q_proj'], bias: 'all' }), inv);
    assert.equal(all.trainable, 4 * 256 + 4 * 64);
    assert.equal(all.total, inv.totalParameters + 4 * 256);
    const only = countParameters(parseLoraConfig({ r: 4, target_modules: ['q_proj', 'o_proj'], bias: 'lora_only' }), inv);
    // LoRA q 256 + o 4*(32+32) = 256 per layer; biases: q 32 (o has none)
    assert.equal(only.trainable, 4 * (256 + 256) + 4 * 32);
    assert.equal(only.total, inv.totalParameters + 4 * 512);
  });

  it('modules_to_save adds a trainable copy (also of a tied lm_head), counted in total too', () => {
    const c = countParametersDetailed(parseLoraConfig({ r: 4, target_modules: ['q_proj'], modules_to_save: ['lm_head'] }), tiny());
    assert.deepEqual(c.modulesToSave, [{ name: 'lm_head', params: 3200 }]);
    assert.equal(c.trainable, 4 * 256 + 3200);
    assert.equal(c.total, BASE + 4 * 256 + 3200);
    const tied = tiny('llama', { tie_word_embeddings: true });
    assert.equal(tied.totalParameters, BASE - 3200, 'a tied head is counted once');
    const t = countParameters(parseLoraConfig({ r: 4, target_modules: ['q_proj'], modules_to_save: ['lm_head'] }), tied);
    assert.equal(t.trainable, 4 * 256 + 3200);
    assert.equal(t.total, BASE - 3200 + 4 * 256 + 3200);
  });

  it('trainable_token_indices: a tied head shares the embedding\'s delta unless the dict gives it other tokens (PEFT)', () => {
    const tied = tiny('llama', { tie_word_embeddings: true });
    const dim = tied.spec.hiddenSize;
    const n = (tti: unknown): number => countParameters(parseLoraConfig({ r: 4, target_modules: ['q_proj'], trainable_token_indices: tti }), tied).trainable - 4 * 256;
    assert.equal(n([1, 2, 3]), 3 * dim);
    assert.equal(n({ embed_tokens: [1, 2], lm_head: [1, 2] }), 2 * dim, 'same indices: one delta');
    assert.equal(n({ embed_tokens: [1, 2], lm_head: [5] }), 3 * dim, 'other indices: the head has its own');
  });

  it('GPT-2 all-linear counts Conv1D with [in, out] features as Linear', () => {
    const inv = inventoryFromConfig(parseModelConfig({ model_type: 'gpt2', n_embd: 16, n_head: 4, n_layer: 2, vocab_size: 50, n_positions: 20 }, 'c.json'), '/g');
    const c = countParameters(parseLoraConfig({ r: 2, target_modules: 'all-linear' }), inv);
    // per block: c_attn 2*(16+48) + attn.c_proj 2*(16+16) + c_fc 2*(16+64) + mlp.c_proj 2*(64+16) = 128 + 64 + 160 + 160
    assert.equal(c.trainable, 2 * (128 + 64 + 160 + 160));
    assert.deepEqual(c.modules[0], { name: 'transformer.h.0.attn.c_attn', r: 2, in: 16, out: 48, params: 128 });
  });

  it('Llama-3-8B (config.json only), r=16 on q/k/v/o_proj: 13,631,488 of 8,043,892,736', () => {
    const inv = inventoryFromConfig(parseModelConfig(LLAMA3_8B_CONFIG, 'config.json'), '/llama3');
    const c = countParameters(parseLoraConfig({ r: 16, lora_alpha: 32, target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] }), inv);
    // per layer: q 16*(4096+4096) + k 16*(4096+1024) + v 16*(4096+1024) + o 16*(4096+4096)
    const perLayer = 16 * (4096 + 4096) + 16 * (4096 + 1024) + 16 * (4096 + 1024) + 16 * (4096 + 4096);
    assert.equal(perLayer, 425_984);
    assert.equal(c.trainable, 32 * perLayer);
    assert.equal(c.trainable, 13_631_488);
    assert.equal(c.total, 8_030_261_248 + 13_631_488);
    assert.equal(c.percent.toFixed(4), '0.1695');
    assert.equal(c.modules.length, 128);
  });

  it('trainable_token_indices adds a [n_tokens, dim] delta to the input embedding', () => {
    const c = countParametersDetailed(parseLoraConfig({ r: 4, target_modules: ['q_proj'], trainable_token_indices: [1, 2, 5] }), tiny());
    assert.deepEqual(c.tokenDeltas, [{ name: 'model.embed_tokens', params: 3 * 32 }]);
    assert.equal(c.trainable, 4 * 256 + 96);
    assert.equal(c.total, BASE + 4 * 256 + 96);
  });
});
