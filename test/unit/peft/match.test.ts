import { strict as assert } from 'node:assert';
import { InputError } from '../../../src/core/errors';
import { parseModelConfig } from '../../../src/core/hf/config';
import { inventoryFromConfig } from '../../../src/core/hf/inventory';
import type { ModelInventory } from '../../../src/core/hf/types';
import { parseLoraConfig } from '../../../src/core/peft/loraConfig';
import { layerIndexOf, patternValue, reFullmatch } from '../../../src/core/peft/match';
import { analyzeTargets, findMinimalTargetModules, namedModules, resolveTargets, savedTargetModules } from '../../../src/core/peft/resolve';

/** A config-only llama: 4 layers, hidden 32, 4 heads, 2 kv heads (head_dim 8), intermediate 64, vocab 100. */
function llama(extra: Record<string, unknown> = {}): ModelInventory {
  return inventoryFromConfig(parseModelConfig({
    model_type: 'llama', hidden_size: 32, num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 64, num_hidden_layers: 4, vocab_size: 100, ...extra,
  }, 'config.json'), '/m');
}

function gpt2(): ModelInventory {
  return inventoryFromConfig(parseModelConfig({ model_type: 'gpt2', n_embd: 16, n_head: 4, n_layer: 3, vocab_size: 50, n_positions: 20 }, 'config.json'), '/g');
}

function names(cfg: Record<string, unknown>, inv: ModelInventory): string[] {
  return resolveTargets(parseLoraConfig(cfg), inv).targets.map((t) => t.module.name);
}

