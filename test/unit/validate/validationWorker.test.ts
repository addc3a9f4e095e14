// The editor's validation off the host's thread: a job through the worker process gives exactly the problems of the
// in-process validate(); a recipe whose chat template loops is abandoned at the time budget with a "gave up" problem
// while this thread keeps running; a newer job for a document replaces the older one.
import { strict as assert } from 'node:assert';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { makeProject, recipe } from '../train/project';
import { validate, type Problem } from '../../../src/core/validate';
import { InventoryCache, findRecipeFor } from '../../../src/core/validate/context';
import { JobRunner, type ValidationJob } from '../../../src/core/validate/job';
import { ValidationWorkers } from '../../../src/core/validate/workerClient';
import { tempDir } from './helpers';

const WORKER = path.resolve(__dirname, '../../../src/worker/validateWorker.ts');
/** A template whose every step builds a 100,000-item list: each render runs to the template's own 5 s limit. */
const SLOW_TEMPLATE = '{% for i in range(100000) %}{% set n = range(100000) | length %}{% endfor %}';

describe('validation worker process', function () {
  this.timeout(120_000);
  let root: string;
  let proj: string;
  let workers: ValidationWorkers;
  let limitMs = 60_000;
  before(async () => {
    root = tempDir('peft-vworker-');
    proj = path.join(root, 'proj');
    await makeProject(proj);
    writeFileSync(path.join(proj, 'peft-train.yaml'), recipe({ top: 'adapter_config: adapter_config.json\n' }).replace('learning_rate:', 'learnig_rate:'));
    writeFileSync(path.join(proj, 'adapter_config.json'), JSON.stringify({ r: 4, lora_alpah: 8, target_modules: ['q_projj', 'v_proj'], rank_pattern: { '(.*.*)*X': 2 } }, null, 2));
    workers = new ValidationWorkers({ workerPath: WORKER, execArgv: ['-r', 'tsx/cjs'], timeLimitMs: () => limitMs });
  });
  after(() => {
    workers.dispose();
    rmSync(root, { recursive: true, force: true });
  });

  const job = (file: string, kind: ValidationJob['kind']): ValidationJob => {
    const abs = path.join(proj, file);
    return { text: readFileSync(abs, 'utf8'), path: abs, kind, recipe: kind === 'recipe' ? null : findRecipeFor(abs) };
  };

  it('gives the same problems as validate() for an adapter config, a recipe and a data set', async () => {
    const cache = new InventoryCache();
    for (const [file, kind] of [['adapter_config.json', 'adapter_config'], ['peft-train.yaml', 'recipe']] as const) {
      const j = job(file, kind);
      const direct = validate(j.text, { path: j.path, kind, recipe: j.recipe, loadModel: (d) => cache.get(d) });
      const viaWorker = await workers.run(file, j);
      assert.deepEqual(viaWorker, direct, file);
      assert.ok(direct.some((p) => p.severity === 'error' || p.severity === 'warning'), `${file}: the planted mistakes are reported`);
      if (kind === 'adapter_config') assert.ok(direct.some((p) => p.fix !== undefined), 'quick fixes survive the thread boundary');
    }
    const data = job('data/prompt_completion/train.jsonl', 'dataset');
    const lines = data.text.split('\n');
    lines[2] = '{"prompt": "x" "completion": 4';
    data.text = lines.join('\n');
    const viaWorker = (await workers.run('data', data)) ?? [];
    assert.deepEqual(viaWorker, await new JobRunner().run(data));
    assert.ok(viaWorker.some((p) => p.severity === 'error' && p.range.start.line === 2), JSON.stringify(viaWorker));
  });

  it('a recipe whose chat template fails reports it on the base_model line', async () => {
    const cfg = path.join(proj, 'model', 'tokenizer_config.json');
    const original = readFileSync(cfg, 'utf8');
    try {
      writeFileSync(cfg, JSON.stringify({ ...(JSON.parse(original) as object), chat_template: '{{ raise_exception("no system role") }}' }));
      workers.invalidate(cfg);
      const ps = (await workers.run('recipe', job('peft-train.yaml', 'recipe'))) ?? [];
      const p = ps.find((x) => x.code === 'chat-template');
      assert.ok(p !== undefined, JSON.stringify(ps));
      assert.equal(p.severity, 'error');
      assert.equal(p.range.start.line, 0, 'base_model: is the first line of the recipe');
      assert.match(p.message, /tokenizer_config\.json.*no system role/);
    } finally {
      writeFileSync(cfg, original);
      workers.invalidate(cfg);
    }
  });

  it('a looping chat template is abandoned at the time budget with a diagnostic, and this thread keeps running', async () => {
    const cfg = path.join(proj, 'model', 'tokenizer_config.json');
    const original = readFileSync(cfg, 'utf8');
    limitMs = 1500;
    let ticks = 0;
    const timer = setInterval(() => ticks++, 20);
    try {
      writeFileSync(cfg, JSON.stringify({ ...(JSON.parse(original) as object), chat_template: SLOW_TEMPLATE }));
      workers.invalidate(cfg);
      const ps = (await workers.run('recipe', job('peft-train.yaml', 'recipe'))) ?? [];
      const gaveUp = ps.filter((p) => p.code === 'validation-gave-up');
      assert.equal(gaveUp.length, 1, JSON.stringify(ps));
      assert.equal(gaveUp[0]!.severity, 'warning');
      assert.match(gaveUp[0]!.message, /^Validation gave up after 1\.5 s: checking peft-train\.yaml, its base model and its tokenizer's chat template took too long/);
      // the budget is 1.5 s of a render that takes 5 s; a thread blocked for it would have ticked once at most
      assert.ok(ticks >= 10, `the interval ticked ${ticks} times while the worker ran`);
    } finally {
      clearInterval(timer);
      limitMs = 60_000;
      writeFileSync(cfg, original);
      workers.invalidate(cfg);
    }
    // the next job runs on a fresh worker
    const again = (await workers.run('adapter', job('adapter_config.json', 'adapter_config'))) ?? [];
    assert.ok(again.some((p) => p.code !== 'validation-gave-up'), JSON.stringify(again));
  });

  it('a worker that runs out of its heap ends the job with a diagnostic, not the host', async () => {
    const small = new ValidationWorkers({ workerPath: WORKER, execArgv: ['-r', 'tsx/cjs'], timeLimitMs: () => 60_000, maxHeapMb: 16 });
    try {
      const data = job('data/prompt_completion/train.jsonl', 'dataset');
      const line = JSON.stringify({ prompt: 'p'.repeat(200), completion: 'c'.repeat(200) });
      const ps = (await small.run('big', { ...data, text: `${line}\n`.repeat(100_000) })) ?? [];
      const p = ps.find((x) => x.code === 'validation-gave-up');
      assert.ok(p !== undefined, JSON.stringify(ps).slice(0, 300));
      assert.match(p.message, /^Validation gave up: it ran out of memory/);
    } finally {
      small.dispose();
    }
  });

  it('a newer job for the same document replaces the queued one', async () => {
    const j = job('adapter_config.json', 'adapter_config');
    const first = workers.run('a', j);
    const second = workers.run('b', j);
    const third = workers.run('b', { ...j, text: '{"r": "x"}' });
    const [p1, p2, p3] = await Promise.all([first, second, third]);
    assert.ok(p1 !== null && p1.length > 0);
    assert.equal(p2, null, 'replaced before it ran');
    assert.ok((p3 ?? []).some((p: Problem) => p.range.start.line === 0 && p.severity === 'error'), JSON.stringify(p3));
  });
});
