// modules_to_save and trainable_token_indices resolved into trainable tensors as PEFT wraps them: keys, shapes, the
// Trainer's no-decay rule, tied heads, and the combinations PEFT refuses.
import { strict as assert } from 'node:assert';
import { inventoryFromConfig } from '../../../src/core/hf/inventory';
import { parseModelConfig } from '../../../src/core/hf/config';
import { InputError } from '../../../src/core/errors';
import { parseLoraConfig } from '../../../src/core/peft/loraConfig';
import { savedModuleParams, tokenDeltaParams } from '../../../src/core/peft/savedModules';

const inv = (tie: boolean): ReturnType<typeof inventoryFromConfig> => inventoryFromConfig(parseModelConfig({
  model_type: 'llama', hidden_size: 32, num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 64, num_hidden_layers: 2, vocab_size: 100, tie_word_embeddings: tie,
}, 'config.json'), '/m');

describe('modules_to_save / trainable_token_indices as trainable tensors', () => {
  it('copies: PEFT keys, shapes, sources (a tied head copies the embedding), no decay on norms', () => {
    const p = savedModuleParams(parseLoraConfig({ target_modules: ['q_proj'], modules_to_save: ['lm_head', 'model.norm'] }), inv(true));
    assert.deepEqual(p.map((x) => [x.key, x.source, x.shape, x.decay]), [
      ['base_model.model.model.norm.weight', 'model.norm.weight', [32], false],
      ['base_model.model.lm_head.weight', 'model.embed_tokens.weight', [100, 32], true],
    ]);
    assert.throws(() => savedModuleParams(parseLoraConfig({ modules_to_save: ['lm_head'], ensure_weight_tying: true }), inv(true)), InputError);
  });

  it('token deltas: a list wraps the embedding; a tied head follows it; PEFT\'s refusals', () => {
    const t = tokenDeltaParams(parseLoraConfig({ trainable_token_indices: [3, 1] }), inv(true));
    assert.deepEqual(t.map((x) => [x.key, x.shape, x.tokens]), [['base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta', [2, 32], { module: 'model.embed_tokens', rows: [3, 1], tiedHead: true }]]);
    const own = tokenDeltaParams(parseLoraConfig({ trainable_token_indices: { embed_tokens: [1], lm_head: [2, 4] } }), inv(true));
    assert.deepEqual(own.map((x) => [x.key, x.shape, x.tokens?.tiedHead]), [
      ['base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta', [1, 32], false],
      ['base_model.model.lm_head.token_adapter.trainable_tokens_delta', [2, 32], false],
    ]);
    assert.equal(tokenDeltaParams(parseLoraConfig({ trainable_token_indices: [3] }), inv(false))[0]!.tokens!.tiedHead, false);
    for (const bad of [
      { trainable_token_indices: [1, 1] },
      { trainable_token_indices: [100] },
      { trainable_token_indices: [1], modules_to_save: ['embed_tokens'] },
      { trainable_token_indices: { embed_tokens: [1], lm_head: [2] }, ensure_weight_tying: true },
    ]) assert.throws(() => tokenDeltaParams(parseLoraConfig(bad), inv(true)), InputError, JSON.stringify(bad));
  });
});
