// Worker side of the fuzzing pool: runs one case per message and posts its result back.
import { parentPort } from 'node:worker_threads';
import { runCase, type CaseInput } from './fuzzCase';

parentPort?.on('message', (c: CaseInput) => {
  void runCase(c).then(
    (r) => parentPort?.postMessage({ ok: true, result: r }),
    (e: unknown) => parentPort?.postMessage({ ok: false, index: c.index, error: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
  );
});
