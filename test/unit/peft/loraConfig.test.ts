import { strict as assert } from 'node:assert';
import { InputError } from '../../../src/core/errors';
import { LORA_CONFIG_FIELDS, parseLoraConfig } from '../../../src/core/peft/loraConfig';
import type { LoraConfigWarning } from '../../../src/core/peft/loraConfig';
import { defaultTargetModules } from '../../../src/core/peft/defaults';
import { enumValues } from '../../../src/core/peft/loraRules';
import { pythonFloatRepr, pythonJsonDumps, serializeAdapterConfig } from '../../../src/core/peft/save';

/** PEFT 0.20.0's adapter_config.json for LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05, target_modules=[q_proj, v_proj], task_type=CAUSAL_LM), as PEFT writes it (docs/FORMATS.md). */
const PEFT_020_EXAMPLE = {
  alora_invocation_tokens: null, alpha_pattern: {}, arrow_config: null, auto_mapping: null, base_model_name_or_path: 'Qwen/Qwen2.5-0.5B', bias: 'none',
  corda_config: null, ensure_weight_tying: false, eva_config: null, exclude_modules: null, fan_in_fan_out: false, inference_mode: true, init_lora_weights: true,
  layer_replication: null, layers_pattern: null, layers_to_transform: null, loftq_config: {}, lora_alpha: 16, lora_bias: false, lora_dropout: 0.05,
  lora_ga_config: null, megatron_config: null, megatron_core: 'megatron.core', modules_to_save: null, monteclora_config: null, peft_type: 'LORA',
  peft_version: '0.20.0', qalora_group_size: 16, r: 8, rank_pattern: {}, revision: null, target_modules: ['q_proj', 'v_proj'], target_parameters: null,
  task_type: 'CAUSAL_LM', trainable_token_indices: null, use_bdlora: null, use_dora: false, use_qalora: false, use_rslora: false, velora_config: null,
};

function throwsInput(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof InputError && re.test(e.message));
}

describe('peft/loraConfig', () => {
  it('the field table has the 7 PeftConfig and 34 LoraConfig fields of PEFT 0.20.0, each documented', () => {
    assert.equal(LORA_CONFIG_FIELDS.filter((f) => f.owner === 'PeftConfig').length, 7);
    assert.equal(LORA_CONFIG_FIELDS.filter((f) => f.owner === 'LoraConfig').length, 34);
    assert.deepEqual(LORA_CONFIG_FIELDS.filter((f) => f.saved).map((f) => f.name).sort(), Object.keys(PEFT_020_EXAMPLE).sort());
    for (const f of LORA_CONFIG_FIELDS) assert.ok(f.doc.length > 40, f.name);
    assert.deepEqual(enumValues('bias'), ['none', 'all', 'lora_only']);
  });

  it('applies PEFT defaults to a minimal config', () => {
    const c = parseLoraConfig({ peft_type: 'LORA' });
    assert.equal(c.r, 8);
    assert.equal(c.lora_alpha, 8);
    assert.equal(c.lora_dropout, 0);
    assert.equal(c.target_modules, null);
    assert.equal(c.bias, 'none');
    assert.equal(c.init_lora_weights, true);
    assert.deepEqual(c.rank_pattern, {});
    assert.equal(c.megatron_core, 'megatron.core');
    assert.equal(c.qalora_group_size, 16);
  });

  it('warns on unknown keys with a did-you-mean, as PEFT drops them', () => {
    const warnings: LoraConfigWarning[] = [];
    const c = parseLoraConfig({ r: 4, lora_alpah: 8 }, 'a.json', { warnings });
    assert.equal(c.lora_alpha, 8);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]?.message ?? '', /lora_alpah.*Did you mean "lora_alpha"/);
  });

  it('raises the errors of LoraConfig.__post_init__ as InputError', () => {
    throwsInput(() => parseLoraConfig({ target_modules: '.*q_proj', layers_to_transform: [0] }), /`layers_to_transform` cannot be used when `target_modules` is a str/);
    throwsInput(() => parseLoraConfig({ target_modules: '.*q_proj', layers_pattern: 'layers' }), /`layers_pattern` cannot be used when `target_modules` is a str/);
    throwsInput(() => parseLoraConfig({ target_modules: ['q_proj'], layers_pattern: 'layers' }), /When `layers_pattern` is specified, `layers_to_transform` must also be specified/);
    throwsInput(() => parseLoraConfig({ use_dora: true, megatron_config: { a: 1 } }), /DoRA does not support megatron_core/);
    throwsInput(() => parseLoraConfig({ lora_bias: true, init_lora_weights: 'gaussian' }), /lora_bias=True is only supported with init_lora_weights=True or False/);
    throwsInput(() => parseLoraConfig({ lora_bias: true, use_dora: true }), /lora_bias=True is not supported for DoRA/);
    throwsInput(() => parseLoraConfig({ init_lora_weights: 'loftq' }), /`loftq_config` must be specified/);
    throwsInput(() => parseLoraConfig({ task_type: 'CAUSAL' }), /Invalid task type "CAUSAL".*Did you mean "CAUSAL_LM"/);
    throwsInput(() => parseLoraConfig({ r: 0 }), /`r` should be a positive integer value but the value passed is 0/);
    throwsInput(() => parseLoraConfig({ init_lora_weights: 'kaiming' }), /Unknown init_lora_weights value "kaiming"/);
    throwsInput(() => parseLoraConfig({ peft_type: 'IA3' }), /peft_type "IA3"/);
  });

  it('checks JSON types and enums, with file context', () => {
    assert.throws(() => parseLoraConfig({ r: '8' }, '/p/adapter_config.json'), (e: unknown) => e instanceof InputError && e.context.file === '/p/adapter_config.json' && /"r" must be an integer/.test(e.message));
    throwsInput(() => parseLoraConfig({ r: 8.5 }), /"r" must be/);
    throwsInput(() => parseLoraConfig({ target_modules: ['q_proj', 3] }), /every entry of "target_modules"/);
    throwsInput(() => parseLoraConfig({ bias: 'some' }), /"bias" must be "none", "all" or "lora_only"/);
    throwsInput(() => parseLoraConfig({ rank_pattern: { q_proj: 'big' } }), /rank_pattern/);
    throwsInput(() => parseLoraConfig([1, 2]), /must contain a JSON object/);
    assert.equal(parseLoraConfig({ init_lora_weights: 'pissa_niter_4' }).init_lora_weights, 'pissa_niter_4');
  });

  it('resets loftq_config when init_lora_weights is not loftq (with a warning), like PEFT', () => {
    const warnings: LoraConfigWarning[] = [];
    const c = parseLoraConfig({ loftq_config: { loftq_bits: 4 } }, undefined, { warnings });
    assert.deepEqual(c.loftq_config, {});
    assert.equal(warnings[0]?.key, 'loftq_config');
  });

  it('default target modules per model type (PEFT constants.py)', () => {
    assert.deepEqual(defaultTargetModules('llama'), ['q_proj', 'v_proj']);
    assert.deepEqual(defaultTargetModules('qwen2'), ['q_proj', 'v_proj']);
    assert.deepEqual(defaultTargetModules('mistral'), ['q_proj', 'v_proj']);
    assert.deepEqual(defaultTargetModules('gpt2'), ['c_attn']);
    assert.equal(defaultTargetModules('gemma4'), null);
    assert.equal(defaultTargetModules('toString'), null);
  });
});

