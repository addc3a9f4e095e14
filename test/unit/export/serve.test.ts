// `export serve vllm|lorax`: golden docker-compose.yaml / k8s.yaml (UPDATE_GOLDEN=1 rewrites them), the vLLM
// --max-lora-rank rounding over r and rank_pattern, the serving lint of each adapter, and the CLI's usage errors.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { main } from '../../../src/cli/main';
import { buildServeExport, parseAdapterArg } from '../../../src/core/export/serve';
import { tempDir } from '../hf/tinyModels';

const GOLDEN = path.join(__dirname, '..', '..', 'fixtures', 'export', 'golden', 'serve');
const update = process.env['UPDATE_GOLDEN'] === '1';

describe('export serve', () => {
  let root: string;
  const adapter = (name: string, cfg: Record<string, unknown>): string => {
    const dir = path.join(root, name);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', lora_alpha: 32, target_modules: ['q_proj', 'v_proj'], ...cfg }));
    return dir;
  };
  before(() => {
    root = tempDir('export-serve');
    adapter('sql', { r: 16 });
    adapter('chat', { r: 8, rank_pattern: { v_proj: 48 } });
    adapter('dora', { r: 8, use_dora: true, modules_to_save: ['lm_head'] });
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  for (const engine of ['vllm', 'lorax'] as const) {
    it(`${engine}: docker-compose.yaml and k8s.yaml match their golden copies`, () => {
      const exp = buildServeExport({ engine, model: 'Qwen/Qwen2.5-7B-Instruct', adapters: [parseAdapterArg(`sql=${path.join(root, 'sql')}`), parseAdapterArg(`chat=${path.join(root, 'chat')}`)] });
      assert.deepEqual(exp.problems, []);
      for (const [rel, text] of exp.files) {
        const norm = text.split(root).join('/ADAPTERS');
        const file = path.join(GOLDEN, engine, rel);
        if (update) {
          fs.mkdirSync(path.dirname(file), { recursive: true });
          fs.writeFileSync(file, norm);
        }
        assert.equal(norm, fs.readFileSync(file, 'utf8'), `${engine}/${rel} (UPDATE_GOLDEN=1 rewrites it after a deliberate change)`);
        for (const doc of norm.split(/^---$/m)) assert.equal(typeof parseYaml(doc, { version: '1.1' }), 'object');
      }
    });
  }

  it('vLLM: --max-lora-rank is the allowed value above the largest r or rank_pattern rank; --max-loras the adapter count', () => {
    const exp = buildServeExport({ engine: 'vllm', model: 'm/x', adapters: [{ name: 'sql', dir: path.join(root, 'sql') }, { name: 'chat', dir: path.join(root, 'chat') }] });
    assert.equal(exp.maxLoraRank, 64);
    const cmd = (parseYaml(exp.files.get('docker-compose.yaml')!) as { services: { vllm: { command: string[] } } }).services.vllm.command;
    assert.deepEqual(cmd.slice(0, 5), ['m/x', '--enable-lora', '--lora-modules', 'sql=/adapters/sql', 'chat=/adapters/chat']);
    assert.deepEqual(cmd.slice(cmd.indexOf('--max-lora-rank'), cmd.indexOf('--max-lora-rank') + 4), ['--max-lora-rank', '64', '--max-loras', '2']);
  });

  it('reports what the engine refuses in each adapter (vLLM: DoRA, modules_to_save)', () => {
    const exp = buildServeExport({ engine: 'vllm', model: 'm/x', adapters: [{ name: 'dora', dir: path.join(root, 'dora') }] });
    assert.deepEqual(exp.problems.map((p) => `${p.adapter}:${p.code}`).sort(), ['dora:vllm-dora', 'dora:vllm-modules-to-save']);
  });

  it('CLI: usage errors exit 2, a missing adapter folder exits 1', async () => {
    const err: string[] = [];
    const io = { out: () => undefined, err: (t: string) => err.push(t), isTTY: false };
    assert.equal(await main(['export', 'serve', 'tgi', '--model', 'm/x', '--adapter', 'a=b'], io), 2);
    assert.equal(await main(['export', 'serve', 'vllm', '--model', 'm/x'], io), 2);
    assert.equal(await main(['export', 'serve', 'vllm', '--model', 'm/x', '--adapter', 'no-equals'], io), 2);
    assert.equal(await main(['export', 'serve', 'vllm', '--model', 'm/x', '--adapter', `x=${path.join(root, 'missing')}`, '--out', path.join(root, 'o')], io), 1);
    assert.match(err.join('\n'), /no adapter_config\.json/);
    const out = path.join(root, 'served');
    assert.equal(await main(['export', 'serve', 'lorax', '--model', 'm/x', '--adapter', `sql=${path.join(root, 'sql')}`, '--out', out], io), 0);
    assert.ok(fs.existsSync(path.join(out, 'docker-compose.yaml')) && fs.existsSync(path.join(out, 'k8s.yaml')));
  });
});
