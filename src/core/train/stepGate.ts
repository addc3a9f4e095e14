// Test hooks that hold a run at a known step, so that tests which stop, cancel or watch a run in flight never race
// the machine's speed. Both are off unless their environment variable is set (only test harnesses set them).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A folder of gate files: `<folder>/<run name>` holds a step number N, and the run does not start step N+1
 * until the file holds a larger number, is removed, or the run is stopped. No file for the run: no gate.
 */
export const STEP_GATE_ENV = 'PEFT_STUDIO_TEST_STEP_GATE';
/** A factor >= 1: each step is followed by a pause of (factor - 1) × its own duration (a slower machine). */
export const SLOWDOWN_ENV = 'PEFT_STUDIO_TEST_SLOWDOWN';

const POLL_MS = 20;

/** Waits while the gate holds step `next` of run `runName`; returns at once when no gate applies or on abort. */
export async function waitAtStepGate(runName: string, next: number, signal?: AbortSignal, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const folder = env[STEP_GATE_ENV];
  if (folder === undefined || folder === '') return;
  const file = join(folder, runName);
  while (signal?.aborted !== true) {
    let limit: number;
    try {
      limit = Number(readFileSync(file, 'utf8').trim());
    } catch {
      return; // no gate file for this run (or it was removed): run freely
    }
    if (!Number.isFinite(limit) || next <= limit) return;
    await pause(POLL_MS, signal);
  }
}

/** After a step that took `stepMs`, pauses (factor - 1) × stepMs when SLOWDOWN_ENV asks for a slower machine. */
export async function simulateSlowMachine(stepMs: number, signal?: AbortSignal, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const factor = Number(env[SLOWDOWN_ENV] ?? '1');
  if (!Number.isFinite(factor) || factor <= 1) return;
  await pause((factor - 1) * stepMs, signal);
}

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