describe('peft/save serializeAdapterConfig', () => {
  it('reproduces PEFT 0.20.0 adapter_config.json byte for byte (sort_keys, indent 2, inference_mode true)', () => {
    const cfg = parseLoraConfig({ r: 8, lora_alpha: 16, lora_dropout: 0.05, target_modules: ['q_proj', 'v_proj'], task_type: 'CAUSAL_LM', inference_mode: false });
    const text = serializeAdapterConfig(cfg, 'Qwen/Qwen2.5-0.5B');
    assert.deepEqual(JSON.parse(text), PEFT_020_EXAMPLE);
    const keys = Object.keys(PEFT_020_EXAMPLE).sort();
    assert.deepEqual(Object.keys(JSON.parse(text)), keys);
    assert.ok(text.startsWith('{\n  "alora_invocation_tokens": null,\n  "alpha_pattern": {},\n'));
    assert.ok(text.includes('\n  "target_modules": [\n    "q_proj",\n    "v_proj"\n  ],\n'));
    assert.ok(text.endsWith('\n  "velora_config": null\n}'));
    assert.equal(text.split('\n').length, 40 + 2 + 3);
  });

  it('writes floats as Python does (lora_dropout 0.0, 1e-05) and ints as ints', () => {
    const text = serializeAdapterConfig(parseLoraConfig({ lora_alpha: 32, rank_pattern: { down_proj: 16 } }), '/m');
    assert.ok(text.includes('"lora_dropout": 0.0,'));
    assert.ok(text.includes('"lora_alpha": 32,'));
    assert.ok(text.includes('"rank_pattern": {\n    "down_proj": 16\n  },'));
    assert.deepEqual([0.05, 1e-5, 16, 1e16, 0.0001, 2e-4, 123.5, -0.5].map(pythonFloatRepr), ['0.05', '1e-05', '16.0', '1e+16', '0.0001', '0.0002', '123.5', '-0.5']);
    assert.equal(pythonJsonDumps({ b: 'é', a: [] }), '{\n  "a": [],\n  "b": "\\u00e9"\n}');
  });

  it('writes auto_mapping only when task_type is null', () => {
    const am = { base_model_class: 'LlamaForCausalLM', parent_library: 'transformers.models.llama.modeling_llama' };
    assert.deepEqual(JSON.parse(serializeAdapterConfig(parseLoraConfig({}), '/m', { autoMapping: am })).auto_mapping, am);
    assert.equal(JSON.parse(serializeAdapterConfig(parseLoraConfig({ task_type: 'CAUSAL_LM' }), '/m', { autoMapping: am })).auto_mapping, null);
  });
});
