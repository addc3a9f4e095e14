// `peft-studio estimate` and the editor's CodeLens give one number for the demo project (one function, same
// inputs), and its sequence length is the longest row the trainer builds from the same data.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { prepareDemo } from '../../../src/cli/commands/demo';
import { main } from '../../../src/cli/main';
import { loadModel } from '../../../src/core/hf/loadModel';
import { defaultDeps } from '../../../src/core/train/deps';
import { readRecipeFile, prepareRun } from '../../../src/core/train/setup';
import { findRecipeFor } from '../../../src/core/validate/context';
import { trainSummary } from '../../../src/core/validate/lens';

async function cliEstimate(argv: string[]): Promise<{ totalBytes: number; seqLen: number; seqLenFrom: string; batchSize: number }> {
  let out = '';
  const code = await main(['estimate', ...argv, '--json'], { out: (t) => (out += t), err: () => undefined, isTTY: false });
  assert.equal(code, 0, out);
  return JSON.parse(out) as { totalBytes: number; seqLen: number; seqLenFrom: string; batchSize: number };
}

describe('memory estimate of a recipe: CLI and CodeLens agree', function () {
  this.timeout(60000);
  let dir: string;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peft-estimate-'));
    await prepareDemo(dir, 3);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('gives the same bytes for peft-train.yaml, adapter_config.json and the CodeLens', async () => {
    const adapter = path.join(dir, 'adapter_config.json');
    const fromYaml = await cliEstimate([path.join(dir, 'peft-train.yaml'), '--device', 'cpu']);
    const fromAdapter = await cliEstimate([adapter, '--device', 'cpu']);
    const lens = await trainSummary(fs.readFileSync(adapter, 'utf8'), loadModel(path.join(dir, 'model')), findRecipeFor(adapter), ['cpu']);
    assert.ok(typeof lens !== 'string', String(lens));
    assert.equal(fromYaml.batchSize, 8);
    assert.equal(fromYaml.seqLenFrom, 'data');
    assert.equal(fromAdapter.totalBytes, fromYaml.totalBytes);
    assert.equal(lens.memoryBytes, fromYaml.totalBytes);
  });

  it('uses the longest row the trainer builds (train and eval), not max_length', async () => {
    const recipe = readRecipeFile(path.join(dir, 'peft-train.yaml'));
    const prep = await prepareRun(recipe, 'cpu', defaultDeps);
    const longest = Math.max(...[...prep.train.sequences, ...(prep.eval?.sequences ?? [])].map((s) => s.inputIds.length));
    const est = await cliEstimate([path.join(dir, 'peft-train.yaml')]);
    assert.equal(est.seqLen, longest);
    assert.ok(longest < recipe.dataset.max_length);
    assert.equal((await cliEstimate([path.join(dir, 'peft-train.yaml'), '--seq-len', '128'])).seqLen, 128);
  });
});
