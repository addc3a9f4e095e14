// Default run names: readable (model, rank, local start time), always one valid folder name, unique in output_dir.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRunDir, defaultRunName } from '../../../src/core/train/runFolder';
import { folderNameProblem } from '../../../src/core/util/safePath';

describe('default run names', () => {
  const at = new Date(2026, 11, 7, 9, 37, 12); // local time, as the name uses

  it('say the model, the rank and when', () => {
    assert.equal(defaultRunName(at, { model: '/home/me/models/TinyLlama-1.1B', r: 16 }), 'tinyllama-1.1b-r16-dec07-0937');
    assert.equal(defaultRunName(at, { model: 'Qwen/Qwen2.5-0.5B-Instruct@main', r: 8 }), 'qwen2.5-0.5b-instruct-r8-dec07-0937');
    assert.equal(defaultRunName(at, { model: './models/demo-llama/' }), 'demo-llama-dec07-0937');
    assert.equal(defaultRunName(at), 'run-dec07-0937');
    assert.equal(defaultRunName(at, { model: '../..', r: 4 }), 'r4-dec07-0937');
  });

  it('are valid folder names whatever the model is called', () => {
    for (const model of ['C:\\models\\My Model (v2)', '...', 'a'.repeat(200), 'émoji 🤖 model', '/']) {
      const name = defaultRunName(at, { model, r: 16 });
      assert.equal(folderNameProblem(name), null, `${model} → ${name}`);
      assert.ok(name.length <= 60, name);
    }
  });

  it('get -2, -3 … when the folder exists', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'peft-runname-'));
    try {
      const a = createRunDir(out, null, { model: 'm', r: 2 });
      const b = createRunDir(out, null, { model: 'm', r: 2 });
      assert.match(path.basename(a), /^m-r2-[a-z]{3}\d\d-\d{4}$/);
      assert.notEqual(a, b);
      if (path.basename(a) === path.basename(b).replace(/-2$/, '')) assert.equal(path.basename(b), `${path.basename(a)}-2`);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
});
