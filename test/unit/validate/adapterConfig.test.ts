// adapter_config.json diagnostics: positions, severities, quick fixes (text after applying) and model checks
// against real config-only model folders written to a temp dir.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadModel } from '../../../src/core/hf/loadModel';
import type { ModelInventory } from '../../../src/core/hf/types';
import { applyEdits, validate, type Problem } from '../../../src/core/validate';
import { at, byCode, gpt2ConfigModel, llamaConfigModel, one, tempDir } from './helpers';

describe('validate adapter_config.json', () => {
  let dir: string;
  let llama: ModelInventory;
  const run = (text: string, model: ModelInventory | null = llama, extra = {}): Problem[] => validate(text, { path: path.join(dir, 'adapter_config.json'), model, ...extra });
  const fixed = (text: string, p: Problem): string => applyEdits(text, p.fix!.edits);

  before(() => {
    dir = tempDir();
    llama = loadModel(llamaConfigModel(dir, 28));
  });

  it('accepts a PEFT-written config without problems', () => {
    const text = JSON.stringify({ peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 8, lora_alpha: 16, lora_dropout: 0.05, target_modules: ['q_proj', 'v_proj'], bias: 'none', rank_pattern: {}, alpha_pattern: {}, loftq_config: {} }, null, 2);
    assert.deepEqual(run(text), []);
  });

  it('reports JSON syntax errors at the token', () => {
    const ps = run('{\n  "r": 8,\n  "lora_alpha" 16\n}');
    const p = byCode(ps, 'json-syntax')[0]!;
    assert.equal(p.severity, 'error');
    assert.deepEqual(at(p).slice(0, 2), [2, 15]);
  });

  it('warns on an unknown key with did-you-mean, and the fix renames it', () => {
    const text = '{\n  "peft_type": "LORA",\n  "lora_alpa": 16\n}';
    const p = one(run(text), 'unknown-key');
    assert.equal(p.severity, 'warning');
    assert.deepEqual(at(p), [2, 2, 2, 13]);
    assert.match(p.message, /Did you mean "lora_alpha"\?/);
    assert.equal(fixed(text, p), '{\n  "peft_type": "LORA",\n  "lora_alpha": 16\n}');
  });

  it('checks types, ranges and enums with exact ranges', () => {
    const text = '{"peft_type": "LORA", "r": 0, "lora_dropout": 1.5, "bias": "lora-only", "init_lora_weights": "gausian", "use_rslora": "yes", "task_type": "CAUSAL"}';
    const ps = run(text, null);
    const r = ps.find((p) => p.message.startsWith('`r`'))!;
    assert.deepEqual([r.severity, r.code, ...at(r)], ['error', 'out-of-range', 0, 27, 0, 28]);
    assert.equal(ps.find((p) => p.message.includes('lora_dropout'))!.code, 'out-of-range');
    const bias = ps.find((p) => p.message.startsWith('"bias"'))!;
    assert.equal(fixed(text, bias).includes('"bias": "lora_only"'), true);
    const init = ps.find((p) => p.message.includes('init_lora_weights'))!;
    assert.equal(fixed(text, init).includes('"init_lora_weights": "gaussian"'), true);
    const rs = ps.find((p) => p.message.includes('use_rslora'))!;
    assert.equal(rs.code, 'bad-type');
    const task = ps.find((p) => p.message.includes('task type'))!;
    assert.equal(fixed(text, task).includes('"task_type": "CAUSAL_LM"'), true);
  });

  it('r: 0 and a negative rank get a fix (PEFT\'s default 8; the magnitude of a negative integer)', () => {
    const zero = '{"peft_type": "LORA", "r": 0}';
    const p = one(run(zero, null), 'out-of-range');
    assert.equal(p.fix!.title, "Change to 8 (PEFT's default rank)");
    assert.equal(fixed(zero, p), '{"peft_type": "LORA", "r": 8}');
    const neg = '{"r": -16, "rank_pattern": {"q_proj": 0}}';
    const ps = byCode(run(neg, null), 'out-of-range');
    assert.deepEqual(ps.map((x) => fixed(neg, x)), ['{"r": 16, "rank_pattern": {"q_proj": 0}}', '{"r": -16, "rank_pattern": {"q_proj": 8}}']);
  });

  it('fixes a string where a number belongs', () => {
    const text = '{"peft_type": "LORA", "r": "16"}';
    const p = one(run(text, null), 'bad-type');
    assert.equal(fixed(text, p), '{"peft_type": "LORA", "r": 16}');
  });

  it('applies PEFT\'s cross-field rules', () => {
    const base = { peft_type: 'LORA' };
    const codes = (o: object): string[] => run(JSON.stringify({ ...base, ...o }), null).map((p) => p.code);
    assert.deepEqual(codes({ layers_pattern: 'layers' }), ['pattern-without-layers']);
    assert.deepEqual(codes({ target_modules: '.*q_proj', layers_to_transform: [0] }), ['layers-with-regex']);
    assert.deepEqual(codes({ init_lora_weights: 'loftq' }), ['loftq-without-config']);
    assert.deepEqual(codes({ use_dora: true, lora_bias: true }), ['lora-bias-dora']);
    assert.deepEqual(codes({ lora_bias: true, init_lora_weights: 'gaussian' }), ['lora-bias-init']);
  });

  it('reports a target that matches nothing, with a replacing fix', () => {
    const text = '{\n  "peft_type": "LORA",\n  "target_modules": ["q_proj", "v_prj"]\n}';
    const p = one(run(text), 'target-not-found');
    assert.equal(p.severity, 'error');
    assert.deepEqual(at(p), [2, 31, 2, 38]);
    assert.equal(fixed(text, p), '{\n  "peft_type": "LORA",\n  "target_modules": ["q_proj", "v_proj"]\n}');
  });

  it('warns when an entry matches only some layers', () => {
    const text = '{"peft_type": "LORA", "target_modules": ["q_proj", "layers.3.mlp.down_proj"]}';
    const p = one(run(text), 'target-partial');
    assert.equal(p.severity, 'warning');
    assert.match(p.message, /matched in 1 of 28 layers/);
    assert.deepEqual((p.data as { layers: number[] }).layers, [3]);
  });

  it('warns when exclude_modules excludes none of the targets, as PEFT does', () => {
    const text = '{"peft_type": "LORA", "target_modules": ["q_proj", "v_proj"], "exclude_modules": ["o_proj"]}';
    const p = one(run(text), 'exclude-unused');
    assert.equal(p.severity, 'warning');
    assert.match(p.message, /exclude_modules \["o_proj"\] excludes none of the 56 targeted modules/);
    assert.deepEqual(at(p), [0, 81, 0, 91]); // the value ["o_proj"]
    // one that excludes something is fine
    assert.equal(run('{"peft_type": "LORA", "target_modules": ["q_proj", "v_proj"], "exclude_modules": ["layers.0.self_attn.q_proj"]}').filter((x) => x.code === 'exclude-unused').length, 0);
  });

  it('checks a regex target, layers_to_transform, rank_pattern and modules_to_save against the model', () => {
    assert.deepEqual(run('{"peft_type": "LORA", "target_modules": ".*\\\\.(q|v)_proj"}'), []);
    assert.equal(one(run('{"peft_type": "LORA", "target_modules": ".*attn\\\\.qq"}'), 'target-not-found').severity, 'error');
    const ltText = '{"peft_type": "LORA", "target_modules": ["q_proj"], "layers_to_transform": [0, 28]}';
    const lt = one(run(ltText), 'layer-out-of-range');
    assert.deepEqual(at(lt), [0, ltText.indexOf('28'), 0, ltText.indexOf('28') + 2]);
    const rp = one(run('{"peft_type": "LORA", "target_modules": ["q_proj"], "rank_pattern": {"v_proj": 4, "q_proj": 16}}'), 'pattern-not-matching');
    assert.match(rp.message, /"v_proj"/);
    const text = '{"peft_type": "LORA", "target_modules": ["q_proj"], "modules_to_save": ["lm_head", "lm_haed"]}';
    const mts = one(run(text), 'module-not-found');
    assert.equal(fixed(text, mts).endsWith('["lm_head", "lm_head"]}'), true);
  });

  it('uses the model type\'s default targets when target_modules is null (gpt2: c_attn)', () => {
    const g = loadModel(gpt2ConfigModel(dir));
    assert.deepEqual(run('{"peft_type": "LORA", "target_modules": null}', g), []);
    assert.equal(one(run('{"peft_type": "LORA", "target_modules": ["q_proj"]}', g), 'target-not-found').message.includes('c_attn'), true);
  });

  it('flags base_model_name_or_path that disagrees with the recipe', () => {
    const text = '{"peft_type": "LORA", "base_model_name_or_path": "Qwen/Qwen2.5-0.5B"}';
    const recipe = { path: path.join(dir, 'peft-train.yaml'), baseModel: './model', baseModelDir: path.join(dir, 'model'), adapterConfig: null, datasets: [], format: 'auto', maxLength: 512, trainOnPrompt: false, batchSize: 4, gradAccum: 1, device: 'cpu', fp16: false };
    const p = one(run(text, llama, { recipe }), 'base-model-mismatch');
    assert.equal(fixed(text, p), '{"peft_type": "LORA", "base_model_name_or_path": "model"}');
  });

  it('loads the model from base_model_name_or_path when it is a local folder', () => {
    fs.writeFileSync(path.join(dir, 'x.json'), '');
    const ps = validate('{"peft_type": "LORA", "base_model_name_or_path": "model", "target_modules": ["nope_proj"]}', { path: path.join(dir, 'adapter_config.json'), loadModel });
    assert.equal(one(ps, 'target-not-found').severity, 'error');
  });

  it('never throws on hostile input', () => {
    for (const t of ['', '[]', 'null', '{"r": {"a": [}', '{"target_modules": [1, null, {}]}', '{"rank_pattern": {"(": 1}}', '\u0000', '{"layers_to_transform": "x"}']) {
      assert.ok(Array.isArray(run(t)));
    }
  });
});
