import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeFixture } from '../../../../src/core/fixtures/makeFixture';
import { loadTokenizer, type HfTokenizer } from '../../../../src/core/hf/tokenizer';
import { dataTokenizer } from '../../../../src/core/hf/tokenizer';
import { parseJsonl } from '../../../../src/core/train/data/jsonl';
import { IGNORE_INDEX, tokenizeRecord } from '../../../../src/core/train/data/formats';

describe('data pipeline with a real HF tokenizer (fixture BPE + ChatML template)', () => {
  let dir: string;
  let hf: HfTokenizer;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'peft-tok-'));
    await makeFixture({ arch: 'llama', outDir: dir, size: 'tiny' });
    hf = await loadTokenizer(dir);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('messages: the trained tokens are exactly the assistant turns with their <|im_end|>', () => {
    const tok = dataTokenizer(hf);
    const msgs = [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'Capital of France?' },
      { role: 'assistant', content: 'Paris' },
      { role: 'user', content: 'And Italy?' },
      { role: 'assistant', content: 'Rome' },
    ];
    const [r] = parseJsonl(JSON.stringify({ messages: msgs }), 'm.jsonl');
    const ex = tokenizeRecord(r!, 'messages', tok, false, 'm.jsonl');
    assert.equal(hf.decode(ex.inputIds), hf.applyChatTemplate(msgs));
    // contiguous runs of trained positions, decoded
    const runs: string[] = [];
    let cur: number[] = [];
    ex.labels.forEach((l, i) => {
      if (l !== IGNORE_INDEX) cur.push(ex.inputIds[i]!);
      else if (cur.length > 0) {
        runs.push(hf.decode(cur));
        cur = [];
      }
    });
    if (cur.length > 0) runs.push(hf.decode(cur));
    assert.deepEqual(runs, ['Paris<|im_end|>\n', 'Rome<|im_end|>\n']);
  });

  it('text and prompt_completion: Llama BOS in front (post-processor), EOS appended', () => {
    const tok = dataTokenizer(hf);
    const [t] = parseJsonl('{"text":"hello world"}', 't.jsonl');
    const ex = tokenizeRecord(t!, 'text', tok, false, 't.jsonl');
    assert.equal(ex.inputIds[0], hf.bosTokenId);
    assert.equal(ex.inputIds[ex.inputIds.length - 1], hf.eosTokenId);
    const [p] = parseJsonl('{"prompt":"Q: hi\\nA:","completion":" yes"}', 'p.jsonl');
    const pc = tokenizeRecord(p!, 'prompt_completion', tok, false, 'p.jsonl');
    const trained = pc.inputIds.filter((_, i) => pc.labels[i] !== IGNORE_INDEX);
    assert.equal(hf.decode(trained), ' yes<|end_of_text|>');
    assert.equal(pc.labels[0], IGNORE_INDEX);
  });
});
