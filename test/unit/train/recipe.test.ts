import { strict as assert } from 'node:assert';
import { parseRecipe } from '../../../src/core/train/recipe';
import { InputError } from '../../../src/core/errors';

const FILE = '/proj/peft-train.yaml';
const base = `base_model: ./models/tiny
dataset:
  train: data/train.jsonl
`;

function fails(text: string, re: RegExp, line?: number): void {
  assert.throws(
    () => parseRecipe(text, FILE),
    (e: unknown) => {
      assert.ok(e instanceof InputError, String(e));
      assert.match(e.message, re);
      if (line !== undefined) assert.equal(e.context.line, line, e.message);
      return true;
    },
  );
}

describe('recipe (peft-train.yaml)', () => {
  it('fills defaults with HF TrainingArguments names and resolves paths against the YAML folder', () => {
    const r = parseRecipe(base, FILE);
    assert.equal(r.base_model, '/proj/models/tiny');
    assert.equal(r.adapter_config, '/proj/adapter_config.json');
    assert.equal(r.dataset.train, '/proj/data/train.jsonl');
    assert.equal(r.dataset.eval, null);
    assert.equal(r.dataset.format, 'auto');
    assert.equal(r.dataset.max_length, 512);
    assert.equal(r.dataset.shuffle, true);
    assert.equal(r.training.learning_rate, 2e-4);
    assert.equal(r.training.per_device_train_batch_size, 4);
    assert.equal(r.training.lr_scheduler_type, 'linear');
    assert.equal(r.training.max_grad_norm, 1);
    assert.equal(r.training.seed, 42);
    assert.equal(r.output_dir, '/proj/runs');
    assert.equal(r.run_name, null);
    assert.equal(r.device, 'auto');
  });

  it('keeps a hub id as written and reads every section', () => {
    const r = parseRecipe(
      `base_model: HuggingFaceTB/SmolLM2-135M
adapter_config: cfg/a.json
init_adapter: ../old
dataset:
  train: /abs/t.jsonl
  eval: e.jsonl
  format: messages
  packing: true
training:
  max_steps: 10
  learning_rate: 1.0e-3
  warmup_ratio: 0.1
  lr_scheduler_type: cosine
output_dir: out
run_name: first
device: cpu
`,
      FILE,
    );
    assert.equal(r.base_model, 'HuggingFaceTB/SmolLM2-135M');
    assert.equal(r.adapter_config, '/proj/cfg/a.json');
    assert.equal(r.init_adapter, '/old');
    assert.equal(r.dataset.train, '/abs/t.jsonl');
    assert.equal(r.dataset.eval, '/proj/e.jsonl');
    assert.equal(r.dataset.packing, true);
    assert.equal(r.training.max_steps, 10);
    assert.equal(r.training.learning_rate, 1e-3);
    assert.equal(r.training.lr_scheduler_type, 'cosine');
    assert.equal(r.output_dir, '/proj/out');
    assert.equal(r.run_name, 'first');
    assert.equal(r.device, 'cpu');
  });

  it('unknown keys name the line and suggest the closest key', () => {
    fails(base + 'training:\n  learnig_rate: 1\n', /unknown key "training.learnig_rate"\. Did you mean "learning_rate"\?/, 5);
    fails(base + 'outptu_dir: x\n', /unknown key "outptu_dir"\. Did you mean "output_dir"\?/, 4);
    // a key in the wrong section says where it belongs
    fails(base + 'learning_rate: 0.1\n', /unknown key "learning_rate"\. "learning_rate" belongs at "training.learning_rate"/, 4);
  });

  it('wrong types and ranges name the key path and the line of the value', () => {
    fails(base + 'training:\n  learning_rate: fast\n', /"training.learning_rate" must be a number, got "fast"/, 5);
    fails(base + 'training:\n  per_device_train_batch_size: 0\n', /"training.per_device_train_batch_size" must be >= 1, got 0/, 5);
    fails(base + 'training:\n  seed: 1.5\n', /"training.seed" must be an integer/, 5);
    fails(base + 'training:\n  lr_scheduler_type: cosine_with_restarts\n', /"training.lr_scheduler_type" must be one of constant, constant_with_warmup, linear, cosine/, 5);
    fails(base.replace('  train: data/train.jsonl\n', '  train: data/train.jsonl\n  shuffle: "yes"\n'), /"dataset.shuffle" must be true or false/, 4);
    fails('base_model: m\ndataset: [1]\n', /"dataset" must be a mapping/, 2);
  });

  it('missing required keys and invalid YAML are errors', () => {
    fails('base_model: m\n', /"dataset.train" is required/);
    fails('dataset:\n  train: t.jsonl\n', /"base_model" is required/);
    fails(base + 'training:\n  seed: 1\n  seed: 2\n', /invalid YAML/, 6);
    fails('- a\n- b\n', /must be a mapping/, 1);
  });
});