describe('peft/match + resolve: PEFT targeting rules', () => {
  it('list entries match the full name or a "."-suffix, never a bare substring', () => {
    const inv = llama();
    assert.deepEqual(names({ target_modules: ['q_proj'] }, inv), [0, 1, 2, 3].map((i) => `model.layers.${i}.self_attn.q_proj`));
    // "proj" is a substring of every projection but not a "."-suffix of any name: PEFT finds nothing and raises.
    assert.throws(() => names({ target_modules: ['proj'] }, inv), (e: unknown) => e instanceof InputError && /not found in the base model/.test(e.message));
    // a dotted suffix and an exact full name both work
    assert.deepEqual(names({ target_modules: ['mlp.down_proj', 'model.layers.2.self_attn.o_proj'] }, inv), [
      'model.layers.0.mlp.down_proj', 'model.layers.1.mlp.down_proj', 'model.layers.2.self_attn.o_proj', 'model.layers.2.mlp.down_proj', 'model.layers.3.mlp.down_proj',
    ]);
  });

  it('reports per entry which modules and which layers it matched (an entry matching only some layers)', () => {
    const inv = llama();
    const r = resolveTargets(parseLoraConfig({ target_modules: ['v_proj', 'layers.1.self_attn.k_proj', 'layers.3.self_attn.k_proj', 'gate'] }, 'a.json'), inv);
    const byEntry = new Map(r.entries.map((e) => [e.entry, e]));
    assert.deepEqual(byEntry.get('v_proj')?.layers, [0, 1, 2, 3]);
    assert.deepEqual(byEntry.get('layers.1.self_attn.k_proj')?.matched, ['model.layers.1.self_attn.k_proj']);
    assert.deepEqual(byEntry.get('layers.3.self_attn.k_proj')?.layers, [3]);
    assert.deepEqual(byEntry.get('gate')?.matched, []);
    assert.equal(r.targets.length, 6);
  });

  it('a string is a regex that must fullmatch (not search) the name', () => {
    const inv = llama();
    assert.deepEqual(names({ target_modules: '.*layers\\.[02]\\.self_attn\\.(q|v)_proj' }, inv), [
      'model.layers.0.self_attn.q_proj', 'model.layers.0.self_attn.v_proj', 'model.layers.2.self_attn.q_proj', 'model.layers.2.self_attn.v_proj',
    ]);
    // "q_proj" as a regex fullmatches no full name (whereas as a list entry it matches 4)
    assert.throws(() => names({ target_modules: 'q_proj' }, inv), /not found in the base model/);
    assert.equal(names({ target_modules: ['q_proj'] }, inv).length, 4);
    assert.ok(reFullmatch('(?P<a>x)y', 'xy') !== null, 'Python named groups');
    assert.ok(reFullmatch('(?i)Q_PROJ\\Z', 'q_proj') !== null, 'leading inline flags and \\Z');
    // the linear-time engine cannot express a backreference: a clear error instead of a silent mismatch
    assert.throws(() => reFullmatch('(?P<a>x)(?P=a)', 'xx', 'target_modules'), /target_modules uses a backreference, which is not supported/);
    assert.ok(reFullmatch('a|b', 'ab') === null, 'alternation is anchored as a whole');
  });

  it('a regex that reaches a container (self_attn) or a norm is rejected as PEFT rejects it', () => {
    assert.throws(() => names({ target_modules: '.*self_attn' }, llama()), (e: unknown) => e instanceof InputError && /not supported/.test(e.message) && /model\.layers\.0\.self_attn/.test(e.message));
    assert.throws(() => names({ target_modules: ['input_layernorm'] }, llama()), /RMSNorm .* is not supported/);
    assert.deepEqual(names({ target_modules: ['embed_tokens'] }, llama()), ['model.embed_tokens']);
  });

  it('all-linear on GPT-2 takes every Conv1D and leaves out the tied lm_head', () => {
    const inv = gpt2();
    const n = names({ target_modules: 'all-linear' }, inv);
    assert.equal(n.length, 3 * 4);
    assert.deepEqual(n.slice(0, 4), ['transformer.h.0.attn.c_attn', 'transformer.h.0.attn.c_proj', 'transformer.h.0.mlp.c_fc', 'transformer.h.0.mlp.c_proj']);
    assert.equal(n.includes('lm_head'), false);
    const r = resolveTargets(parseLoraConfig({ target_modules: 'all-linear' }), inv);
    assert.deepEqual(r.entries.map((e) => [e.entry, e.matched.length, e.layers]), [['all-linear', 12, [0, 1, 2]]]);
    assert.equal(names({ target_modules: 'ALL-LINEAR' }, llama()).length, 4 * 7);
  });

  it('exclude_modules removes modules (list: suffix rule; string: regex fullmatch); everything excluded is an error', () => {
    const inv = llama();
    assert.deepEqual(names({ target_modules: ['q_proj', 'v_proj'], exclude_modules: ['layers.0.self_attn.q_proj', 'v_proj'] }, inv), [1, 2, 3].map((i) => `model.layers.${i}.self_attn.q_proj`));
    assert.equal(names({ target_modules: 'all-linear', exclude_modules: '.*mlp.*' }, inv).length, 4 * 4);
    assert.throws(() => names({ target_modules: ['q_proj'], exclude_modules: ['q_proj'] }, inv), /No modules were targeted for adaptation/);
  });

  it('layers_to_transform (+ layers_pattern) limit list matches by layer index', () => {
    const inv = llama();
    assert.deepEqual(names({ target_modules: ['q_proj'], layers_to_transform: [1, 3] }, inv), ['model.layers.1.self_attn.q_proj', 'model.layers.3.self_attn.q_proj']);
    assert.deepEqual(names({ target_modules: ['q_proj'], layers_to_transform: 2, layers_pattern: 'layers' }, inv), ['model.layers.2.self_attn.q_proj']);
    assert.throws(() => names({ target_modules: ['q_proj'], layers_to_transform: [1], layers_pattern: 'h' }, inv), /not found in the base model.*layers_to_transform.*layers_pattern/);
    // an exact full name bypasses the layer filter (PEFT checks `key in target_modules` first)
    assert.deepEqual(names({ target_modules: ['model.layers.0.self_attn.q_proj'], layers_to_transform: [3] }, inv), ['model.layers.0.self_attn.q_proj']);
    assert.equal(layerIndexOf('transformer.h.11.attn.c_attn', null), 11);
    assert.equal(layerIndexOf('model.layers.1.experts.7.w1', null), 1);
    assert.equal(layerIndexOf('lm_head', null), null);
    assert.equal(names({ target_modules: ['c_attn'], layers_to_transform: [0, 2], layers_pattern: ['h'] }, gpt2()).length, 2);
  });

  it('rank_pattern / alpha_pattern: the first key with re.match(rf"(.*\\.)?({key})$") wins; scaling alpha/r', () => {
    const inv = llama();
    const r = resolveTargets(parseLoraConfig({
      r: 8, lora_alpha: 16, target_modules: ['q_proj', 'v_proj', 'down_proj'],
      rank_pattern: { 'layers.0.self_attn.q_proj': 2, q_proj: 4, '^model.layers.3.mlp.down_proj': 32 }, alpha_pattern: { v_proj: 64 },
    }), inv);
    const by = new Map(r.targets.map((t) => [t.module.name, t]));
    assert.equal(by.get('model.layers.0.self_attn.q_proj')?.r, 2);
    assert.equal(by.get('model.layers.1.self_attn.q_proj')?.r, 4);
    assert.equal(by.get('model.layers.1.self_attn.q_proj')?.scaling, 16 / 4);
    assert.equal(by.get('model.layers.2.self_attn.v_proj')?.alpha, 64);
    assert.equal(by.get('model.layers.2.self_attn.v_proj')?.scaling, 64 / 8);
    // "(.*\.)?(^model...)$": the ^ can only match at 0, which (.*\.)? permits, so the key applies
    assert.equal(by.get('model.layers.3.mlp.down_proj')?.r, 32);
    assert.equal(by.get('model.layers.2.mlp.down_proj')?.r, 8);
    // "proj" does not match q_proj: the pattern must end at a "." boundary
    assert.equal(patternValue({ proj: 99 }, 'model.layers.0.self_attn.q_proj', 8), 8);
  });

  it('use_rslora scales by alpha / sqrt(r)', () => {
    const t = resolveTargets(parseLoraConfig({ r: 16, lora_alpha: 32, use_rslora: true, target_modules: ['q_proj'] }), llama()).targets[0];
    assert.equal(t?.scaling, 32 / 4);
    const u = resolveTargets(parseLoraConfig({ r: 16, lora_alpha: 32, target_modules: ['q_proj'] }), llama()).targets[0];
    assert.equal(u?.scaling, 2);
  });

  it('null target_modules uses the model type defaults; modules_to_save modules are never LoRA targets', () => {
    assert.deepEqual(resolveTargets(parseLoraConfig({}), llama()).targetModules, ['q_proj', 'v_proj']);
    assert.equal(names({}, llama()).length, 8);
    assert.equal(names({}, gpt2()).length, 3);
    assert.deepEqual(names({ target_modules: ['embed_tokens', 'q_proj'], modules_to_save: ['embed_tokens'] }, llama()).length, 4);
  });

  it('lists named_modules with containers and parameter-less modules', () => {
    const n = namedModules(llama()).map((m) => m.name);
    assert.deepEqual(n.slice(0, 5), ['model', 'model.embed_tokens', 'model.layers', 'model.layers.0', 'model.layers.0.self_attn']);
    assert.ok(n.includes('model.layers.3.mlp.act_fn'));
    assert.equal(n[n.length - 1], 'lm_head');
  });

  it('analyzeTargets reports entries and the error PEFT would raise without throwing; warns on an unused exclude', () => {
    const a = analyzeTargets(parseLoraConfig({ target_modules: ['qproj', 'vproj'] }), llama());
    assert.equal(a.targets.length, 0);
    assert.deepEqual(a.entries.map((e) => [e.entry, e.matched.length]), [['qproj', 0], ['vproj', 0]]);
    assert.match(a.error?.message ?? '', /not found in the base model/);
    const w = analyzeTargets(parseLoraConfig({ target_modules: ['q_proj'], exclude_modules: ['nothing_here'] }), llama());
    assert.equal(w.error, null);
    assert.match(w.warnings[0] ?? '', /no modules were excluded/);
    assert.match(analyzeTargets(parseLoraConfig({ target_modules: ['embed_tokens'], lora_bias: true }), llama()).error?.message ?? '', /lora_bias=true is not supported for Embedding/);
  });
});

