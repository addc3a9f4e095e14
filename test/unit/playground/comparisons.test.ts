// Where Playground comparisons are saved (the run folder above an adapter or checkpoint), the base model an adapter
// belongs to, and reading a comparison back (a clear error for anything else).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { baseModelOf, readComparison, runDirOf, writeComparison } from '../../../src/extension/playground/comparisons';
import { DEFAULT_SAMPLING, type PgComparison } from '../../../src/shared/playground';
import { tmpDir } from '../train/engineHelpers';

describe('playground: comparison files', () => {
  it('finds the run folder and base model of final adapters and checkpoints; writes and reads a comparison', () => {
    const run = path.join(tmpDir('pg-cmp'), 'runs', 'r1');
    const ckpt = path.join(run, 'checkpoints', 'step-4');
    fs.mkdirSync(ckpt, { recursive: true });
    fs.mkdirSync(path.join(run, 'adapter'));
    fs.writeFileSync(path.join(run, 'run.json'), JSON.stringify({ name: 'r1', base_model: '/models/tiny' }));
    const loose = path.join(path.dirname(path.dirname(run)), 'loose');
    fs.mkdirSync(loose);
    fs.writeFileSync(path.join(loose, 'adapter_config.json'), JSON.stringify({ base_model_name_or_path: '/models/other' }));
    assert.equal(runDirOf(path.join(run, 'adapter')), run);
    assert.equal(runDirOf(ckpt), run);
    assert.equal(runDirOf(loose), undefined);
    assert.equal(baseModelOf(ckpt), '/models/tiny');
    assert.equal(baseModelOf(loose), '/models/other');
    const c: PgComparison = {
      kind: 'peft-studio.playground-comparison', version: 1, saved_at: '2026-12-07T10:00:00.000Z', model: '/models/tiny', mode: 'prompt', prompt: 'Hi', same_seed: true,
      columns: [{ adapter: null, sampling: DEFAULT_SAMPLING, output: 'there', token_ids: [5] }],
    };
    const file = writeComparison(run, c);
    assert.equal(file, path.join(run, 'playground', 'comparison-2026-12-07T10-00-00-000Z.json'));
    assert.deepEqual(readComparison(file), c);
    fs.writeFileSync(path.join(loose, 'x.json'), '{"a": 1}');
    assert.throws(() => readComparison(path.join(loose, 'x.json')), /x\.json: not a Playground comparison/);
    fs.writeFileSync(path.join(loose, 'y.json'), '{');
    assert.throws(() => readComparison(path.join(loose, 'y.json')), /cannot read the comparison/);
  });
});
