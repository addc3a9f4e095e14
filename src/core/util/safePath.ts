// Values read from files that become paths (a run name, a checkpoint step) are checked here first, so that a
// crafted recipe or checkpoint can never make us write, rename or delete anything outside the folder we own.
import { isAbsolute, relative, resolve } from 'node:path';
import { InputError } from '../errors';

/** Longest run name we accept (file systems allow 255 bytes per name; we keep room for suffixes). */
export const MAX_FOLDER_NAME = 120;

/**
 * Why `name` cannot be a single folder name (one sentence), or null when it can: no path separators, not `.`/`..`,
 * no control characters, not empty, at most MAX_FOLDER_NAME characters.
 */
export function folderNameProblem(name: string): string | null {
  if (name.trim() === '') return 'must not be empty';
  if (name.length > MAX_FOLDER_NAME) return `must be at most ${MAX_FOLDER_NAME} characters, got ${name.length}`;
  if (/[/\\]/.test(name)) return 'must be a folder name, not a path (no "/" or "\\")';
  if (name === '.' || name === '..') return 'must be a folder name, not "." or ".."';
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'must not contain control characters';
  if (/[<>:"|?*]/.test(name)) return 'must not contain any of < > : " | ? * (not allowed in Windows folder names)';
  return null;
}

/** True when `child` is `parent` itself or lies inside it (after resolving `..`; symlinks are not followed). */
export function isInside(parent: string, child: string): boolean {
  const rel = relative(resolve(parent), resolve(child));
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** Throws unless `child` lies strictly inside `parent`: the guard in front of every rename and recursive delete. */
export function assertInside(parent: string, child: string, what: string): void {
  if (!isInside(parent, child) || resolve(parent) === resolve(child)) {
    throw new InputError('path-escape', `${what} would be outside the folder it belongs to`, {
      file: resolve(child),
      expected: `a path inside ${resolve(parent)}`,
      hint: 'The value that built this path came from a file that was edited or damaged; nothing was written or deleted',
    });
  }
}

/** A non-negative safe integer (a step count read from a file), or null. */
export function asStepNumber(v: unknown): number | null {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : null;
}
