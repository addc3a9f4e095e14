// File-system failures (disk full, read-only or forbidden folder, a file where a folder should be, a name too long)
// become InputErrors naming the path and what to do, instead of stack traces (CLI exit 1, not 3).
import { InputError, type ErrorCode } from '../errors';

const HINTS: Record<string, { what: string; hint: string }> = {
  ENOSPC: { what: 'the disk is full', hint: 'Free some space, then continue with --resume RUN_DIR (the last complete checkpoint was kept)' },
  EDQUOT: { what: 'the disk quota is used up', hint: 'Free some space, then continue with --resume RUN_DIR (the last complete checkpoint was kept)' },
  EACCES: { what: 'permission denied', hint: 'Choose a folder you can write to (output_dir in the recipe) or fix its permissions' },
  EPERM: { what: 'operation not permitted', hint: 'Choose a folder you can write to (output_dir in the recipe) or fix its permissions' },
  EROFS: { what: 'the file system is read-only', hint: 'Choose a writable folder for output_dir in the recipe' },
  ENOTDIR: { what: 'a part of the path is a file, not a folder', hint: 'output_dir (and the folders above it) must be folders' },
  EISDIR: { what: 'the path is a folder where a file was expected', hint: 'Remove or rename that folder' },
  EEXIST: { what: 'the path already exists', hint: 'Remove it or choose another name' },
  ENAMETOOLONG: { what: 'the path is too long', hint: 'Use a shorter output_dir or run_name' },
  EMFILE: { what: 'too many open files', hint: 'Close other programs or raise the open-file limit (ulimit -n)' },
  ENFILE: { what: 'too many open files in the system', hint: 'Close other programs and try again' },
  EIO: { what: 'an input/output error from the disk', hint: 'Check the disk; the last complete checkpoint was kept' },
  ENXIO: { what: 'not a regular file or folder', hint: 'Point to a folder on disk' },
  ENODEV: { what: 'not a regular file or folder', hint: 'Point to a folder on disk' },
  ELOOP: { what: 'too many levels of symbolic links', hint: 'Fix the symbolic links in the path' },
};

/** The system error's code when `e` is one of the file-system failures above, else null. */
export function fsErrorCode(e: unknown): string | null {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' && Object.hasOwn(HINTS, code) ? code : null;
}

/** `e` as an InputError naming the path (the error's own, else `fallbackPath`), or `e` unchanged. */
export function fsErrorToInput(e: unknown, fallbackPath?: string): unknown {
  const code = fsErrorCode(e);
  if (code === null) return e;
  const err = e as NodeJS.ErrnoException;
  const h = HINTS[code] as { what: string; hint: string };
  const file = err.path ?? fallbackPath;
  const op = err.syscall !== undefined ? ` (${err.syscall})` : '';
  return new InputError(`fs-${code.toLowerCase()}` as ErrorCode, `cannot write or read here: ${h.what}${op}`, { ...(file !== undefined ? { file: file.length > 300 ? file.slice(0, 300) + '…' : file } : {}), hint: h.hint });
}

/** Runs `f`; a file-system failure inside it is rethrown as an InputError naming `path` when the error names none. */
export function withPath<T>(path: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (fsErrorCode(e) !== null && (e as NodeJS.ErrnoException).path === undefined) (e as NodeJS.ErrnoException).path = path;
    throw e;
  }
}
