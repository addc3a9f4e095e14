// The recipe key `quantization: {bits, block_size}`: parsed with defaults, null = full precision, and bad values
// refused by the parser (InputError naming the key) and reported by the editor's validator on the value.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../../../src/core/errors';
import { loadModel } from '../../../src/core/hf/loadModel';
import { parseRecipe } from '../../../src/core/train/recipe';
import { validate } from '../../../src/core/validate';
import { gpt2ConfigModel, llamaConfigModel, tempDir } from '../validate/helpers';

const FILE = '/proj/peft-train.yaml';
const base = 'base_model: ./model\nadapter_config: ./adapter_config.json\ndataset:\n  train: data/train.jsonl\n';

describe('recipe quantization key', () => {
  it('parses {bits, block_size}, fills the defaults, and absent or null means full precision', () => {
    assert.equal(parseRecipe(base, FILE).quantization, null);
    assert.equal(parseRecipe(base + 'quantization: null\n', FILE).quantization, null);
    assert.deepEqual(parseRecipe(base + 'quantization:\n  bits: 4\n  block_size: 64\n', FILE).quantization, { bits: 4, block_size: 64 });
    assert.deepEqual(parseRecipe(base + 'quantization: {}\n', FILE).quantization, { bits: 4, block_size: 32 });
  });

  for (const [yaml, re] of [
    ['quantization:\n  bits: 8\n', /"quantization.bits" must be 4, got 8/],
    ['quantization:\n  block_size: 48\n', /"quantization.block_size" must be one of 16, 32, 64, 128, got 48/],
    ['quantization:\n  block_size: 256\n', /"quantization.block_size" must be one of 16, 32, 64, 128, got 256/],
    ['quantization:\n  block_size: "32"\n', /"quantization.block_size" must be a number/],
    ['quantization:\n  group_size: 32\n', /group_size/],
    ['quantization: 4\n', /"quantization" must be a mapping/],
  ] as const) {
    it(`refuses ${JSON.stringify(yaml.trim())}`, () => {
      assert.throws(() => parseRecipe(base + yaml, FILE), (e: unknown) => e instanceof InputError && re.test(e.message));
    });
  }

  describe('validator', () => {
    let dir: string;
    before(() => {
      dir = tempDir();
      llamaConfigModel(dir, 2);
      gpt2ConfigModel(dir);
      fs.mkdirSync(path.join(dir, 'data'));
      fs.writeFileSync(path.join(dir, 'data', 'train.jsonl'), '{"text": "a"}\n');
      fs.writeFileSync(path.join(dir, 'adapter_config.json'), '{}');
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const problems = (text: string): { code: string; message: string; line: number }[] =>
      validate(text, { path: path.join(dir, 'peft-train.yaml'), loadModel, availableDevices: ['cpu'] })
        .filter((p) => p.code !== 'base-model-incomplete')
        .map((p) => ({ code: p.code, message: p.message, line: p.range.start.line }));

    it('accepts a valid setting and reports bad values on their line', () => {
      assert.deepEqual(problems(base + 'quantization:\n  bits: 4\n  block_size: 128\n'), []);
      const bad = problems(base + 'quantization:\n  bits: 3\n  block_size: 100\n');
      assert.deepEqual(bad.map((p) => [p.code, p.line]), [['bad-value', 5], ['bad-value', 6]]);
      assert.match(bad[1]!.message, /one of 16, 32, 64, 128/);
    });

    it('refuses a 4-bit base for a model without decoder Linear layers (GPT-2)', () => {
      const p = problems(base.replace('./model', './gpt2') + 'quantization: {bits: 4}\n');
      assert.deepEqual(p.map((x) => [x.code, x.line]), [['quant-unsupported-model', 4]]);
    });
  });
});
