// The error-code vocabulary: one kebab-case style, every code in exactly one area list.
// (The compiler checks that every thrown code is in the union; this checks the lists themselves.)
import { strict as assert } from 'node:assert';
import * as codes from '../../src/core/errorCodes';
import { InputError } from '../../src/core/errors';

const KEBAB = /^[a-z0-9]+(-[a-z0-9]+)*$/;
const lists: [string, readonly string[]][] = Object.entries(codes).flatMap(([name, v]) => (Array.isArray(v) ? [[name, v as readonly string[]] as [string, readonly string[]]] : []));

describe('error codes', () => {
  it('are kebab-case, in every area list and in the LoraConfig rule codes', () => {
    assert.ok(lists.length >= 10, `${lists.length} lists`);
    for (const [name, list] of lists) {
      assert.ok(list.length > 0, name);
      for (const c of list) assert.match(c, KEBAB, `${name}: "${c}"`);
    }
  });

  it('appear in one list only, and lora-config-<rule> does not repeat a listed code', () => {
    const seen = new Map<string, string>();
    for (const [name, list] of lists) {
      if (name === 'LORA_RULE_CODES') continue;
      for (const c of list) {
        assert.equal(seen.get(c), undefined, `"${c}" is in ${seen.get(c)} and ${name}`);
        seen.set(c, name);
      }
    }
    for (const r of codes.LORA_RULE_CODES) assert.equal(seen.get(`lora-config-${r}`), undefined, `lora-config-${r}`);
    assert.ok(seen.size > 150, `${seen.size} codes`);
  });

  it('travel on the error unchanged', () => {
    const e = new InputError('generate-no-weights', 'no weights', { file: 'm' });
    assert.equal(e.code, 'generate-no-weights');
    assert.equal(e.message, 'm: no weights');
  });
});
