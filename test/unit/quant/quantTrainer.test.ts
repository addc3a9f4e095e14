// `peft-studio train` with `quantization:` in the recipe: the one training loop on a 4-bit base (gradient accumulation,
// eval, checkpoints), the quantized file beside the graph cache, and the setting recorded in run.json.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runTraining } from '../../../src/core/train/trainer';
import type { RunEvent, StepEvent } from '../../../src/shared/protocol';
import { makeProject, recipe } from '../train/project';

describe('training run on a 4-bit base', function () {
  this.timeout(120000);
  let root: string;
  before(() => { root = fs.mkdtempSync(path.join(os.tmpdir(), 'peft-quant-run-')); });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it('trains with accumulation and eval, quantizes into the graph cache once, records the setting', async () => {
    const proj = path.join(root, 'proj');
    await makeProject(proj);
    const file = path.join(proj, 'q.yaml');
    fs.writeFileSync(file, recipe({ lr: '5.0e-2', training: '  max_steps: 16\n  eval_steps: 8\n', top: 'run_name: q4\nquantization:\n  bits: 4\n  block_size: 16\n' }));
    const events: RunEvent[] = [];
    const done = await runTraining({ configFile: file, onEvent: (e) => events.push(e) });
    const s = events.filter((e): e is StepEvent => e.event === 'step');
    assert.equal(s.length, 16);
    const mean = (xs: StepEvent[]): number => xs.reduce((a, e) => a + e.loss, 0) / xs.length;
    assert.ok(mean(s.slice(-4)) < mean(s.slice(0, 4)) - 0.2, `loss did not fall: ${mean(s.slice(0, 4))} → ${mean(s.slice(-4))}`);
    assert.deepEqual(events.filter((e) => e.event === 'eval').map((e) => e.step), [8, 16]);
    const quantized = fs.readdirSync(path.join(proj, 'runs', '.graph-cache', 'quantized'));
    assert.equal(quantized.length, 1);
    assert.match(quantized[0]!, /^peft-studio-q4-b16-[0-9a-f]{24}\.safetensors$/);
    const info = JSON.parse(fs.readFileSync(path.join(done.run_dir, 'run.json'), 'utf8')) as { recipe: { quantization: unknown } };
    assert.deepEqual(info.recipe.quantization, { bits: 4, block_size: 16 });
    assert.ok(fs.existsSync(path.join(done.adapter_dir, 'adapter_model.safetensors')));
  });
});
