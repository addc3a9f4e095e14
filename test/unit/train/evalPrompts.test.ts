// Evaluation during real training runs on the tiny Llama fixture: eval prompts answer exactly what `peft-studio
// generate` answers on the same checkpoint, perplexity, the best checkpoint and early stopping (more in test/slow).
import { strict as assert } from 'node:assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadEvalPrompts, normalizeAnswer, scoreAnswer } from '../../../src/core/train/evalPrompts';
import { parseRecipe } from '../../../src/core/train/recipe';
import type { EvalEvent, EvalGenerationEvent, RunEvent } from '../../../src/shared/protocol';
import { recipe } from './project';
import { EvalProject, tensors } from './evalProject';

const ep = new EvalProject();
const { proj, root } = ep;
const train = ep.train.bind(ep);
const generate = ep.generate.bind(ep);

describe('evaluation during training (eval prompts, perplexity, best checkpoint)', function () {
  this.timeout(180000);
  before(async () => ep.create());
  after(() => ep.remove());

  it('answers the eval prompts with the current adapter exactly as `peft-studio generate` does on that checkpoint; best = lowest eval loss', async () => {
    const prompts = '  eval_prompts:\n    - prompt: "Translate: cat"\n      expected: "zzz"\n    - "The capital of"\n';
    const { events, done } = await train('ep', recipe({
      lr: '5.0e-2', dataset: prompts, top: 'run_name: ep\n',
      training: '  max_steps: 8\n  eval_steps: 4\n  save_steps: 4\n  eval_max_new_tokens: 6\n  load_best_model_at_end: true\n',
    }));
    const evals = events.filter((e): e is EvalEvent => e.event === 'eval');
    assert.deepEqual(evals.map((e) => e.step), [4, 8]);
    for (const e of evals) assert.equal(e.eval_perplexity, Math.exp(e.eval_loss));
    const gens = events.filter((e): e is EvalGenerationEvent => e.event === 'eval_generation');
    assert.deepEqual(gens.map((g) => g.step), [4, 8]);
    assert.ok(gens.some((g) => g.samples.some((s) => s.tokens > 0)), 'some answer has tokens');
    for (const g of gens) {
      assert.equal(g.samples.length, 2);
      assert.equal(g.max_new_tokens, 6);
      assert.equal(g.samples[0]!.expected, 'zzz');
      assert.equal(g.samples[0]!.exact_match, false);
      assert.equal(g.exact_match, 0);
      assert.equal(g.samples[1]!.expected, undefined);
      assert.equal(g.samples[1]!.exact_match, undefined);
      for (const [i, p] of ['Translate: cat', 'The capital of'].entries()) {
        const text = await generate(join(done.run_dir, 'checkpoints', `step-${g.step}`), ['--prompt', p], 6);
        assert.equal(g.samples[i]!.output, text, `step ${g.step} prompt ${i + 1}`);
      }
    }
    // the records go to metrics.jsonl, after the eval record of the same step
    const kinds = readFileSync(join(done.run_dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as RunEvent).event);
    assert.deepEqual(kinds.filter((k) => k === 'eval' || k === 'eval_generation'), ['eval', 'eval_generation', 'eval', 'eval_generation']);
    // best checkpoint as HF: the lower eval loss (strictly), recorded in trainer_state.json and the records
    const bestStep = evals[1]!.eval_loss < evals[0]!.eval_loss ? 8 : 4;
    const bestDir = join(done.run_dir, 'checkpoints', `step-${bestStep}`);
    assert.equal(done.best_model_checkpoint, bestDir);
    assert.equal(done.best_metric, evals[bestStep / 4 - 1]!.eval_loss);
    const state = JSON.parse(readFileSync(join(done.run_dir, 'checkpoints', 'step-8', 'trainer_state.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(state['best_model_checkpoint'], bestDir);
    assert.equal(state['best_global_step'], bestStep);
    assert.equal(state['best_metric'], evals[bestStep / 4 - 1]!.eval_loss);
    assert.deepEqual(tensors(done.adapter_dir), tensors(bestDir));
  });


  it('DoRA + a modules_to_save head: the answers are what `peft-studio generate` gives on the checkpoint (the variant goes through the adapter loader)', async () => {
    writeFileSync(join(proj, 'dora_config.json'), JSON.stringify({ r: 4, lora_alpha: 8, target_modules: ['q_proj', 'v_proj'], use_dora: true, modules_to_save: ['lm_head'], task_type: 'CAUSAL_LM' }));
    const { events, done } = await train('dv', recipe({
      lr: '5.0e-2', dataset: '  eval_prompts:\n    - "The capital of"\n', top: 'run_name: dv\nadapter_config: dora_config.json\n',
      training: '  max_steps: 4\n  eval_steps: 4\n  save_steps: 4\n  eval_max_new_tokens: 5\n',
    }));
    const gens = events.filter((e): e is EvalGenerationEvent => e.event === 'eval_generation');
    assert.deepEqual(gens.map((g) => g.step), [4]);
    const ckpt = join(done.run_dir, 'checkpoints', 'step-4');
    assert.ok([...tensors(ckpt).keys()].some((k) => k.endsWith('.lora_magnitude_vector')), 'the checkpoint holds DoRA magnitudes');
    assert.equal(gens[0]!.samples[0]!.output, await generate(ckpt, ['--prompt', 'The capital of'], 5));
  });

  it('early stopping: a metric that never improves stops after `patience` evaluations; the adapter is the best checkpoint', async () => {
    const { events, done } = await train('es', recipe({
      dataset: '  eval_prompts:\n    - {prompt: "a b", expected: "never-said-zz"}\n', top: 'run_name: es\n',
      training: '  max_steps: 12\n  eval_steps: 2\n  save_steps: 2\n  eval_max_new_tokens: 3\n  load_best_model_at_end: true\n  metric_for_best_model: contains\n  early_stopping_patience: 2\n',
    }));
    // contains is 0 at every evaluation: step 2 sets the best (0 > -inf), steps 4 and 6 do not improve → stop at 6
    assert.deepEqual(events.filter((e) => e.event === 'eval_generation').map((e) => (e as EvalGenerationEvent).step), [2, 4, 6]);
    assert.equal(events.filter((e) => e.event === 'step').length, 6);
    assert.equal(done.early_stopped, true);
    assert.equal(done.stopped, undefined);
    const best = join(done.run_dir, 'checkpoints', 'step-2');
    assert.equal(done.best_model_checkpoint, best);
    assert.equal(done.best_metric, 0);
    const state = JSON.parse(readFileSync(join(done.run_dir, 'checkpoints', 'step-6', 'trainer_state.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(state['stateful_callbacks'], { EarlyStoppingCallback: { args: { early_stopping_patience: 2, early_stopping_threshold: 0 }, attributes: { early_stopping_patience_counter: 2 } } });
    assert.deepEqual(tensors(done.adapter_dir), tensors(best));
    assert.notDeepEqual(tensors(done.adapter_dir), tensors(join(done.run_dir, 'checkpoints', 'step-6')));
  });


  it('reads eval prompts from JSONL (line numbers in errors), scores whitespace-normalised, and refuses bad settings before a run folder', () => {
    const file = join(root, 'prompts.jsonl');
    writeFileSync(file, '{"prompt": "a", "expected": " x  y\\n"}\n\n{"prompt": "b"}\n');
    assert.deepEqual(loadEvalPrompts(file, 'r.yaml'), [{ prompt: 'a', expected: ' x  y\n' }, { prompt: 'b' }]);
    writeFileSync(file, '{"prompt": "a"}\n{"promt": "b"}\n');
    assert.throws(() => loadEvalPrompts(file, 'r.yaml'), (e: Error & { line?: number }) => /eval prompt 2 has the unknown key "promt"/.test(e.message));
    assert.equal(normalizeAnswer('  Paris \n\t is  nice '), 'Paris is nice');
    assert.deepEqual(scoreAnswer(' Paris\n', 'Paris'), { exact_match: true, contains: true });
    assert.deepEqual(scoreAnswer('It is  Paris, France', 'Paris, France'), { exact_match: false, contains: true });
    assert.deepEqual(scoreAnswer('paris', 'Paris'), { exact_match: false, contains: false });
    const yaml = (training: string, dataset = ''): string => recipe({ training, dataset });
    const parse = (t: string): void => void parseRecipe(t, join(proj, 'x.yaml'));
    assert.throws(() => parse(yaml('  eval_steps: 5\n  save_steps: 7\n  load_best_model_at_end: true\n')), /round multiple of the evaluation steps/);
    assert.throws(() => parse(yaml('  early_stopping_patience: 2\n')), /requires training.load_best_model_at_end/);
    assert.throws(() => parse(yaml('  metric_for_best_model: exact_match\n', '  eval_prompts: ["a"]\n')), /give eval_prompts with "expected"/);
    assert.throws(() => parse(yaml('  metric_for_best_model: accuracy\n')), /must be one of loss, eval_loss/);
    assert.throws(() => parse(yaml('', '  eval_prompts: [{prompt: "a", expected: 3}]\n')), /"expected" must be a string/);
    const ok = parseRecipe(yaml('  eval_steps: 5\n  save_steps: 10\n  load_best_model_at_end: true\n', '  eval_prompts: prompts.jsonl\n'), join(root, 'x.yaml'));
    assert.equal(ok.dataset.eval_prompts, file);
    assert.equal(ok.training.eval_max_new_tokens, 64);
    assert.equal(ok.training.metric_for_best_model, null);
  });
});
