// Regression tests for regular expressions and templates from files (issue: catastrophic target_modules / rank_pattern
// regexes, a Split pattern, a huge added-token id and a looping chat template hung or crashed validate/count/train).
import { strict as assert } from 'node:assert';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeProject, recipe } from '../train/project';
import { loadTokenizer } from '../../../src/core/hf/tokenizer';
import { renderChatTemplate } from '../../../src/core/hf/chatTemplate';
import { regexHazard } from '../../../src/core/util/regexHazard';
import { safeFullmatch } from '../../../src/core/util/safeRegex';
import { tempDir } from '../validate/helpers';
import { runCli as cli } from '../cli/runCli';

const EVIL = '(.*.*)*X';
const LONG_NAME = 'model.layers.0.self_attn.q_proj'.repeat(4);

describe('hardening: regexes and templates from files are bounded', function () {
  this.timeout(60000);
  let root: string;
  let proj: string;
  let tokJson: string;
  let tokConfig: string;
  before(async () => {
    root = tempDir('peft-regex-');
    proj = join(root, 'proj');
    await makeProject(proj);
    writeFileSync(join(proj, 'peft-train.yaml'), recipe({ top: 'adapter_config: adapter_config.json\n' }));
    tokJson = readFileSync(join(proj, 'model', 'tokenizer.json'), 'utf8');
    tokConfig = readFileSync(join(proj, 'model', 'tokenizer_config.json'), 'utf8');
  });
  after(() => rmSync(root, { recursive: true, force: true }));
  afterEach(() => {
    writeFileSync(join(proj, 'model', 'tokenizer.json'), tokJson);
    writeFileSync(join(proj, 'model', 'tokenizer_config.json'), tokConfig);
  });

  it('PEFT regexes run in linear time and keep fullmatch semantics', () => {
    // exponential for a backtracking engine on a 124-character name; linear here
    assert.equal(safeFullmatch(EVIL, LONG_NAME), null);
    assert.equal(safeFullmatch('(a|aa)+$', 'a'.repeat(5000) + 'b'), null);
    assert.deepEqual(safeFullmatch('.*\\.(q|v)_proj', 'model.layers.0.self_attn.q_proj'), ['model.layers.0.self_attn.q_proj', 'q']);
    assert.equal(safeFullmatch('q_proj', 'model.layers.0.self_attn.q_proj'), null, 'fullmatch, not search');
    assert.throws(() => safeFullmatch('(?<=a)b', 'ab', 'target_modules'), /target_modules uses lookahead or lookbehind/);
  });

  it('a catastrophic target_modules string or rank_pattern key: validate and count answer, exit 1 naming the file', async () => {
    const cfg = join(proj, 'adapter_config.json');
    const good = readFileSync(cfg, 'utf8');
    try {
      writeFileSync(cfg, JSON.stringify({ r: 4, target_modules: EVIL }));
      let r = await cli(['validate', cfg, '--model', join(proj, 'model'), '--json']);
      assert.equal(r.code, 1);
      assert.ok((JSON.parse(r.out) as { file: string; severity: string }[]).some((p) => p.file === cfg && p.severity === 'error'), r.out);
      r = await cli(['count', cfg, '--model', join(proj, 'model')]);
      assert.equal(r.code, 1);
      assert.match(r.err, /adapter_config\.json|target_modules/);
      writeFileSync(cfg, JSON.stringify({ r: 4, target_modules: ['q_proj'], rank_pattern: { [EVIL]: 8, '(?P<x>a)(?P=x)': 2 } }));
      r = await cli(['validate', cfg, '--model', join(proj, 'model'), '--json']);
      const ps = JSON.parse(r.out) as { code: string; message: string }[];
      assert.ok(ps.some((p) => p.code === 'bad-regex' && /backreference/.test(p.message)), r.out);
      r = await cli(['count', cfg, '--model', join(proj, 'model'), '--json']);
      assert.equal(r.code, 1, r.err);
    } finally {
      writeFileSync(cfg, good);
    }
  });

  it('regexHazard refuses nested repetition and repeated alternatives, and passes the real tokenizer patterns', () => {
    for (const p of ['(a|aa)+$', '(.*.*)*X', '(a+)+', '(\\w+\\s?)*$', '(?:x{2,})*y']) assert.notEqual(regexHazard(p), null, p);
    const llama3 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    for (const p of [llama3, ' ?\\p{L}+| ?\\p{N}+', '(?:\\r?\\n)+', '[(]+', '\\d{1,3}']) assert.equal(regexHazard(p), null, p);
  });

  it('tokenizer.json: a catastrophic Split pattern, a huge or non-integer id, a vocabulary as a list are refused by field', async () => {
    const file = join(proj, 'model', 'tokenizer.json');
    const base = JSON.parse(tokJson) as Record<string, unknown>;
    const model = base['model'] as Record<string, unknown>;
    const added = base['added_tokens'] as Record<string, unknown>[];
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: '(a|aa)+$' }, behavior: 'Isolated', invert: false }, base['pre_tokenizer']] } },
        /the pattern in "pre_tokenizer\.pretokenizers\[0\]\.pattern" is refused: a repeated group contains alternatives/],
      [{ added_tokens: [...added, { id: 1_000_000_000, content: '<big>', special: true }] }, /"added_tokens\[\d+\]\.id" is 1000000000/],
      [{ added_tokens: [{ ...added[0], id: 1.5 }] }, /"added_tokens\[0\]\.id" must be an integer/],
      [{ model: { ...model, vocab: { ...(model['vocab'] as object), zz: 'x' } } }, /the id of vocabulary entry "zz" must be an integer/],
      [{ model: { ...model, vocab: Object.keys(model['vocab'] as object) } }, /"model\.vocab" of a BPE model must be an object/],
    ];
    for (const [patch, re] of cases) {
      writeFileSync(file, JSON.stringify({ ...base, ...patch }));
      await assert.rejects(loadTokenizer(join(proj, 'model')), (e: Error) => re.test(e.message) && e.message.startsWith(file), JSON.stringify(patch).slice(0, 80));
      const r = await cli(['validate', join(proj, 'peft-train.yaml'), '--json']);
      assert.equal(r.code, 1, r.out);
      const ps = JSON.parse(r.out) as { file: string; code: string; message: string }[];
      assert.ok(ps.some((p) => p.file === file && p.code === 'tokenizer-invalid' && re.test(p.message)), r.out);
    }
  });

  it('a looping or failing chat template is stopped, and validate reports it on the recipe', async () => {
    const src = (t: string): { template: string; file: string } => ({ template: t, file: 'tokenizer_config.json' });
    const msgs = [{ role: 'user', content: 'hi' }];
    assert.throws(() => renderChatTemplate(src('{% for i in range(1000000000) %}x{% endfor %}'), msgs), /tokenizer_config\.json: chat template rendering was stopped: range\(\) of 1000000000 items/);
    assert.throws(() => renderChatTemplate(src('{% for i in range(9999) %}{% for j in range(2000) %}{{ j }}{% endfor %}{% endfor %}'), msgs), /rendering was stopped: it takes (more than 300000 evaluation steps|longer than)/);
    assert.throws(() => renderChatTemplate(src('{% set ns = namespace(s="x") %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}'), msgs), /rendering was stopped: it produces more than 64 M characters/);
    assert.equal(renderChatTemplate(src('{% for m in messages %}{{ m.role }}:{{ m.content }};{% endfor %}'), msgs), 'user:hi;');
    const cfgFile = join(proj, 'model', 'tokenizer_config.json');
    for (const [t, re] of [['{% for i in range(1000000000) %}x{% endfor %}', /range\(\) of 1000000000 items/], ['{{ raise_exception("no system role") }}', /no system role/]] as const) {
      writeFileSync(cfgFile, JSON.stringify({ ...(JSON.parse(tokConfig) as object), chat_template: t }));
      const r = await cli(['validate', join(proj, 'peft-train.yaml'), '--json']);
      assert.equal(r.code, 1, r.out);
      const ps = JSON.parse(r.out) as { file: string; code: string; message: string }[];
      assert.ok(ps.some((p) => p.file === cfgFile && p.code === 'chat-template' && re.test(p.message)), r.out);
    }
  });

  it('train refuses a catastrophic normalizer pattern before the tokenizer is built', async () => {
    const copy = join(root, 'copy');
    cpSync(proj, copy, { recursive: true });
    const file = join(copy, 'model', 'tokenizer.json');
    const base = JSON.parse(tokJson) as Record<string, unknown>;
    writeFileSync(file, JSON.stringify({ ...base, normalizer: { type: 'Replace', pattern: { Regex: '(a+)+$' }, content: 'b' } }));
    const r = await cli(['train', join(copy, 'peft-train.yaml'), '--json']);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /tokenizer\.json: the pattern in "normalizer\.pattern" is refused/);
  });
});
