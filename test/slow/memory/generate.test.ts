// Generation holds the base weights once: a Generator with three adapters open (they are feeds, not copies of the
// model) peaks at most 15% above the base model alone + adapters + KV cache, each the least of three fresh child
// processes.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeFixture } from '../../../src/core/fixtures/makeFixture';
import { loadModel } from '../../../src/core/hf/loadModel';
import { writeAdapterFolder } from '../../unit/generate/helpers';

describe('generate: memory with three adapters (CPU)', function () {
  this.timeout(600_000);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'peft-genmem-'));
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it('bench model (32M) + 3 all-linear r=16 adapters: peak RSS ≤ base-only peak + (adapters + KV cache) + 15%', async () => {
    const dir = path.join(root, 'llama-bench');
    await makeFixture({ arch: 'llama', outDir: dir, size: 'bench', seed: 1 });
    const inv = loadModel(dir);
    const all = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];
    const adapters = [1, 2, 3].map((i) => writeAdapterFolder(path.join(root, `a${i}`), inv, all, 16, 32, i).dir);
    const once = (list: string[], service: boolean, columns?: number): Probe => {
      const job = { dir, adapters: list, promptLen: 128, newTokens: 32, prepack: false, service, ...(columns !== undefined ? { columns } : {}) };
      const r = spawnSync(process.execPath, ['-r', 'tsx/cjs', path.join(__dirname, 'generateProbe.ts'), JSON.stringify(job)], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout.trim().split('\n').pop()!) as Probe;
    };
    // The least growth over three fresh processes: when the collector and the allocator's arena run only add to a
    // peak (measured 289-326 MiB for one configuration across runs), the minimum is what the configuration needs.
    const probe = (list: string[], service = false, columns?: number): Probe => {
      const runs = [0, 1, 2].map(() => once(list, service, columns));
      return runs.reduce((a, b) => (b.peak - b.baseline < a.peak - a.baseline ? b : a));
    };
    const base = probe([]);
    const three = probe(adapters);
    const mib = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`;
    // Above each process's own baseline (node + tsx + onnxruntime loaded): the base model alone, and with three adapters.
    const baseOnly = base.peak - base.baseline;
    const budget = (baseOnly + three.adapters + three.kv) * 1.15;
    const used = three.peak - three.baseline;
    console.log(`      weights ${mib(base.weights)}: base only ${mib(baseOnly)}; three adapters (${mib(three.adapters)} of files, KV ${mib(three.kv)}) ${mib(used)}, budget ${mib(budget)}`);
    assert.ok(used <= budget, `${mib(used)} over ${mib(budget)}`);
    // A second copy of the base weights would not fit.
    assert.ok(budget < baseOnly + base.weights, 'the budget is tighter than one more copy of the weights');
    // The Playground's generation worker (GenService, stacked LoRA): base + three adapters as four columns of one batch,
    // against the base model alone in four columns of one batch (the same activations and KV cache for four rows).
    const pgBase = probe([], true, 4);
    const pg = probe(adapters, true, 4);
    const pgBaseOnly = pgBase.peak - pgBase.baseline;
    // Stacked LoRA holds, besides each adapter's own arrays, the stack (one slot per adapter + the base's zero slot;
    // equal ranks here, so no padding) and, while running, each row's gathered A and B: 4 slots and 4 rows of one adapter's size.
    const one = pg.adapters / adapters.length;
    const pgBudget = (pgBaseOnly + pg.adapters + 4 * one + 4 * one) * 1.15;
    const pgUsed = pg.peak - pg.baseline;
    console.log(`      playground worker, 4 columns in one batch: base only ${mib(pgBaseOnly)} (KV ${mib(pg.kv)}); base + 3 adapters ${mib(pgUsed)}, budget ${mib(pgBudget)}`);
    assert.ok(pgUsed <= pgBudget, `playground worker: ${mib(pgUsed)} over ${mib(pgBudget)}`);
    assert.ok(pgBudget < pgBaseOnly + base.weights, 'the worker budget is tighter than one more copy of the weights');
  });
});

interface Probe { baseline: number; peak: number; weights: number; adapters: number; kv: number }
