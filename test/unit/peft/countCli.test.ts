import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LLAMA3_8B_CONFIG, tempDir, writeConfig, writeTinyGpt2 } from '../hf/tinyModels';
import { runCli as run } from '../cli/runCli';

describe('cli count / inspect', () => {
  let root: string;
  let llama3: string;
  before(() => {
    root = tempDir('cli');
    llama3 = writeConfig(path.join(root, 'Meta-Llama-3-8B'), LLAMA3_8B_CONFIG);
  });
  after(() => {
    fs.rmSync(root, { recursive: true, force: true });
  });

  function adapter(name: string, cfg: Record<string, unknown>): string {
    const dir = path.join(root, name);
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, 'adapter_config.json');
    fs.writeFileSync(file, JSON.stringify(cfg, null, 2));
    return file;
  }

  it('count --json on a config-only Llama-3-8B, r=16 on q/k/v/o: exactly the contract record', async () => {
    const file = adapter('a1', { peft_type: 'LORA', r: 16, lora_alpha: 32, target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] });
    const { code, out } = await run(['count', file, '--model', llama3, '--json']);
    assert.equal(code, 0);
    const rec = JSON.parse(out) as { trainable: number; total: number; percent: number; modules: Record<string, unknown>[] };
    assert.deepEqual(Object.keys(rec), ['trainable', 'total', 'percent', 'modules']);
    // per layer q 16*(4096+4096) + k 16*(4096+1024) + v 16*(4096+1024) + o 16*(4096+4096) = 425,984; x32
    assert.equal(rec.trainable, 32 * 425_984);
    assert.equal(rec.total, 8_030_261_248 + 13_631_488);
    assert.equal(rec.percent, (100 * 13_631_488) / 8_043_892_736);
    assert.deepEqual(rec.modules[1], { name: 'model.layers.0.self_attn.k_proj', r: 16, in: 4096, out: 1024, params: 81_920 });
    assert.equal(rec.modules.length, 128);
  });

  it('count text output is PEFT\'s line plus a per-target summary; model from base_model_name_or_path', async () => {
    const file = adapter('a2', { r: 8, target_modules: ['q_proj', 'v_proj'], layers_to_transform: [0, 1, 2], base_model_name_or_path: llama3 });
    const { code, out } = await run(['count', file]);
    assert.equal(code, 0);
    // 3 layers * (q 8*(4096+4096) + v 8*(4096+1024)) = 3 * (65536 + 40960) = 319,488
    assert.match(out, /^trainable params: 319,488 \|\| all params: 8,030,580,736 \|\| trainable%: 0\.0040$/m);
    assert.match(out, /model\.layers\.\*\.self_attn\.q_proj .* layers 0-2 \(3 of 32\)/);
  });

  it('count accepts an adapter folder or a peft-train.yaml (its adapter_config and base_model)', async () => {
    const file = adapter('a6', { r: 4, target_modules: ['o_proj'] });
    fs.writeFileSync(path.join(path.dirname(file), 'peft-train.yaml'), `base_model: ${path.relative(path.dirname(file), llama3)}\nadapter_config: ./adapter_config.json\n`);
    // o_proj: 4 * (4096 + 4096) = 32,768 per layer, 32 layers
    for (const arg of [path.dirname(file), path.join(path.dirname(file), 'peft-train.yaml'), file]) {
      const { code, out } = await run(['count', arg, '--json']);
      assert.equal(code, 0, arg);
      assert.equal((JSON.parse(out) as { trainable: number }).trainable, 32 * 32_768);
    }
  });

  it('count exit codes: 2 without CONFIG or a model, 1 for bad input', async () => {
    assert.equal((await run(['count'])).code, 2);
    assert.equal((await run(['count', adapter('a3', { r: 8 })])).code, 2);
    assert.equal((await run(['count', adapter('a3h', { r: 8, base_model_name_or_path: 'meta-llama/Meta-Llama-3-8B' })])).code, 2);
    assert.equal((await run(['count', adapter('a3p', { r: 8, base_model_name_or_path: './models/missing' })])).code, 1);
    const bad = await run(['count', adapter('a4', { r: 0 }), '--model', llama3]);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /`r` should be a positive integer/);
    const nf = await run(['count', adapter('a5', { target_modules: ['qproj'] }), '--model', llama3]);
    assert.equal(nf.code, 1);
    assert.match(nf.err, /not found in the base model/);
    assert.equal((await run(['count', path.join(root, 'missing.json'), '--model', llama3])).code, 1);
    fs.writeFileSync(path.join(root, 'broken.json'), '{\n  "r": 8,\n  "lora_alpha": \n}');
    const syn = await run(['count', path.join(root, 'broken.json'), '--model', llama3]);
    assert.equal(syn.code, 1);
    assert.match(syn.err, /broken\.json:4/);
  });

  it('inspect prints the architecture and the modules of a layer; --json gives the inventory', async () => {
    const gpt = writeTinyGpt2(path.join(root, 'gpt2'), { hubLayout: true });
    const { code, out } = await run(['inspect', gpt]);
    assert.equal(code, 0);
    assert.match(out, /GPT2LMHeadModel \(model_type gpt2\)/);
    assert.match(out, /transformer\.h\.\{0-1\}/);
    assert.match(out, /\.attn\.c_attn\s+Conv1D\(16 -> 48, bias\)/);
    assert.match(out, /lm_head\s+Linear\(16 -> 64\)\s+\(tied to wte\.weight\)/);
    const j = await run(['inspect', llama3, '--json']);
    const rec = JSON.parse(j.out) as { totalParameters: number; source: string; modules: { name: string }[] };
    assert.equal(rec.totalParameters, 8_030_261_248);
    assert.equal(rec.source, 'config');
    assert.equal((await run(['inspect'])).code, 2);
    assert.equal((await run(['inspect', path.join(root, 'none')])).code, 1);
  });
});
