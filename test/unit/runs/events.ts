// Run event records for the run tests, shaped exactly as CONTRACTS.md §4 (start, step).
// Shared by runState, readRuns and worker-process tests.
import type { RunEvent, StepEvent } from '../../../src/shared/protocol';

export function startEvent(dir: string, maxSteps = 10, resumed?: number): RunEvent {
  return {
    event: 'start', run_dir: dir, run_name: 'r1', trainable: 1024, total: 101024, device: 'cpu', base_model: '/m',
    max_steps: maxSteps, time: '2026-11-28T10:00:00.000Z', ...(resumed !== undefined ? { resumed_from_step: resumed } : {}),
  };
}

export function stepEvent(step: number, loss: number, elapsed = step * 2): StepEvent {
  return { event: 'step', step, epoch: step / 10, loss, lr: 1e-4, grad_norm: 0.5, tokens: 64 * step, tokens_per_s: 32, elapsed_s: elapsed };
}
