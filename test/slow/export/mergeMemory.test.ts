// merge streams tensor by tensor: merging all-linear LoRA into the 128 MB bench fixture raises the process's peak RSS
// by about one tensor's worth (largest: the 16.8 MB embedding), not the model's 128 MB. Runs in a fresh child process.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildSync } from 'esbuild';
import { makeFixture } from '../../../src/core/fixtures/makeFixture';
import { writeRandomAdapter } from '../../helpers/randomAdapter';

const ROOT = path.join(__dirname, '../../..');

describe('merge memory (streamed)', function () {
  this.timeout(600_000);
  let tmp: string;
  before(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'peft-mergemem-')); });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('peak RSS grows by less than 2 × the largest tensor while merging a 128 MB model', async function () {
    const model = path.join(tmp, 'bench');
    await makeFixture({ arch: 'llama', size: 'bench', outDir: model });
    const ad = writeRandomAdapter({ modelDir: model, outDir: path.join(tmp, 'ad'), config: { r: 16, lora_alpha: 32, target_modules: 'all-linear' } });
    const modelBytes = fs.statSync(path.join(model, 'model.safetensors')).size;
    // A plain bundle, so that the child's high-water mark before the merge is Node's own, not a transpiler's; inside
    // the repository, so that its external onnxruntime-node resolves from node_modules.
    const bundle = path.join(ROOT, 'test-output', 'merge-memory', 'merge.js');
    buildSync({ entryPoints: [path.join(ROOT, 'src/core/export/merge.ts')], bundle: true, platform: 'node', format: 'cjs', mainFields: ['module', 'main'], external: ['onnxruntime-node'], outfile: bundle, logLevel: 'silent' });
    const script = [
      `const { mergeToHfFolder } = require(${JSON.stringify(bundle)});`,
      // VmHWM: this process's own RSS high-water mark (getrusage's maxRSS would carry the parent's over exec).
      "const hwm = () => 1024 * Number(/VmHWM:\\s+(\\d+)/.exec(require('fs').readFileSync('/proc/self/status', 'utf8'))[1]);",
      // A full GC before each tensor: what is measured is what the merge keeps alive, not the collector's lag.
      'global.gc();',
      'const before = hwm();',
      `mergeToHfFolder({ modelDir: ${JSON.stringify(model)}, adapterDir: ${JSON.stringify(ad.dir)}, outDir: ${JSON.stringify(path.join(tmp, 'out'))}, onTensor: () => global.gc() });`,
      'console.log(JSON.stringify({ before, peak: hwm() }));',
    ].join('\n');
    const r = spawnSync(process.execPath, ['--expose-gc', '-e', script], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const { before, peak } = JSON.parse(r.stdout.trim().split('\n').pop()!) as { before: number; peak: number };
    const grew = peak - before;
    if (process.env['EXPORT_REPORT'] !== undefined) console.log(`model ${(modelBytes / 1e6).toFixed(0)} MB; peak RSS ${(before / 1e6).toFixed(0)} → ${(peak / 1e6).toFixed(0)} MB (+${(grew / 1e6).toFixed(0)} MB)`);
    // The largest tensor is the f32 embedding (vocab 8192 × 512 = 16.8 MB); holding the model would take 128 MB.
    const largest = 8192 * 512 * 4;
    assert.ok(grew < 2 * largest, `peak RSS grew by ${(grew / 1e6).toFixed(0)} MB for a ${(modelBytes / 1e6).toFixed(0)} MB model`);
  });
});
