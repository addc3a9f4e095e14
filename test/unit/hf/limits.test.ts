// Regression tests for sizes read from config.json (issue: num_hidden_layers 1e9 exhausted memory): every size field
// has a sane maximum, and a config with weights is checked against what the weight files hold, naming the field.
import { strict as assert } from 'node:assert';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseModelConfig } from '../../../src/core/hf/config';
import { loadModel } from '../../../src/core/hf/loadModel';
import { CONFIG_MAXIMA } from '../../../src/core/hf/limits';
import { makeFixture } from '../../../src/core/fixtures/makeFixture';
import { llamaConfigModel, tempDir } from '../validate/helpers';
import { runCli as cli } from '../cli/runCli';

describe('hardening: sizes from config.json are bounded', function () {
  this.timeout(60000);
  let dir: string;
  let model: string;
  before(async () => {
    dir = tempDir('peft-limits-');
    model = join(dir, 'weights');
    await makeFixture({ arch: 'llama', outDir: model, size: 'tiny', seed: 3 });
    writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ r: 4, target_modules: ['q_proj'] }));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('each size field above its maximum is refused by name (llama and gpt2 spellings)', () => {
    for (const [field, max] of Object.entries(CONFIG_MAXIMA)) {
      const type = ['n_layer', 'n_embd', 'n_inner', 'n_head', 'n_positions'].includes(field) ? 'gpt2' : field === 'sliding_window' ? 'mistral' : 'llama';
      const c: Record<string, unknown> = { model_type: type, hidden_size: 64, num_attention_heads: 4, [field]: max + 1 };
      if (field !== 'num_key_value_heads' && type !== 'gpt2') c['num_key_value_heads'] = 4;
      if (field === 'max_window_layers') Object.assign(c, { model_type: 'qwen2', use_sliding_window: true, sliding_window: 16 });
      assert.throws(() => parseModelConfig(c, 'config.json'), (e: Error) => e.message.startsWith('config.json: ') && e.message.includes(`"${field}" is ${max + 1}`), field);
    }
  });

  it('num_hidden_layers 1e9 with a config-only folder: count exits 1 naming the field', async () => {
    llamaConfigModel(dir, 1_000_000_000, {}, 'cfgonly');
    const r = await cli(['count', join(dir, 'adapter_config.json'), '--model', join(dir, 'cfgonly')]);
    assert.equal(r.code, 1);
    assert.match(r.err, /cfgonly\/config\.json: "num_hidden_layers" is 1000000000/);
  });

  it('a config-only folder at the maximum layer count still counts', async () => {
    llamaConfigModel(dir, 1024, {}, 'deep');
    const r = await cli(['count', join(dir, 'adapter_config.json'), '--model', join(dir, 'deep')]);
    assert.equal(r.code, 0, r.err);
  });

  it('a layer count or embedding size the weight files do not hold is refused by field', async () => {
    const file = join(model, 'config.json');
    const good = readFileSync(file, 'utf8');
    try {
      const cases: [Record<string, unknown>, RegExp][] = [
        [{ num_hidden_layers: 900 }, /"num_hidden_layers" is 900 but the weight files hold 2 decoder layers/],
        [{ vocab_size: 4096 }, /"vocab_size" is 4096 but the embedding "model\.embed_tokens\.weight" has 512 rows/],
        [{ hidden_size: 128, head_dim: 32 }, /"hidden_size" is 128 but the embedding "model\.embed_tokens\.weight" has 64 columns/],
      ];
      for (const [patch, re] of cases) {
        writeFileSync(file, JSON.stringify({ ...JSON.parse(good) as object, ...patch }));
        assert.throws(() => loadModel(model), (e: Error) => re.test(e.message) && e.message.startsWith(file), JSON.stringify(patch));
        for (const cmd of [['count', join(dir, 'adapter_config.json'), '--model', model], ['inspect', model]]) {
          const r = await cli(cmd);
          assert.equal(r.code, 1, r.err);
          assert.match(r.err, re);
        }
      }
    } finally {
      writeFileSync(file, good);
    }
  });
});
