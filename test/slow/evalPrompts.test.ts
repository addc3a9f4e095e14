// Evaluation during training, the slower real runs: eval prompts through the chat and Alpaca templates equal
// `peft-studio generate --messages` / `--prompt <Alpaca text>`, and a resumed run makes the straight run's choices.
import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { alpacaPrompt } from '../../src/core/train/data/formats';
import type { DoneEvent, EvalEvent, EvalGenerationEvent, RunEvent } from '../../src/shared/protocol';
import { recipe } from '../unit/train/project';
import { EvalProject, tensors } from '../unit/train/evalProject';

const ep = new EvalProject();
const { root } = ep;
const train = ep.train.bind(ep);
const generate = ep.generate.bind(ep);

describe('evaluation during training (slow: chat/alpaca rendering, resume)', function () {
  this.timeout(300000);
  before(async () => ep.create());
  after(() => ep.remove());

  it('chat data: an eval prompt is one user turn through the chat template (`generate --messages`); alpaca data: the Alpaca template', async () => {
    const { events, done } = await train('chat', recipe({
      dataset: '  eval_prompts: ["Say hello"]\n', top: 'run_name: chat\n',
      training: '  max_steps: 2\n  eval_max_new_tokens: 5\n',
    }).replace(/prompt_completion/g, 'messages'));
    const g = events.find((e): e is EvalGenerationEvent => e.event === 'eval_generation')!;
    assert.equal(g.step, 2);
    const messages = join(root, 'messages.json');
    writeFileSync(messages, JSON.stringify([{ role: 'user', content: 'Say hello' }]));
    assert.equal(g.samples[0]!.output, await generate(join(done.run_dir, 'checkpoints', 'step-2'), ['--messages', messages], 5));
    assert.notEqual(g.samples[0]!.output, await generate(join(done.run_dir, 'checkpoints', 'step-2'), ['--prompt', 'Say hello'], 5));
    const alpaca = await train('alpaca', recipe({ dataset: '  eval_prompts: ["Say hello"]\n', top: 'run_name: alpaca\n', training: '  max_steps: 2\n  eval_max_new_tokens: 5\n' })
      .replace(/prompt_completion/g, 'alpaca'));
    const a = alpaca.events.find((e): e is EvalGenerationEvent => e.event === 'eval_generation')!;
    assert.equal(a.samples[0]!.output, await generate(join(alpaca.done.run_dir, 'checkpoints', 'step-2'), ['--prompt', alpacaPrompt('Say hello', '')], 5));
  });

  it('a resumed run keeps the best metric, its checkpoint and the patience counter: the same choice as a straight run', async () => {
    const text = (name: string): string => recipe({
      lr: '5.0e-2', dataset: '  eval_prompts: ["a b c"]\n', top: `run_name: ${name}\n`,
      training: '  max_steps: 10\n  eval_steps: 2\n  save_steps: 2\n  eval_max_new_tokens: 3\n  load_best_model_at_end: true\n  early_stopping_patience: 2\n  early_stopping_threshold: 0.05\n',
    });
    const straight = await train('straight', text('straight'));
    const first = await train('halves', text('halves'), { stopAt: 6 });
    assert.equal(first.done.stopped, true);
    const resumed = await train('halves', text('halves'), { resume: first.done.run_dir });
    const pick = (d: DoneEvent): unknown[] => [d.best_model_checkpoint?.replace(/^.*[\\/]/, ''), d.best_metric, d.early_stopped];
    assert.deepEqual(pick(resumed.done), pick(straight.done));
    // eval loss improves by ~0.10, then ~0.03 and ~0.04 (< threshold 0.05): the counter is 1 at the stop (step 6),
    // so the resumed run, like the straight one, stops early at step 8
    assert.deepEqual(pick(straight.done), ['step-8', straight.events.filter((e): e is EvalEvent => e.event === 'eval')[3]!.eval_loss, true]);
    const outputs = (ev: RunEvent[]): string[] => ev.filter((e): e is EvalGenerationEvent => e.event === 'eval_generation').map((g) => `${g.step}:${g.samples[0]!.output}`);
    assert.deepEqual([...outputs(first.events), ...outputs(resumed.events)], outputs(straight.events));
    assert.deepEqual(tensors(resumed.done.adapter_dir), tensors(straight.done.adapter_dir));
  });
});
