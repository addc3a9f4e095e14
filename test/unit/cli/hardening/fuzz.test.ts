// The fuzzing suite, CI size: a few hundred seeded mutations of the project's files (safetensors header, config.json,
// adapter_config.json, peft-train.yaml, JSONL, tokenizer.json, tokenizer_config.json) run through the CLI in worker
// threads; every case must exit 0, 1 or 2, name a file when it exits 1, echo nothing it could not parse, finish within
// its time limit and stay under its heap limit; the export family does the same for merge, export gguf, generate and
// the adapter registry. The slow suite runs thousands (test/slow/hardening/fuzz.test.ts).
import { strict as assert } from 'node:assert';
import { runFuzz } from '../../../fuzz/pool';

describe('hardening: fuzzing (CI size)', function () {
  this.timeout(600_000);

  it('150 mutated inputs: no crash, hang, out-of-memory, unnamed error or echoed content', async () => {
    const r = await runFuzz({ cases: 150, seed: 20261207, workers: 2, timeoutMs: 60_000, heapMb: 2048 });
    assert.deepEqual(r.failures, []);
    assert.equal(r.counts.ok, 150);
    // both outcomes are exercised: valid mutations pass, broken ones are refused
    assert.ok((r.exitCodes['0'] ?? 0) > 10 && (r.exitCodes['1'] ?? 0) > 60, JSON.stringify(r.exitCodes));
  });

  it('42 mutated adapters, model files and registry files through merge, export gguf, generate and the registry', async () => {
    const r = await runFuzz({ family: 'export', cases: 42, seed: 20261207, workers: 2, timeoutMs: 60_000, heapMb: 2048 });
    assert.deepEqual(r.failures, []);
    assert.equal(r.counts.ok, 42);
    assert.ok((r.exitCodes['0'] ?? 0) > 10 && (r.exitCodes['1'] ?? 0) > 30, JSON.stringify(r.exitCodes));
  });
});
