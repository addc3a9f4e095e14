// The LoraConfig rules exist once (src/core/peft/loraRules.ts): the trainer's parser, the editor's validator and
// the checked-in JSON schema must agree on every case below, and the schema file must be the generated one.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../../../src/core/errors';
import { parseLoraConfig, type LoraConfigWarning } from '../../../src/core/peft/loraConfig';
import { adapterConfigSchemaText } from '../../../src/core/peft/loraSchema';
import { validate } from '../../../src/core/validate';

const SCHEMA_FILE = path.join(__dirname, '../../../schemas/adapter_config.schema.json');

/** What the trainer's parser says: 'error' (throws) or its warnings' count. */
function parserVerdict(cfg: object): { error: boolean; warnings: LoraConfigWarning[] } {
  const warnings: LoraConfigWarning[] = [];
  try {
    parseLoraConfig(cfg, undefined, { warnings });
    return { error: false, warnings };
  } catch (e) {
    assert.ok(e instanceof InputError, String(e));
    return { error: true, warnings };
  }
}

function validatorVerdict(cfg: object): { error: boolean; warnings: string[] } {
  const ps = validate(JSON.stringify({ peft_type: 'LORA', ...cfg }), { path: '/tmp/x/adapter_config.json', model: null });
  return { error: ps.some((p) => p.severity === 'error'), warnings: ps.filter((p) => p.severity === 'warning').map((p) => p.message) };
}

describe('LoraConfig rules: one source for parser, validator and schema', () => {
  it('the checked-in schema is the generated one (run `npm run gen:schema` after changing the rules)', () => {
    assert.equal(fs.readFileSync(SCHEMA_FILE, 'utf8'), adapterConfigSchemaText());
  });

  const cases: [string, object, boolean][] = [
    ['lora_dropout 1.0 (allowed by torch, warned)', { lora_dropout: 1.0 }, false],
    ['lora_dropout 1.5', { lora_dropout: 1.5 }, true],
    ['lora_dropout -0.1', { lora_dropout: -0.1 }, true],
    ['r 0', { r: 0 }, true],
    ['rank_pattern rank 0', { rank_pattern: { q_proj: 0 } }, true],
    ['init_lora_weights lora_ga with its config', { init_lora_weights: 'lora_ga', lora_ga_config: { direction: 'ArB2r' } }, false],
    ['init_lora_weights lora_ga without config', { init_lora_weights: 'lora_ga' }, true],
    ['init_lora_weights pissa_niter_4', { init_lora_weights: 'pissa_niter_4' }, false],
    ['init_lora_weights Gaussian (PEFT lower-cases it)', { init_lora_weights: 'Gaussian' }, false],
    ['init_lora_weights kaiming', { init_lora_weights: 'kaiming' }, true],
    ['bias lora-only', { bias: 'lora-only' }, true],
    ['task_type CAUSAL', { task_type: 'CAUSAL' }, true],
    ['layers_to_transform -1', { target_modules: ['q_proj'], layers_to_transform: [-1] }, true],
    ['qalora_group_size 0', { qalora_group_size: 0 }, true],
    ['layers_pattern without layers', { layers_pattern: 'layers' }, true],
    ['regex target with layers', { target_modules: '.*q_proj', layers_to_transform: [0] }, true],
    ['loftq without config', { init_lora_weights: 'loftq' }, true],
    ['lora_bias with DoRA', { lora_bias: true, use_dora: true }, true],
    ['DoRA with megatron', { use_dora: true, megatron_config: { a: 1 } }, true],
  ];
  for (const [name, cfg, isError] of cases) {
    it(`parser and validator agree: ${name} → ${isError ? 'error' : 'accepted'}`, () => {
      assert.equal(parserVerdict(cfg).error, isError, 'parser');
      assert.equal(validatorVerdict(cfg).error, isError, 'validator');
    });
  }

  it('the schema accepts and rejects the same values for the single-field cases', () => {
    const props = (JSON.parse(fs.readFileSync(SCHEMA_FILE, 'utf8')) as { properties: Record<string, Record<string, unknown>> }).properties;
    assert.deepEqual([props['lora_dropout']!['minimum'], props['lora_dropout']!['maximum']], [0, 1]);
    assert.equal(props['r']!['minimum'], 1);
    const init = props['init_lora_weights']!['anyOf'] as { enum?: string[]; pattern?: string }[];
    const accepts = (s: string): boolean => init.some((a) => a.enum?.includes(s) === true || (a.pattern !== undefined && new RegExp(a.pattern).test(s)));
    assert.deepEqual(['lora_ga', 'pissa_niter_4', 'Gaussian', 'kaiming'].map(accepts), [true, true, true, false]);
  });

  it('lora_dropout 1.0 is a warning in both paths', () => {
    assert.equal(parserVerdict({ lora_dropout: 1.0 }).warnings.length, 1);
    assert.deepEqual(validatorVerdict({ lora_dropout: 1.0 }).warnings.length, 1);
  });

  it('eva_config and corda_config without their init warn once, in both paths', () => {
    const cfg = { eva_config: { rho: 2 }, corda_config: { corda_method: 'ipm' } };
    const p = parserVerdict(cfg).warnings;
    const v = validatorVerdict(cfg).warnings;
    assert.equal(p.length, 1);
    assert.equal(v.length, 1);
    assert.equal(p[0]!.message, v[0]);
    assert.match(v[0]!, /`eva_config` and `corda_config`/);
  });

  it('an ignored loftq_config is reset to {} by the parser, as PEFT does, and warned in both paths', () => {
    const warnings: LoraConfigWarning[] = [];
    assert.deepEqual(parseLoraConfig({ loftq_config: { loftq_bits: 4 } }, undefined, { warnings }).loftq_config, {});
    assert.deepEqual(warnings.map((w) => w.key), ['loftq_config']);
    assert.equal(validatorVerdict({ loftq_config: { loftq_bits: 4 } }).warnings.length, 1);
  });
});
