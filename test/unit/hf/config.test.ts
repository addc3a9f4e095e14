import { strict as assert } from 'node:assert';
import { parseModelConfig } from '../../../src/core/hf/config';
import { InputError } from '../../../src/core/errors';
import { LLAMA3_8B_CONFIG } from './tinyModels';

describe('hf/config parseModelConfig', () => {
  it('reads Llama-3-8B: GQA, llama3 rope scaling, bf16, untied head', () => {
    const s = parseModelConfig(LLAMA3_8B_CONFIG, 'config.json');
    assert.equal(s.family, 'llama');
    assert.equal(s.numKvHeads, 8);
    assert.equal(s.headDim, 128);
    assert.equal(s.ropeTheta, 500000);
    assert.deepEqual(s.ropeScaling, { ropeType: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 });
    assert.equal(s.tieWordEmbeddings, false);
    assert.equal(s.torchDtype, 'bfloat16');
    assert.equal(s.normEps, 1e-5);
    assert.equal(s.eosTokenId, 128001);
  });

  it('applies LlamaConfig defaults: kv heads = heads, head_dim = hidden/heads, theta 10000, no bias, untied', () => {
    const s = parseModelConfig({ model_type: 'llama', hidden_size: 64, num_attention_heads: 4 }, 'c.json');
    assert.equal(s.numKvHeads, 4);
    assert.equal(s.headDim, 16);
    assert.equal(s.ropeTheta, 10000);
    assert.equal(s.ropeScaling, null);
    assert.equal(s.intermediateSize, 11008);
    assert.equal(s.vocabSize, 32000);
    assert.equal(s.maxPositionEmbeddings, 2048);
    assert.deepEqual([s.qkvBias, s.oBias, s.mlpBias, s.tieWordEmbeddings], [false, false, false, false]);
    assert.deepEqual(s.architectures, ['LlamaForCausalLM']);
  });

  it('honours explicit head_dim, attention_bias and mlp_bias (llama), old `type` key of rope_scaling', () => {
    const s = parseModelConfig({ model_type: 'llama', hidden_size: 64, num_attention_heads: 4, head_dim: 32, attention_bias: true, mlp_bias: true, rope_scaling: { type: 'linear', factor: 2 } }, 'c.json');
    assert.equal(s.headDim, 32);
    assert.deepEqual([s.qkvBias, s.oBias, s.mlpBias], [true, true, true]);
    assert.deepEqual(s.ropeScaling, { ropeType: 'linear', factor: 2 });
  });

  it('reads transformers v5 rope_parameters and `dtype`', () => {
    const s = parseModelConfig({
      model_type: 'llama', hidden_size: 64, num_attention_heads: 4, dtype: 'float16',
      rope_parameters: { rope_type: 'llama3', rope_theta: 500000.0, factor: 32.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 8192 },
    }, 'c.json');
    assert.equal(s.ropeTheta, 500000);
    assert.equal(s.ropeScaling?.factor, 32);
    assert.equal(s.torchDtype, 'float16');
    const d = parseModelConfig({ model_type: 'qwen2', rope_parameters: { rope_type: 'default', rope_theta: 1000000.0 } }, 'c.json');
    assert.equal(d.ropeTheta, 1000000);
    assert.equal(d.ropeScaling, null);
  });

  it('Qwen2 always has q/k/v bias (not o), defaults vocab 151936; SmolLM-style tied llama', () => {
    const q = parseModelConfig({ model_type: 'qwen2', hidden_size: 896, num_attention_heads: 14, num_key_value_heads: 2, tie_word_embeddings: true }, 'c.json');
    assert.deepEqual([q.qkvBias, q.oBias, q.mlpBias], [true, false, false]);
    assert.equal(q.headDim, 64);
    assert.equal(q.tieWordEmbeddings, true);
    assert.equal(parseModelConfig({ model_type: 'qwen2' }, 'c.json').vocabSize, 151936);
    const smol = parseModelConfig({ model_type: 'llama', architectures: ['LlamaForCausalLM'], hidden_size: 576, num_attention_heads: 9, num_key_value_heads: 3, tie_word_embeddings: true }, 'c.json');
    assert.equal(smol.headDim, 64);
    assert.equal(smol.tieWordEmbeddings, true);
  });

  it('Mistral defaults num_key_value_heads to 8 when absent, to heads when null', () => {
    assert.equal(parseModelConfig({ model_type: 'mistral' }, 'c.json').numKvHeads, 8);
    assert.equal(parseModelConfig({ model_type: 'mistral', num_key_value_heads: null }, 'c.json').numKvHeads, 32);
    assert.equal(parseModelConfig({ model_type: 'mistral' }, 'c.json').intermediateSize, 14336);
  });

  it('GPT-2: n_* names, n_inner default 4*n_embd, ties its head, biases everywhere', () => {
    const g = parseModelConfig({ model_type: 'gpt2', architectures: ['GPT2LMHeadModel'] }, 'c.json');
    assert.deepEqual([g.vocabSize, g.hiddenSize, g.numLayers, g.numHeads, g.intermediateSize, g.maxPositionEmbeddings], [50257, 768, 12, 12, 3072, 1024]);
    assert.equal(g.tieWordEmbeddings, true);
    assert.equal(g.hiddenAct, 'gelu_new');
    assert.equal(g.normEps, 1e-5);
    assert.deepEqual([g.qkvBias, g.oBias, g.mlpBias], [true, true, true]);
  });

  it('rejects unknown model_type and architectures with the supported list', () => {
    assert.throws(() => parseModelConfig({ model_type: 'bert' }, 'x/config.json'), (e: unknown) =>
      e instanceof InputError && /model_type "bert"/.test(e.message) && /llama, mistral, qwen2, gpt2/.test(e.message) && /x\/config\.json/.test(e.message));
    assert.throws(() => parseModelConfig({ model_type: 'llama', architectures: ['LlamaForSequenceClassification'] }, 'c.json'), (e: unknown) =>
      e instanceof InputError && /LlamaForSequenceClassification/.test(e.message) && /LlamaForCausalLM/.test(e.message));
    assert.throws(() => parseModelConfig({ model_type: 'llama', hidden_size: 'big' }, 'c.json'), /hidden_size/);
    assert.throws(() => parseModelConfig({ model_type: 'llama', rope_scaling: { rope_type: 'llama3', factor: 8 } }, 'c.json'), /low_freq_factor/);
    // yarn: readable (count, validate, estimate work) but refused for training.
    const yarn = parseModelConfig({ model_type: 'llama', rope_scaling: { rope_type: 'yarn', factor: 8 } }, 'c.json');
    assert.deepEqual(yarn.unsupportedForTraining, ['rope_type "yarn" (supported for training: default, linear, dynamic, llama3, longrope)']);
    assert.equal(yarn.ropeScaling, null);
    assert.throws(() => parseModelConfig({ model_type: 'llama', rope_scaling: { rope_type: 'yarm', factor: 8 } }, 'c.json'), /rope_type "yarm" is not supported/);
  });
});
