// JSON from files, parsed safely: nesting deeper than MAX_JSON_DEPTH is refused before any recursive reader sees it
// (10k nested arrays overflowed the stack), and parse errors give line and column but never the file's content.
import * as fs from 'node:fs';
import { InputError, type ErrorCode } from '../errors';

/** Deepest nesting of arrays/objects accepted; real configs and headers nest fewer than 10 levels. */
export const MAX_JSON_DEPTH = 256;

export interface TextPosition {
  offset: number;
  /** 1-based. */
  line: number;
  column: number;
}

export function positionAt(text: string, offset: number): TextPosition {
  let line = 1;
  let last = -1;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      last = i;
    }
  }
  return { offset, line, column: offset - last };
}

/** Where `text` first nests deeper than `max` (strings and comments skipped), or null. Linear, no recursion. */
export function deepNestingAt(text: string, max = MAX_JSON_DEPTH): TextPosition | null {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34) { // "
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 92) i++;
        else if (d === 34) break;
      }
    } else if (c === 47 && text.charCodeAt(i + 1) === 47) { // // comment (jsonc)
      while (i < text.length && text.charCodeAt(i) !== 10) i++;
    } else if (c === 47 && text.charCodeAt(i + 1) === 42) { // /* comment */
      const end = text.indexOf('*/', i + 2);
      i = end < 0 ? text.length : end + 1;
    } else if (c === 91 || c === 123) {
      if (++depth > max) return positionAt(text, i);
    } else if (c === 93 || c === 125) {
      depth--;
    }
  }
  return null;
}

/** Throws InputError naming `file` (and line) when `text` nests deeper than MAX_JSON_DEPTH. */
export function assertJsonDepth(text: string, file: string, what = 'the file', lineBase = 0): void {
  const at = deepNestingAt(text);
  if (at !== null) {
    throw new InputError('json-too-deep', `${what} nests arrays/objects more than ${MAX_JSON_DEPTH} levels deep (at column ${at.column})`, {
      file, line: lineBase + at.line, hint: 'The file is damaged or was not written by the tool that should have written it',
    });
  }
}

/**
 * JSON.parse's error, without the excerpt of the input V8 puts in it (a file we could not parse may be anything,
 * e.g. /etc/passwd through a symlink): "Unexpected token at line 3, column 5".
 */
export function jsonErrorMessage(e: unknown, text: string): string {
  const msg = e instanceof Error ? e.message : String(e);
  const pos = /position (\d+)/.exec(msg);
  const kind = /^Unexpected end of JSON input/.test(msg) || /Unterminated string/.test(msg) ? 'unexpected end of the JSON text'
    : /^Bad control character/.test(msg) ? 'a control character inside a string'
      : /^Expected/.test(msg) ? msg.replace(/ in JSON at position.*$/s, '')
        : 'unexpected character';
  if (pos === null) return kind;
  const p = positionAt(text, Number(pos[1]));
  return `${kind} at line ${p.line}, column ${p.column}`;
}

/** JSON.parse with the depth limit and a content-free error, both naming `file`; `code` is the syntax error's code. */
export function parseJsonText(text: string, file: string, what = 'the file', lineBase = 0, code: ErrorCode = 'json-syntax'): unknown {
  assertJsonDepth(text, file, what, lineBase);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new InputError(code, `${what} is not valid JSON: ${jsonErrorMessage(e, text)}`, { file, ...(lineBase > 0 ? { line: lineBase } : {}) });
  }
}

/**
 * Reads and parses a JSON file with parseJsonText's limits. A file that cannot be read is an InputError `readCode`
 * naming it (never a stack trace); a file that is not JSON is `code`, with line and column but none of its content.
 */
export function readJsonFile(file: string, opts: { what?: string; code?: ErrorCode; readCode?: ErrorCode } = {}): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError(opts.readCode ?? 'file-not-found', code === 'ENOENT' ? 'file not found' : `cannot read it (${code ?? 'read error'})`, { file });
  }
  return parseJsonText(text, file, opts.what ?? 'the file', 0, opts.code ?? 'json-syntax');
}

/** readJsonFile for a file that must hold a JSON object. */
export function readJsonObject(file: string, opts: { what?: string; code?: ErrorCode; readCode?: ErrorCode } = {}): Record<string, unknown> {
  const v = readJsonFile(file, opts);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new InputError(opts.code ?? 'json-syntax', `${opts.what ?? 'the file'} must be a JSON object`, { file });
  return v as Record<string, unknown>;
}
