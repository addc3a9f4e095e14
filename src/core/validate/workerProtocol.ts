// The messages between the editor's host and its validation worker process (dist/validateWorker.js): run a job,
// cancel it, forget cached model files; answers are partial and final problem lists, or a failure.
import type { ValidationJob } from './job';
import type { Problem } from './types';

export type HostToValidator =
  | { type: 'run'; id: number; job: ValidationJob }
  | { type: 'cancel'; id: number }
  | { type: 'invalidate'; file: string };

export type ValidatorToHost =
  | { type: 'partial'; id: number; problems: Problem[] }
  | { type: 'done'; id: number; problems: Problem[] }
  | { type: 'failed'; id: number; message: string };

export function isHostToValidator(m: unknown): m is HostToValidator {
  const t = (m as { type?: unknown } | null)?.type;
  return t === 'run' || t === 'cancel' || t === 'invalidate';
}
