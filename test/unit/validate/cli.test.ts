// `peft-studio validate` and `estimate` end to end through main(): the CONTRACTS.md §3 JSON shape (1-based),
// base-model discovery (--model, the recipe beside the config, base_model_name_or_path) and exit codes.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { llamaConfigModel, tempDir } from './helpers';
import { runCli as cli } from '../cli/runCli';

describe('peft-studio validate', () => {
  let dir: string;
  before(() => {
    dir = tempDir();
    llamaConfigModel(dir, 4);
    fs.mkdirSync(path.join(dir, 'proj'));
    fs.writeFileSync(path.join(dir, 'proj', 'adapter_config.json'), '{\n  "peft_type": "LORA",\n  "r": 8,\n  "target_modules": ["q_proj", "v_prj"]\n}\n');
    fs.writeFileSync(path.join(dir, 'proj', 'train.jsonl'), '{"text": "a"}\nnot json\n');
  });

  it('prints the contract\'s JSON with 1-based positions and exits 1 on errors (--model)', async () => {
    const r = await cli(['validate', path.join(dir, 'proj', 'adapter_config.json'), '--model', path.join(dir, 'model'), '--json']);
    assert.equal(r.code, 1);
    const arr = JSON.parse(r.out) as Record<string, unknown>[];
    assert.deepEqual(arr, [{
      file: path.join(dir, 'proj', 'adapter_config.json'), line: 4, column: 32, endLine: 4, endColumn: 39, severity: 'error', code: 'target-not-found',
      message: arr[0]!['message'],
    }]);
    assert.deepEqual(Object.keys(arr[0]!), ['file', 'line', 'column', 'endLine', 'endColumn', 'severity', 'code', 'message']);
    assert.match(String(arr[0]!['message']), /Did you mean "v_proj"\?/);
  });

  it('finds the base model through a peft-train.yaml beside the config', async () => {
    fs.writeFileSync(path.join(dir, 'proj', 'peft-train.yaml'), 'base_model: ../model\ndataset:\n  train: train.jsonl\n');
    const r = await cli(['validate', path.join(dir, 'proj', 'adapter_config.json'), '--json']);
    assert.deepEqual((JSON.parse(r.out) as { code: string }[]).map((p) => p.code), ['target-not-found']);
    fs.rmSync(path.join(dir, 'proj', 'peft-train.yaml'));
  });

  it('validates several kinds at once, prints file:line:col text, and exits 0 with warnings only', async () => {
    const ok = path.join(dir, 'ok');
    fs.mkdirSync(ok);
    fs.writeFileSync(path.join(ok, 'adapter_config.json'), '{"peft_type": "LORA", "lora_alpa": 16}');
    const r = await cli(['validate', path.join(ok, 'adapter_config.json'), path.join(dir, 'proj', 'train.jsonl')]);
    assert.equal(r.code, 1);
    assert.match(r.out, /adapter_config\.json:1:23: warning: Unknown LoraConfig key "lora_alpa".*\[unknown-key\]/);
    assert.match(r.out, /train\.jsonl:2:1: error: Line 2 is not valid JSON/);
    const w = await cli(['validate', path.join(ok, 'adapter_config.json')]);
    assert.equal(w.code, 0);
  });

  it('exits 2 without files and reports unreadable files as errors', async () => {
    assert.equal((await cli(['validate'])).code, 2);
    const r = await cli(['validate', path.join(dir, 'missing', 'adapter_config.json'), '--json']);
    assert.equal(r.code, 1);
    assert.equal((JSON.parse(r.out) as { code: string }[])[0]!.code, 'file-not-found');
  });
});

describe('peft-studio estimate', () => {
  it('prints components and a total for an adapter_config.json + --model', async () => {
    const dir = tempDir();
    const model = llamaConfigModel(dir, 4);
    fs.writeFileSync(path.join(dir, 'adapter_config.json'), '{"peft_type": "LORA", "r": 8, "target_modules": ["q_proj", "v_proj"]}');
    const r = await cli(['estimate', path.join(dir, 'adapter_config.json'), '--model', model, '--device', 'cpu', '--batch-size', '2', '--seq-len', '64', '--json']);
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out) as { components: { name: string; bytes: number }[]; totalBytes: number; device: string };
    assert.equal(j.device, 'cpu');
    assert.equal(j.totalBytes, j.components.reduce((a, c) => a + c.bytes, 0));
    // 8 targets (q, v × 4 layers), q: 8·(64+64), v: 8·(64+32) → 4·(1024+768) = 7168 params × 4 bytes
    assert.equal(j.components.find((c) => c.name === 'LoRA parameters')!.bytes, 7168 * 4);
  });
});
