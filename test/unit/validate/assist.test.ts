// Editor assistance computed in core: completions (keys, enums, the model's module names), hovers (docs, defaults,
// what each target_modules entry matched), the CodeLens summary, and the JSON schema staying in sync with PEFT's fields.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadModel } from '../../../src/core/hf/loadModel';
import { LORA_CONFIG_FIELDS } from '../../../src/core/peft/loraConfig';
import { adapterCompletions, adapterHover, recipeCompletions, recipeHover } from '../../../src/core/validate/assist';
import { lensTitle, trainSummary } from '../../../src/core/validate/lens';
import { llamaConfigModel, tempDir } from './helpers';

describe('editor assistance', () => {
  const inv = loadModel(llamaConfigModel(tempDir(), 28));

  it('completes keys not yet present, and target_modules values from the model', () => {
    const keys = adapterCompletions('{\n  "r": 8,\n  \n}', 13, inv).map((c) => c.label);
    assert.ok(keys.includes('lora_alpha') && keys.includes('target_modules') && !keys.includes('r'));
    const text = '{"target_modules": ["q_proj", ""]}';
    const mods = adapterCompletions(text, text.indexOf('""') + 1, inv);
    assert.deepEqual(mods.map((c) => c.label), ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj', 'lm_head']);
    assert.equal(mods[0]!.detail, '28 module(s), 64 → 64');
    // inside a string token: the item replaces the whole token (quotes included)
    const inside = '{\n  "target_modules": ["q_proj", "", "v_prj"]\n}';
    const at = inside.indexOf('""') + 1;
    const items = adapterCompletions(inside, at, inv, false);
    assert.deepEqual(items[0]!.range, { start: { line: 1, character: 31 }, end: { line: 1, character: 33 } });
    assert.ok(items.every((c) => c.kind === 'module'));
    assert.deepEqual(adapterCompletions('{\n  \n}', 4, inv, false), []); // keys come from the JSON schema in VS Code
    const bias = '{"bias": ""}';
    assert.deepEqual(adapterCompletions(bias, bias.indexOf('""') + 1, inv).map((c) => c.label), ['none', 'all', 'lora_only']);
  });

  it('hovers a field with its PEFT default, and target_modules with what each entry matched', () => {
    const text = '{"lora_dropout": 0.1, "target_modules": ["q_proj", "layers.3.mlp.up_proj", "nope"]}';
    const h = adapterHover(text, 3, inv)!;
    assert.match(h.markdown, /\*\*lora_dropout\*\* `number` — PEFT default `0`/);
    assert.deepEqual(h.range.start, { line: 0, character: 1 });
    const t = adapterHover(text, text.indexOf('target_modules'), inv)!.markdown;
    assert.match(t, /`q_proj` → 28 module\(s\), all 28 layers/);
    assert.match(t, /`layers\.3\.mlp\.up_proj` → 1 module\(s\), 1 of 28 layers \(3\)/);
    assert.match(t, /`nope` → no module/);
  });

  it('completes recipe keys per section and enum values', () => {
    const text = 'base_model: ./m\ntraining:\n  lea\n';
    const ks = recipeCompletions(text, 2, 5);
    assert.ok(ks.some((c) => c.label === 'learning_rate' && c.insertText === 'learning_rate: 2e-4' && c.detail === 'TrainingArguments.learning_rate'));
    assert.ok(!ks.some((c) => c.label === 'base_model'));
    assert.ok(recipeCompletions(text, 0, 0).every((c) => c.label !== 'base_model'));
    assert.deepEqual(recipeCompletions('device: ', 0, 8).map((c) => c.label), ['auto', 'cpu', 'webgpu', 'cuda']);
    assert.match(recipeHover('training:\n  warmup_ratio: 0.1\n', 14)!.markdown, /\*\*training\.warmup_ratio\*\* `number` — default `0`[\s\S]*TrainingArguments\.warmup_ratio/);
  });

  it('summarises the CodeLens: trainable params, percent and memory', async () => {
    const s = await trainSummary('{"peft_type": "LORA", "r": 8, "target_modules": ["q_proj", "v_proj"]}', inv, null, ['cpu']);
    assert.ok(typeof s !== 'string');
    assert.equal(s.trainable, 28 * (8 * (64 + 64) + 8 * (64 + 32)));
    assert.equal(s.total, inv.totalParameters + s.trainable);
    assert.match(lensTitle(s), /^▶ Train · 50K trainable params \(\d\.\d\d%\) · est\. \d+(\.\d)? (MiB|GiB)$/);
    assert.equal(lensTitle(await trainSummary('{"target_modules": ["nope"]}', inv, null, ['cpu'])), '▶ Train');
  });

  it('ships a JSON schema with every saved LoraConfig field and its default', () => {
    const schema = JSON.parse(fs.readFileSync(path.join(__dirname, '../../../schemas/adapter_config.schema.json'), 'utf8')) as { properties: Record<string, { default: unknown }> };
    const saved = LORA_CONFIG_FIELDS.filter((f) => f.saved);
    assert.deepEqual(Object.keys(schema.properties).sort(), saved.map((f) => f.name).sort());
    for (const f of saved) assert.deepEqual(schema.properties[f.name]!.default, f.default, f.name);
  });
});
