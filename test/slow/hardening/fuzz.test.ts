// The fuzzing suite, slow size: thousands of seeded mutations, with the multi-megabyte cases (30 MB JSONL line,
// 10 MB YAML line, 100k-deep nesting) switched on. Same contract as test/unit/cli/hardening/fuzz.test.ts.
import { strict as assert } from 'node:assert';
import { runFuzz } from '../../fuzz/pool';

describe('hardening: fuzzing (slow size)', function () {
  this.timeout(3_600_000);

  it('3000 mutated inputs with large cases: no crash, hang, out-of-memory, unnamed error or echoed content', async () => {
    const r = await runFuzz({ cases: 3000, seed: 7, workers: 2, timeoutMs: 60_000, heapMb: 2048, big: true });
    assert.deepEqual(r.failures.slice(0, 20), []);
    assert.equal(r.counts.ok, 3000);
  });

  it('1000 mutated adapters, model files and registry files through merge, export gguf, generate and the registry', async () => {
    const r = await runFuzz({ family: 'export', cases: 1000, seed: 11, workers: 2, timeoutMs: 60_000, heapMb: 2048, big: true });
    assert.deepEqual(r.failures.slice(0, 20), []);
    assert.equal(r.counts.ok, 1000);
  });
});
