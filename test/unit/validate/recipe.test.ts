// peft-train.yaml diagnostics: unknown keys (did-you-mean + fix), types/ranges, paths, base model, device,
// max_length vs the model, warmup vs the run length — on real files in a temp dir.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeFixture } from '../../../src/core/fixtures/makeFixture';
import { loadModel } from '../../../src/core/hf/loadModel';
import { applyEdits, summarizeRecipe, validate, type Problem } from '../../../src/core/validate';
import { checkRecipeValue, recipeDefaults, recipeField, recipeKeys } from '../../../src/core/train/recipeSchema';
import { at, byCode, gpt2ConfigModel, llamaConfigModel, one, tempDir } from './helpers';

describe('validate peft-train.yaml', () => {
  let dir: string;
  const run = (text: string, extra = {}): Problem[] => validate(text, { path: path.join(dir, 'peft-train.yaml'), loadModel, availableDevices: ['cpu', 'webgpu'], ...extra });
  const ok = 'base_model: ./model\nadapter_config: ./adapter_config.json\ndataset:\n  train: data/train.jsonl\n';

  before(() => {
    dir = tempDir();
    llamaConfigModel(dir, 4);
    gpt2ConfigModel(dir);
    fs.mkdirSync(path.join(dir, 'data'));
    fs.writeFileSync(path.join(dir, 'data', 'train.jsonl'), Array.from({ length: 40 }, (_, i) => JSON.stringify({ text: `example ${i}` })).join('\n') + '\n');
    fs.writeFileSync(path.join(dir, 'adapter_config.json'), '{}');
  });

  it('accepts a complete recipe', () => {
    // The model here is config-only on purpose (fast): the one remark is that train would need its weights.
    assert.deepEqual(run(ok + 'training:\n  learning_rate: 2.0e-4\n  max_steps: 10\ndevice: cpu\n').map((p) => [p.code, p.severity]), [['base-model-incomplete', 'warning']]);
  });

  it('warns that a config-only base model can be validated and counted but not trained, and is quiet for a full one', async () => {
    const p = one(run(ok), 'base-model-incomplete');
    assert.deepEqual([p.severity, ...at(p)], ['warning', 0, 12, 0, 19]); // 0-based: the value of base_model on line 1
    assert.match(p.message, /no \.safetensors weights and no tokenizer\.json/);
    await makeFixture({ arch: 'llama', outDir: path.join(dir, 'full'), seed: 0 });
    assert.deepEqual(run(ok.replace('./model', './full')).filter((x) => x.code === 'base-model-incomplete'), []);
    fs.rmSync(path.join(dir, 'full', 'tokenizer.json'));
    assert.match(one(run(ok.replace('./model', './full')), 'base-model-incomplete').message, /has no tokenizer\.json:/);
  });

  it('reports unknown keys as errors (train refuses them) with did-you-mean, and the fix renames them', () => {
    const text = ok + 'training:\n  learnign_rate: 1e-4\n';
    const p = one(run(text), 'unknown-key');
    assert.equal(p.severity, 'error');
    assert.deepEqual(at(p), [5, 2, 5, 15]);
    assert.match(p.message, /Did you mean "learning_rate"\?/);
    assert.equal(applyEdits(text, p.fix!.edits), ok + 'training:\n  learning_rate: 1e-4\n');
  });

  it('says where a key belongs when it is in the wrong section', () => {
    const p = one(run(ok + 'max_length: 128\n'), 'unknown-key');
    assert.match(p.message, /dataset\.max_length/);
  });

  it('checks types, ranges and enums at the value', () => {
    const text = ok + 'training:\n  per_device_train_batch_size: 0\n  learning_rate: fast\n  lr_scheduler_type: cosin\n';
    const ps = byCode(run(text), 'bad-value');
    assert.equal(ps.length, 3);
    assert.deepEqual(at(ps[0]!), [5, 31, 5, 32]);
    assert.match(ps[0]!.message, />= 1/);
    assert.match(ps[1]!.message, /must be a number/);
    assert.equal(applyEdits(text, ps[2]!.fix!.edits).endsWith('lr_scheduler_type: cosine\n'), true);
  });

  it('reports YAML syntax errors and missing required keys', () => {
    assert.equal(byCode(run('base_model: [\n'), 'yaml-syntax')[0]!.severity, 'error');
    const ps = run('adapter_config: ./adapter_config.json\n');
    assert.deepEqual(byCode(ps, 'missing-key').map((p) => p.message.split('"')[1]), ['base_model', 'dataset.train']);
  });

  it('reports missing paths and a base_model that is neither a folder nor a hub id', () => {
    const ps = run('base_model: ./nope/model\nadapter_config: ./missing.json\ndataset:\n  train: data/none.jsonl\n');
    assert.equal(one(ps, 'base-model-not-found').severity, 'error');
    assert.deepEqual(byCode(ps, 'path-not-found').map((p) => p.range.start.line), [1, 3]);
    const hub = run('base_model: Qwen/Qwen2.5-0.5B\ndataset:\n  train: data/train.jsonl\n');
    assert.equal(one(hub, 'base-model-hub').severity, 'info');
  });

  it('a missing file with a near match beside it says so, and the fix writes the match (folder part kept, quotes kept)', () => {
    const text = ok.replace('data/train.jsonl', 'data/trian.jsonl');
    const p = one(run(text), 'path-not-found');
    assert.equal(p.message, 'File not found: data/trian.jsonl. Did you mean data/train.jsonl?');
    assert.equal(p.fix!.title, 'Change to data/train.jsonl');
    assert.equal(applyEdits(text, p.fix!.edits), ok);
    const quoted = ok.replace('data/train.jsonl', '"data/trian.jsonl"');
    assert.equal(applyEdits(quoted, one(run(quoted), 'path-not-found').fix!.edits), ok.replace('data/train.jsonl', '"data/train.jsonl"'));
    // a folder is not offered for a file
    const cfg = ok.replace('./adapter_config.json', './dat');
    assert.equal(one(run(cfg), 'path-not-found').fix, undefined);
  });

  it('a number or boolean written as a string gets a fix that unquotes it', () => {
    const text = ok + 'training:\n  learning_rate: "2e-4"\n  max_steps: "10"\n';
    const ps = byCode(run(text), 'bad-value');
    assert.deepEqual(ps.map((p) => p.fix?.title), ['Change to 0.0002', 'Change to 10']);
    assert.equal(applyEdits(text, [...ps[0]!.fix!.edits]).includes('  learning_rate: 0.0002\n'), true);
    assert.equal(applyEdits(text, [...ps[1]!.fix!.edits]).includes('  max_steps: 10\n'), true);
    const b = one(run(ok.replace('train: data/train.jsonl', 'train: data/train.jsonl\n  packing: "false"')), 'bad-value');
    assert.equal(b.fix!.title, 'Change to false');
    // a string that is not a valid value as a number gets none
    assert.equal(one(run(ok + 'training:\n  max_steps: "1.5"\n'), 'bad-value').fix, undefined);
  });

  it('reports a device that is not available here', () => {
    const p = one(run(ok + 'device: cuda\n'), 'device-unavailable');
    assert.equal(p.severity, 'error');
    assert.deepEqual(at(p), [4, 8, 4, 12]);
  });

  it('compares max_length with max_position_embeddings (a warning, as the trainer only refuses longer examples)', () => {
    const llamaLong = 'base_model: ./model\ndataset:\n  train: data/train.jsonl\n  max_length: 1024\n';
    assert.equal(one(run(llamaLong), 'max-length-too-long').severity, 'warning');
    const g = one(run('base_model: ./gpt2\ndataset:\n  train: data/train.jsonl\n  max_length: 512\n'), 'max-length-too-long');
    assert.equal(g.severity, 'warning');
    assert.match(g.message, /max_position_embeddings \(128\): GPT-2 .* longer than 128 tokens/);
  });

  it('warns when warmup is longer than the run (from max_steps or the data size)', () => {
    assert.match(one(run(ok + 'training:\n  max_steps: 10\n  warmup_steps: 10\n'), 'warmup-too-long').message, /10 steps/);
    // 40 examples, batch 4, accumulation 2 → 5 steps per epoch, 2 epochs → 10 steps
    const p = one(run(ok + 'training:\n  num_train_epochs: 2\n  gradient_accumulation_steps: 2\n  warmup_steps: 12\n'), 'warmup-too-long');
    assert.match(p.message, /10 steps: 40 examples/);
    assert.deepEqual(run(ok + 'training:\n  warmup_steps: 5\n  num_train_epochs: 2\n').filter((x) => x.code !== 'base-model-incomplete'), []);
  });

  it('checks the declared data format against the first example, and init_adapter', () => {
    const text = ok.replace('dataset:\n', 'dataset:\n  format: alpaca\n');
    const p = one(run(text), 'dataset-format-mismatch');
    assert.deepEqual([p.severity, ...at(p)], ['error', 3, 10, 3, 16]);
    assert.equal(applyEdits(text, p.fix!.edits).includes('format: text'), true);
    fs.mkdirSync(path.join(dir, 'old-adapter'), { recursive: true });
    assert.equal(one(run(ok + 'init_adapter: ./old-adapter\n'), 'init-adapter-invalid').range.start.line, 4);
  });

  it('summarizes the recipe for its neighbours', () => {
    const s = summarizeRecipe(ok, path.join(dir, 'peft-train.yaml'))!;
    assert.equal(s.baseModelDir, path.join(dir, 'model'));
    assert.equal(s.adapterConfig, path.join(dir, 'adapter_config.json'));
    assert.deepEqual(s.datasets, [path.join(dir, 'data', 'train.jsonl')]);
  });

  it('knows the evaluation keys: eval_prompts (list or JSONL file), best checkpoint and early stopping rules as train', () => {
    const base = ok + 'training:\n  max_steps: 10\n';
    const codes = (t: string): string[] => run(t).filter((p) => p.code !== 'base-model-incomplete').map((p) => p.code);
    assert.deepEqual(codes(ok + '  eval_prompts:\n    - "What is 2+2?"\n    - {prompt: "Capital of France?", expected: "Paris"}\ntraining:\n  eval_max_new_tokens: 32\n'), []);
    assert.match(one(run(ok + '  eval_prompts: [{prompt: "a", answer: "b"}]\n'), 'bad-value').message, /item 1 has the unknown key "answer"/);
    assert.match(one(run(ok + '  eval_prompts: 3\n'), 'bad-value').message, /must be a JSONL file or a list of prompts/);
    const missing = one(run(ok + '  eval_prompts: data/prompts.jsonl\n'), 'path-not-found');
    assert.deepEqual(at(missing).slice(0, 2), [4, 16]);
    fs.writeFileSync(path.join(dir, 'data', 'prompts.jsonl'), '{"prompt": "a"}\n');
    assert.deepEqual(codes(ok + '  eval_prompts: data/prompts.jsonl\ntraining:\n  eval_steps: 5\n'), []); // eval prompts: eval_steps is not idle
    // the prompts file is checked as eval prompts (not as a data set) once its recipe is known, as the CLI and editor find it
    const summary = summarizeRecipe(ok + '  eval_prompts: data/prompts.jsonl\n', path.join(dir, 'peft-train.yaml'))!;
    assert.equal(summary.evalPromptsFile, path.join(dir, 'data', 'prompts.jsonl'));
    const ps = validate('{"prompt": "a", "expected": "b"}\n{"promt": "b"}\nnot json\n', { path: summary.evalPromptsFile!, recipe: summary });
    assert.deepEqual(ps.map((p) => [p.code, p.range.start.line]), [['eval-prompt', 1], ['eval-prompt', 2]]);
    assert.match(ps[0]!.message, /unknown key "promt"/);
    const withEval = base.replace('dataset:\n', 'dataset:\n  eval: data/train.jsonl\n');
    const notMultiple = one(run(withEval + '  eval_steps: 4\n  save_steps: 6\n  load_best_model_at_end: true\n'), 'best-model-settings');
    assert.match(notMultiple.message, /round multiple of the evaluation steps, but training.save_steps is 6 and training.eval_steps is 4/);
    assert.deepEqual(at(notMultiple).slice(0, 2), [8, 14]); // on save_steps' value
    assert.equal(one(run(base + '  early_stopping_patience: 3\n'), 'best-model-settings').severity, 'error');
    assert.match(one(run(base + '  metric_for_best_model: exact_match\n'), 'best-model-settings').message, /give eval_prompts with "expected"/);
    assert.match(one(run(base + '  metric_for_best_model: accuracy\n'), 'bad-value').message, /must be one of loss, eval_loss, perplexity/);
    assert.match(one(run(withEval + '  eval_steps: 5\n  save_steps: 10\n  load_best_model_at_end: true\n  early_stopping_patience: 2\n  early_stopping_threshold: -1\n'), 'bad-value').message, /early_stopping_threshold" must be >= 0/);
    assert.deepEqual(codes(withEval + '  eval_steps: 5\n  save_steps: 10\n  load_best_model_at_end: true\n  early_stopping_patience: 2\n  greater_is_better: false\n'), []);
  });
  it('never throws on hostile input', () => {
    for (const t of ['', '- a\n- b', 'a: [', ':::', 'training: 5', 'dataset:\n  train: [1, 2]', '!!binary x', '&a [*a]', 'base_model: *x']) assert.ok(Array.isArray(run(t)));
  });
});

describe('recipe schema', () => {
  it('describes every key of CONTRACTS.md §1 with defaults', () => {
    const d = recipeDefaults() as { training: Record<string, unknown>; dataset: Record<string, unknown> };
    assert.equal(d.training['learning_rate'], 2e-4);
    assert.equal(d.dataset['max_length'], 512);
    assert.deepEqual(recipeKeys('dataset'), ['train', 'eval', 'format', 'max_length', 'packing', 'shuffle', 'train_on_prompt', 'eval_prompts', 'lint']);
    assert.deepEqual(recipeKeys('dataset.lint'), ['secret', 'pii', 'duplicate', 'near_duplicate', 'leakage', 'backdoor', 'injection']);
    assert.deepEqual((d.dataset['lint'] as Record<string, unknown>)['secret'], 'error');
    assert.equal(recipeField('training.adam_beta2')!.hf, 'adam_beta2');
  });

  it('checks values', () => {
    assert.equal(checkRecipeValue(recipeField('training.max_steps')!, -2), '"training.max_steps" must be -1 or a positive number of steps, got -2');
    assert.equal(checkRecipeValue(recipeField('training.max_steps')!, 100), null);
    assert.equal(checkRecipeValue(recipeField('training.adam_beta1')!, 1), '"training.adam_beta1" must be >= 0 and < 1, got 1');
    assert.equal(checkRecipeValue(recipeField('dataset.eval')!, null), null);
    assert.equal(checkRecipeValue(recipeField('device')!, 'gpu'), '"device" must be one of auto, cpu, webgpu, cuda, got "gpu"');
  });
});
