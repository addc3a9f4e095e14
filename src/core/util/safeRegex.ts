// Regular expressions from user files (target_modules, exclude_modules, rank_pattern keys, layers_pattern) run on a
// linear-time engine (re2js, a port of RE2) with Python `re` syntax translated; no pattern can hang a match.
import { RE2JS } from 're2js';
import { InputError } from '../errors';

/** Longest pattern accepted (RE2's program grows with it; real patterns are a few dozen characters). */
export const MAX_PATTERN_LENGTH = 4096;

const cache = new Map<string, RE2JS>();

/**
 * Python `re` syntax → RE2: leading inline flags (?i)(?s)(?m) kept (RE2 reads them), (?a)/(?u)/(?L) dropped
 * (module names are ASCII), `\Z` → `\z`. Backreferences and lookaround have no linear-time match: a clear error.
 */
function translate(pattern: string, what: string, file: string | undefined): string {
  const ctx = { ...(file !== undefined ? { file } : {}), actual: JSON.stringify(pattern.length > 200 ? pattern.slice(0, 200) + '…' : pattern) };
  if (pattern.length > MAX_PATTERN_LENGTH) {
    throw new InputError('peft-regex', `${what} is longer than ${MAX_PATTERN_LENGTH} characters`, { ...ctx, hint: 'Use a list of module names instead' });
  }
  let src = pattern;
  const lead = /^\(\?([aiLmsux]+)\)/.exec(src);
  if (lead !== null) {
    const f = lead[1] as string;
    if (f.includes('x')) throw new InputError('peft-regex', `${what} uses verbose mode (?x), which is not supported`, ctx);
    const kept = [...new Set(f.replace(/[aLux]/g, ''))].join('');
    src = (kept !== '' ? `(?${kept})` : '') + src.slice(lead[0].length);
  }
  if (/\(\?P=\w+\)|\\[1-9]/.test(src.replace(/\\\\/g, ''))) {
    throw new InputError('peft-regex', `${what} uses a backreference, which is not supported`, { ...ctx, hint: 'Patterns run on a linear-time engine (RE2 syntax): no backreferences or lookaround' });
  }
  if (/\(\?<?[=!]/.test(src.replace(/\\\\|\\\(/g, ''))) {
    throw new InputError('peft-regex', `${what} uses lookahead or lookbehind, which is not supported`, { ...ctx, hint: 'Patterns run on a linear-time engine (RE2 syntax): no backreferences or lookaround' });
  }
  return src.replace(/\\\\|\\Z/g, (m) => (m === '\\Z' ? '\\z' : m));
}

/** Compile a Python-syntax pattern wrapped by `anchoring` (which must keep `\u0000` as the placeholder for it). */
export function compilePythonRegex(pattern: string, anchoring: (src: string) => string, what = 'pattern', file?: string): RE2JS {
  const key = `${anchoring('\u0000')}\u0001${pattern}`;
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  const src = translate(pattern, what, file);
  let re: RE2JS;
  try {
    re = RE2JS.compile(anchoring(src));
  } catch (e) {
    throw new InputError('peft-regex', `${what} is not a valid regular expression: ${(e as Error).message}`, {
      ...(file !== undefined ? { file } : {}), actual: JSON.stringify(pattern.length > 200 ? pattern.slice(0, 200) + '…' : pattern),
    });
  }
  if (cache.size > 1000) cache.clear();
  cache.set(key, re);
  return re;
}

/** Groups of a match (index 0 = the whole match; null for a group that took no part), or null. */
function groupsOf(re: RE2JS, s: string, how: 'full' | 'prefix'): (string | null)[] | null {
  const m = re.matcher(s);
  if (!(how === 'full' ? m.matches() : m.lookingAt())) return null;
  const out: (string | null)[] = [];
  for (let i = 0; i <= m.groupCount(); i++) out.push(m.group(i));
  return out;
}

/** Python re.fullmatch(pattern, s) on the linear-time engine. */
export function safeFullmatch(pattern: string, s: string, what?: string, file?: string): (string | null)[] | null {
  return groupsOf(compilePythonRegex(pattern, (p) => `(?:${p})`, what, file), s, 'full');
}

/** Python re.match(pattern, s): anchored at the start only. */
export function safeMatch(pattern: string, s: string, what?: string, file?: string): (string | null)[] | null {
  return groupsOf(compilePythonRegex(pattern, (p) => `(?:${p})`, what, file), s, 'prefix');
}

/** Why the pattern cannot be used (one sentence), or null. */
export function pythonRegexProblem(pattern: string, what = 'pattern'): string | null {
  try {
    compilePythonRegex(pattern, (p) => `(?:${p})`, what);
    return null;
  } catch (e) {
    return e instanceof InputError ? e.message.replace(/ \(got .*\)$/s, '') : String(e);
  }
}