describe('peft/resolve savedTargetModules (what adapter_config.json gets)', () => {
  it('fills the defaults, shrinks all-linear on a 4-layer llama (28 names) to 7 suffixes, keeps short lists', () => {
    const inv = inventoryFromConfig(parseModelConfig({ model_type: 'llama', hidden_size: 32, num_attention_heads: 4, num_hidden_layers: 4 }, 'c'), '/m');
    assert.deepEqual(savedTargetModules(parseLoraConfig({}), inv), ['q_proj', 'v_proj']);
    assert.deepEqual(savedTargetModules(parseLoraConfig({ target_modules: 'all-linear' }), inv), ['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj']);
    assert.deepEqual(savedTargetModules(parseLoraConfig({ target_modules: '.*q_proj' }), inv), '.*q_proj');
    // GPT-2 (3 blocks, 12 Conv1D): below 20 names the full names are saved; c_proj is shared by attn and mlp
    const g = inventoryFromConfig(parseModelConfig({ model_type: 'gpt2', n_embd: 16, n_head: 4, n_layer: 3 }, 'c'), '/g');
    assert.equal((savedTargetModules(parseLoraConfig({ target_modules: 'all-linear' }), g) as string[]).length, 12);
    const g6 = inventoryFromConfig(parseModelConfig({ model_type: 'gpt2', n_embd: 16, n_head: 4, n_layer: 6 }, 'c'), '/g');
    assert.deepEqual(savedTargetModules(parseLoraConfig({ target_modules: 'all-linear' }), g6), ['c_attn', 'c_fc', 'c_proj']);
  });

  it('findMinimalTargetModules follows PEFT\'s docstring example', () => {
    const t = [...Array.from({ length: 100 }, (_, i) => `model.decoder.layers.${i}.self_attn.q_proj`), ...Array.from({ length: 100 }, (_, i) => `model.decoder.layers.${i}.self_attn.v_proj`)];
    const o = Array.from({ length: 100 }, (_, i) => `model.encoder.layers.${i}.self_attn.k_proj`);
    assert.deepEqual(findMinimalTargetModules(t, o), ['q_proj', 'v_proj']);
  });
});
