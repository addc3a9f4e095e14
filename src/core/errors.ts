// Typed errors for the core: every error says what is wrong, where (file, line, tensor) and what to do.
// The CLI maps them to exit code 1 (bad input); the editor shows them with a "Show Log" action.
import type { ErrorCode } from './errorCodes';

export type { ErrorCode } from './errorCodes';

export interface ErrorContext {
  file?: string;
  line?: number;
  tensor?: string;
  expected?: string;
  actual?: string;
  hint?: string;
}

export class PeftStudioError extends Error {
  readonly code: ErrorCode;
  readonly context: ErrorContext;
  /** The message without the file/expected/hint decorations (to rebuild it with more context). */
  readonly detail: string;

  constructor(code: ErrorCode, message: string, context: ErrorContext = {}) {
    super(PeftStudioError.format(message, context));
    this.name = 'PeftStudioError';
    this.code = code;
    this.context = context;
    this.detail = message;
  }

  private static format(message: string, c: ErrorContext): string {
    const where: string[] = [];
    if (c.file !== undefined) where.push(c.line !== undefined ? `${c.file}:${c.line}` : c.file);
    if (c.tensor !== undefined) where.push(`tensor "${c.tensor}"`);
    let text = where.length > 0 ? `${where.join(', ')}: ${message}` : message;
    if (c.expected !== undefined || c.actual !== undefined) {
      // Only the side that is known: "(got array)" rather than "(expected ?, got array)".
      const parts = [c.expected !== undefined ? `expected ${c.expected}` : '', c.actual !== undefined ? `got ${c.actual}` : ''].filter((x) => x !== '');
      text += ` (${parts.join(', ')})`;
    }
    if (c.hint !== undefined) text += `. ${c.hint}`;
    return text;
  }
}

/** Input the user can fix (a file, a config value): CLI exit code 1. */
export class InputError extends PeftStudioError {
  constructor(code: ErrorCode, message: string, context: ErrorContext = {}) {
    super(code, message, context);
    this.name = 'InputError';
  }
}

/** Wrong command-line usage: CLI exit code 2. */
export class UsageError extends PeftStudioError {
  constructor(message: string, hint?: string) {
    super('usage', message, hint !== undefined ? { hint } : {});
    this.name = 'UsageError';
  }
}

/** The message of anything thrown: an Error's message, or the value as a string. */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Runs `f`; an InputError from it that names no file is rethrown naming `file` (the file whose content was at fault). */
export function withFile<T>(file: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof InputError && e.context.file === undefined) throw new InputError(e.code, e.detail, { ...e.context, file });
    throw e;
  }
}

/** The stack of an Error (its message when there is none), or the value as a string: for internal errors. */
export function errorStack(e: unknown): string {
  return e instanceof Error ? (e.stack ?? e.message) : String(e);
}
