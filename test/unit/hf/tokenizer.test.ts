// loadTokenizer on the fixture tokenizers: encode/decode round trips, special tokens, chat template rendering, and
// clear errors for missing or malformed files.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeFixture } from '../../../src/core/fixtures/makeFixture';
import { loadTokenizer } from '../../../src/core/hf/tokenizer';
import { InputError } from '../../../src/core/errors';

describe('loadTokenizer', () => {
  let root: string;
  let llamaDir: string;
  let qwenDir: string;
  let gpt2Dir: string;
  before(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'tok-'));
    llamaDir = (await makeFixture({ arch: 'llama', outDir: path.join(root, 'llama') })).dir;
    qwenDir = (await makeFixture({ arch: 'qwen2', outDir: path.join(root, 'qwen2') })).dir;
    gpt2Dir = (await makeFixture({ arch: 'gpt2', outDir: path.join(root, 'gpt2') })).dir;
  });
  after(() => { fs.rmSync(root, { recursive: true, force: true }); });

  const texts = [
    'What is 3 plus 4?\n3 plus 4 is 7.',
    'The capital of France is Paris.',
    '  leading spaces, tabs\tand\nnew lines  ',
    'Unicode: café, naïve, 日本語, emoji 🙂 and symbols ∑≠',
    "It's the dog's bone; they'll see.",
  ];

  it('round-trips text through encode/decode for every fixture tokenizer', async () => {
    for (const dir of [llamaDir, qwenDir, gpt2Dir]) {
      const tok = await loadTokenizer(dir);
      const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, number>;
      assert.equal(tok.vocabSize, config['vocab_size']);
      for (const t of texts) {
        const ids = tok.encode(t, { addSpecialTokens: false });
        assert.ok(ids.every((id) => Number.isInteger(id) && id >= 0 && id < tok.vocabSize));
        assert.equal(tok.decode(ids), t);
      }
      assert.equal(tok.decode([]), '');
    }
  });

  it('learned merges compress the training domain (fewer tokens than bytes)', async () => {
    const tok = await loadTokenizer(llamaDir);
    const t = 'What is the capital of Germany? The capital of Germany is Berlin.';
    const ids = tok.encode(t, { addSpecialTokens: false });
    assert.ok(ids.length < t.length / 2, `${ids.length} tokens for ${t.length} bytes`);
    assert.equal(tok.idToToken(tok.tokenToId('Ġcapital')!), 'Ġcapital');
  });

  it('resolves special tokens; llama adds <|begin_of_text|> only with addSpecialTokens', async () => {
    const llama = await loadTokenizer(llamaDir);
    assert.equal(llama.bosToken, '<|begin_of_text|>');
    assert.equal(llama.eosToken, '<|end_of_text|>');
    assert.equal(llama.bosTokenId, llama.tokenToId('<|begin_of_text|>'));
    const withBos = llama.encode('hello');
    assert.deepEqual(withBos.slice(1), llama.encode('hello', { addSpecialTokens: false }));
    assert.equal(withBos[0], llama.bosTokenId);
    assert.equal(llama.decode(withBos, { skipSpecialTokens: true }), 'hello');

    const qwen = await loadTokenizer(qwenDir);
    assert.equal(qwen.bosToken, null);
    assert.equal(qwen.eosToken, '<|endoftext|>');
    assert.equal(qwen.padTokenId, qwen.eosTokenId);
    assert.deepEqual(qwen.encode('hello'), qwen.encode('hello', { addSpecialTokens: false }));
    const imStart = qwen.tokenToId('<|im_start|>')!;
    const ids = qwen.encode('<|im_start|>user\nhi<|im_end|>');
    assert.equal(ids[0], imStart);
    assert.equal(ids[ids.length - 1], qwen.tokenToId('<|im_end|>'));
    assert.ok(qwen.specialTokenIds.includes(imStart));

    const gpt2 = await loadTokenizer(gpt2Dir);
    assert.equal(gpt2.bosTokenId, gpt2.eosTokenId);
  });

  it('renders the ChatML chat template exactly', async () => {
    const tok = await loadTokenizer(qwenDir);
    const messages = [
      { role: 'system', content: 'You are a helpful assistant.' },
      { role: 'user', content: 'What is 2 plus 2?' },
      { role: 'assistant', content: '2 plus 2 is 4.' },
    ];
    assert.equal(tok.applyChatTemplate(messages),
      '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is 2 plus 2?<|im_end|>\n<|im_start|>assistant\n2 plus 2 is 4.<|im_end|>\n');
    assert.equal(tok.applyChatTemplate(messages.slice(0, 2), { addGenerationPrompt: true }),
      '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is 2 plus 2?<|im_end|>\n<|im_start|>assistant\n');
    const rendered = tok.applyChatTemplate(messages);
    assert.equal(tok.decode(tok.encode(rendered, { addSpecialTokens: false })), rendered);
  });

  it('prefers chat_template.jinja, passes special tokens, and reports template errors with the file', async () => {
    const dir = path.join(root, 'custom');
    fs.cpSync(llamaDir, dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'chat_template.jinja'),
      "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'tool' %}{{ raise_exception('no tools') }}{% endif %}[{{ m['role'] }}] {{ m['content'] }}{{ eos_token }}{% endfor %}");
    const tok = await loadTokenizer(dir);
    assert.equal(tok.applyChatTemplate([{ role: 'user', content: 'hi' }]), '<|begin_of_text|>[user] hi<|end_of_text|>');
    assert.throws(() => tok.applyChatTemplate([{ role: 'tool', content: 'x' }]),
      (e: unknown) => e instanceof InputError && e.message.includes('chat_template.jinja') && e.message.includes('no tools'));
    fs.writeFileSync(path.join(dir, 'chat_template.jinja'), '{% for m in messages %}');
    const broken = await loadTokenizer(dir);
    assert.throws(() => broken.applyChatTemplate([{ role: 'user', content: 'hi' }]), (e: unknown) => e instanceof InputError && e.code === 'tokenizer-chat-template-syntax');
  });

  it('explains a missing chat template, tokenizer.json, bad JSON and unknown special tokens', async () => {
    const dir = path.join(root, 'broken');
    fs.cpSync(gpt2Dir, dir, { recursive: true });
    const cfgFile = path.join(dir, 'tokenizer_config.json');
    const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8')) as Record<string, unknown>;
    delete cfg['chat_template'];
    fs.writeFileSync(cfgFile, JSON.stringify(cfg));
    const noTemplate = await loadTokenizer(dir);
    assert.equal(noTemplate.chatTemplate, null);
    assert.throws(() => noTemplate.applyChatTemplate([{ role: 'user', content: 'x' }]),
      (e: unknown) => e instanceof InputError && e.code === 'tokenizer-no-chat-template' && e.message.includes(cfgFile));

    fs.writeFileSync(cfgFile, JSON.stringify({ ...cfg, eos_token: '<|nope|>' }));
    await assert.rejects(loadTokenizer(dir), (e: unknown) => e instanceof InputError && e.message.includes('<|nope|>'));

    fs.writeFileSync(path.join(dir, 'tokenizer.json'), '{"model": ');
    await assert.rejects(loadTokenizer(dir), (e: unknown) => e instanceof InputError && e.code === 'tokenizer-json' && e.message.includes('tokenizer.json'));

    fs.rmSync(path.join(dir, 'tokenizer.json'));
    fs.writeFileSync(path.join(dir, 'vocab.json'), '{}');
    await assert.rejects(loadTokenizer(dir), (e: unknown) => e instanceof InputError && e.code === 'tokenizer-missing' && e.message.includes('slow tokenizer'));
  });
});
