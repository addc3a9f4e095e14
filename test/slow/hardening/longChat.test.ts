// A 2,000-turn `messages` example (the probe's took a minute to train on: every assistant turn rendered and encoded
// its whole prefix). The labels are still the prefix-render rule's, exactly: equal to it turn by turn on 300 turns and
// on templates that are not prefix-consistent (where the exact per-turn path is taken), and on 2,000 turns every
// assistant turn's tokens, and nothing else, are labelled.
import { strict as assert } from 'node:assert';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { makeFixture } from '../../../src/core/fixtures/makeFixture';
import { dataTokenizer, loadTokenizer } from '../../../src/core/hf/tokenizer';
import { renderChatTemplate } from '../../../src/core/hf/chatTemplate';
import { chatLabels } from '../../../src/core/train/data/chatLabels';
import type { ChatMessage, DataTokenizer } from '../../../src/core/train/data/formats';
import { tokenizeRecord } from '../../../src/core/train/data/formats';
import { tempDir } from '../../unit/validate/helpers';

/** The rule as first written: render and encode the prefix before and through every assistant turn. */
function reference(msgs: ChatMessage[], tok: DataTokenizer): { ids: number[]; labels: number[] } {
  const ids = tok.encode(tok.applyChatTemplate(msgs, false), false);
  const labels = ids.map(() => -100);
  for (let i = 0; i < msgs.length; i++) {
    if (msgs[i]!.role !== 'assistant') continue;
    const start = tok.encode(tok.applyChatTemplate(msgs.slice(0, i), true), false).length;
    const end = i + 1 === msgs.length ? ids.length : tok.encode(tok.applyChatTemplate(msgs.slice(0, i + 1), false), false).length;
    for (let t = start; t < Math.min(end, ids.length); t++) labels[t] = ids[t]!;
  }
  return { ids, labels };
}

const conversation = (turns: number, system = true): ChatMessage[] => [
  ...(system ? [{ role: 'system', content: 'You count apples.' }] : []),
  ...Array.from({ length: turns }, (_, i) => ({ role: i % 2 === 0 ? 'user' : 'assistant', content: i % 2 === 0 ? `how many apples in box ${i}?` : ` ${i * 7} apples, friend.\n` })),
];

/** The fixture's tokenizer with another chat template. */
const withTemplate = (tok: DataTokenizer, template: string): DataTokenizer => ({
  ...tok,
  applyChatTemplate: (m, gen) => renderChatTemplate({ template, file: 'tokenizer_config.json' }, m.map((x) => ({ role: x.role, content: x.content })), { addGenerationPrompt: gen }),
});

describe('hardening: a 2,000-turn chat example is tokenized in linear time with the same labels', function () {
  this.timeout(600_000);
  let root: string;
  let tok: DataTokenizer;
  before(async () => {
    root = tempDir('peft-longchat-');
    await makeFixture({ arch: 'llama', outDir: join(root, 'model'), size: 'tiny', seed: 1 });
    tok = dataTokenizer(await loadTokenizer(join(root, 'model')));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('equals the per-turn rule on 300 turns, with and without a system message', () => {
    for (const msgs of [conversation(300), conversation(301, false)]) {
      const fast = chatLabels(msgs, tok);
      assert.deepEqual(fast, reference(msgs, tok));
      assert.ok(fast.labels.some((l) => l !== -100));
    }
  });

  it('equals the per-turn rule on templates that are not prefix-consistent', () => {
    const templates = [
      // a marker after the last message only: a prefix's render is not a prefix of the whole
      "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% if loop.last %}<|endoftext|>{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
      // the turn count in every header
      "{% for m in messages %}<|im_start|>{{ m.role }} of {{ messages | length }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
      // the last assistant turn rendered differently (as templates that strip earlier reasoning do)
      "{% for m in messages %}<|im_start|>{{ m.role }}\n{% if m.role == 'assistant' and not loop.last %}{{ m.content | trim }}{% else %}{{ m.content }}{% endif %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
    ];
    for (const t of templates) {
      const tk = withTemplate(tok, t);
      const msgs = conversation(40);
      assert.deepEqual(chatLabels(msgs, tk), reference(msgs, tk), t.slice(0, 60));
    }
  });

  it('labels every assistant turn of a 2,000-turn example, and nothing else', () => {
    const msgs = conversation(2000);
    const ex = tokenizeRecord({ line: 1, value: { messages: msgs } } as never, 'messages', tok, false, 'train.jsonl');
    assert.equal(ex.labels.length, ex.inputIds.length);
    // the labelled runs, in order, decode to each assistant message and its end-of-turn marker
    const runs: number[][] = [];
    ex.labels.forEach((l, t) => {
      if (l === -100) return;
      assert.equal(l, ex.inputIds[t]);
      if (t > 0 && ex.labels[t - 1] !== -100) runs[runs.length - 1]!.push(l);
      else runs.push([l]);
    });
    const answers = msgs.filter((m) => m.role === 'assistant');
    assert.equal(runs.length, answers.length);
    for (const [k, run] of runs.entries()) assert.equal(tok.decode!(run), `${answers[k]!.content}<|im_end|>\n`, `turn ${k}`);
    assert.equal(ex.inputIds.length, tok.encode(tok.applyChatTemplate(msgs, false), false).length);
  });
});
