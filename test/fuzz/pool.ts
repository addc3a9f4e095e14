// Runs fuzzing cases in worker threads: a case that runs past its time limit is a hang (the worker is terminated), one
// whose worker exceeds its heap limit is an out-of-memory, and each result is classified against the CLI's contract.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { makeProject, recipe } from '../unit/train/project';
import type { CaseResult, Family } from './fuzzCase';
import { main } from '../../src/cli/main';
import { writeRandomAdapter } from '../helpers/randomAdapter';

export type Outcome = 'ok' | 'crash' | 'hang' | 'oom' | 'unnamed' | 'leak';

export interface FuzzOptions {
  /** Which files and commands (fuzzCase.ts): "inputs" (default) or "export". */
  family?: Family;
  cases: number;
  seed: number;
  first?: number;
  workers?: number;
  timeoutMs?: number;
  heapMb?: number;
  big?: boolean;
  onCase?: (index: number, outcome: Outcome, detail: string) => void;
}

export interface FuzzReport {
  counts: Record<Outcome, number>;
  failures: { index: number; outcome: Outcome; detail: string }[];
  slowestMs: number;
  exitCodes: Record<string, number>;
  /** Largest resident set of the whole process (all workers) seen after a case, in MB. */
  maxRssMb: number;
}

/** The project every case starts from: the tiny Llama fixture, data, adapter_config.json and a recipe. */
export async function makeBase(dir: string, family: Family = 'inputs'): Promise<void> {
  mkdirSync(dir, { recursive: true });
  await makeProject(dir);
  writeFileSync(join(dir, 'peft-train.yaml'), recipe({ training: '  max_steps: 2\n', top: 'adapter_config: adapter_config.json\nrun_name: fuzz\n' }));
  if (family !== 'export') return;
  // an adapter, a chat for generate --messages, and the adapter registered as demo v1
  writeRandomAdapter({ modelDir: join(dir, 'model'), outDir: join(dir, 'adapter'), config: { r: 4, lora_alpha: 8, target_modules: ['q_proj', 'v_proj'] } });
  writeFileSync(join(dir, 'chat.json'), JSON.stringify([{ role: 'user', content: 'Hello there' }]));
  const quiet = { out: (): void => {}, err: (): void => {}, isTTY: false };
  const code = await main(['adapters', 'register', 'demo', join(dir, 'adapter'), '--workspace', dir, '--model', join(dir, 'model')], quiet);
  if (code !== 0) throw new Error(`registering the fuzzing base's adapter exited ${code}`);
}

export function classify(r: CaseResult): { outcome: Outcome; detail: string } {
  const d = (c: CaseResult['commands'][number]): string => `#${r.index} ${r.target} (${r.what}) ${c.argv.join(' ')} → ${c.code}: ${c.message.slice(0, 300)}`;
  for (const c of r.commands) if (c.code !== 0 && c.code !== 1 && c.code !== 2) return { outcome: 'crash', detail: d(c) };
  for (const c of r.commands) if (c.leaked) return { outcome: 'leak', detail: d(c) };
  for (const c of r.commands) if (c.code === 1 && !c.namesFile) return { outcome: 'unnamed', detail: d(c) };
  return { outcome: 'ok', detail: '' };
}

export async function runFuzz(o: FuzzOptions): Promise<FuzzReport> {
  const root = mkdtempSync(join(tmpdir(), 'peft-fuzz-'));
  const base = join(root, 'base');
  await makeBase(base, o.family);
  const counts: Record<Outcome, number> = { ok: 0, crash: 0, hang: 0, oom: 0, unnamed: 0, leak: 0 };
  const failures: FuzzReport['failures'] = [];
  const exitCodes: Record<string, number> = {};
  let slowestMs = 0;
  let maxRssMb = 0;
  const first = o.first ?? 0;
  let next = first;
  const record = (index: number, outcome: Outcome, detail: string): void => {
    counts[outcome]++;
    maxRssMb = Math.max(maxRssMb, Math.round(process.memoryUsage().rss / 1024 / 1024));
    if (outcome !== 'ok') failures.push({ index, outcome, detail });
    o.onCase?.(index, outcome, detail);
  };
  const lane = async (): Promise<void> => {
    let worker: Worker | null = null;
    while (next < first + o.cases) {
      const index = next++;
      worker ??= new Worker(join(__dirname, 'worker.cjs'), { resourceLimits: { maxOldGenerationSizeMb: o.heapMb ?? 2048 } });
      const w: Worker = worker;
      const res = await new Promise<{ kind: 'result'; r: CaseResult } | { kind: 'error' | 'hang' | 'oom'; detail: string }>((resolve) => {
        const timer = setTimeout(() => resolve({ kind: 'hang', detail: `#${index} ran past ${o.timeoutMs ?? 30000} ms` }), o.timeoutMs ?? 30000);
        const done = (v: Parameters<typeof resolve>[0]): void => {
          clearTimeout(timer);
          w.removeAllListeners('message');
          w.removeAllListeners('error');
          w.removeAllListeners('exit');
          resolve(v);
        };
        w.on('message', (m: { ok: true; result: CaseResult } | { ok: false; error: string }) => done(m.ok ? { kind: 'result', r: m.result } : { kind: 'error', detail: `#${index}: ${m.error}` }));
        w.on('error', (e: Error & { code?: string }) => done({ kind: e.code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'oom' : 'error', detail: `#${index}: ${e.message}` }));
        w.on('exit', (code) => done({ kind: 'error', detail: `#${index}: worker exited with ${code}` }));
        w.postMessage({ family: o.family ?? 'inputs', base, root, seed: o.seed, index, big: o.big ?? false });
      });
      if (res.kind === 'result') {
        for (const c of res.r.commands) {
          exitCodes[String(c.code)] = (exitCodes[String(c.code)] ?? 0) + 1;
          slowestMs = Math.max(slowestMs, c.ms);
        }
        const { outcome, detail } = classify(res.r);
        record(index, outcome, detail);
      } else {
        record(index, res.kind === 'error' ? 'crash' : res.kind, res.detail);
        w.removeAllListeners();
        await w.terminate();
        worker = null;
      }
    }
    if (worker !== null) await worker.terminate();
  };
  try {
    await Promise.all(Array.from({ length: o.workers ?? 1 }, lane));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return { counts, failures, slowestMs, exitCodes, maxRssMb };
}
