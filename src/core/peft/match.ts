// PEFT's module-matching rules, exactly: check_target_module_exists (tuners_utils.py), get_pattern_key (utils/other.py),
// the layer-index regexes, and Python `re` patterns translated to JavaScript RegExp (peft v0.20.0).
import { InputError, errorMessage } from '../errors';

const cache = new Map<string, RegExp>();

/**
 * Translate a Python `re` pattern to a JS RegExp source: named groups `(?P<n>…)` → `(?<n>…)`, `(?P=n)` → `\k<n>`,
 * `\A` → `^`, `\Z` → `$`, leading inline flags `(?i)`/`(?s)` → RegExp flags. Throws InputError on an invalid pattern.
 */
export function pythonRegex(pattern: string, anchoring: (src: string) => string, what = 'pattern'): RegExp {
  const cacheKey = `${anchoring('\u0000')}\u0001${pattern}`;
  const hit = cache.get(cacheKey);
  if (hit !== undefined) return hit;
  let src = pattern;
  let flags = '';
  const lead = /^\(\?([aiLmsux]+)\)/.exec(src);
  if (lead !== null) {
    const f = lead[1] as string;
    if (f.includes('x')) throw new InputError('peft-regex', `${what} uses verbose mode (?x), which is not supported`, { actual: pattern });
    if (f.includes('i')) flags += 'i';
    if (f.includes('s')) flags += 's';
    if (f.includes('m')) flags += 'm';
    src = src.slice(lead[0].length);
  }
  src = src.replace(/\\\\|\(\?P<|\(\?P=(\w+)\)|\\A|\\Z/g, (m, name: string | undefined) => {
    if (m === '\\\\') return m;
    if (m === '(?P<') return '(?<';
    if (m === '\\A') return '^';
    if (m === '\\Z') return '$(?![\\s\\S])';
    return `\\k<${name ?? ''}>`;
  });
  let re: RegExp;
  try {
    re = new RegExp(anchoring(src), flags);
  } catch (e) {
    throw new InputError('peft-regex', `${what} is not a valid regular expression: ${errorMessage(e)}`, { actual: pattern });
  }
  cache.set(cacheKey, re);
  return re;
}

/** Python re.fullmatch(pattern, s). */
export function reFullmatch(pattern: string, s: string, what?: string): RegExpExecArray | null {
  return pythonRegex(pattern, (p) => `^(?:${p})$`, what).exec(s);
}

/** Python re.match(pattern, s): anchored at the start only. */
export function reMatch(pattern: string, s: string, what?: string): RegExpExecArray | null {
  return pythonRegex(pattern, (p) => `^(?:${p})`, what).exec(s);
}

/** The subset of LoraConfig the matching rules read. */
export interface MatchConfig {
  target_modules: string[] | string | null;
  exclude_modules: string[] | string | null;
  modules_to_save: string[] | null;
  layers_to_transform: number[] | number | null;
  layers_pattern: string[] | string | null;
}

export type MatchResult = 'matched' | 'excluded' | 'unmatched';

/** Decoder layer index of a module key, as PEFT reads it (first numbered segment, or after `layers_pattern`). */
export function layerIndexOf(key: string, layersPattern: string[] | string | null): number | null {
  let m: RegExpExecArray | null = null;
  if (layersPattern === null || layersPattern.length === 0) {
    m = reMatch('.*?\\.[^.]*\\.(\\d+)\\.', key);
  } else {
    for (const pattern of typeof layersPattern === 'string' ? [layersPattern] : layersPattern) {
      m = reMatch(`.*?\\.${pattern}\\.(\\d+)\\.`, key, `layers_pattern "${pattern}"`);
      if (m !== null) break;
    }
  }
  return m === null ? null : Number(m[1]);
}

/** Does `key` fall under modules_to_save (`re.match(rf"(^|.*\.){m}($|\..*)", key)`)? Adapters never target those. */
export function isModuleToSave(modulesToSave: string[] | null, key: string): boolean {
  if (modulesToSave === null || modulesToSave.length === 0) return false;
  return modulesToSave.some((m) => reMatch(`(^|.*\\.)${m}($|\\..*)`, key, `modules_to_save entry "${m}"`) !== null);
}

/** Is `key` excluded by exclude_modules (same rules as a target list or regex)? */
export function isExcluded(exclude: string[] | string | null, key: string): boolean {
  if (exclude === null || exclude.length === 0) return false;
  if (typeof exclude === 'string') return reFullmatch(exclude, key, 'exclude_modules') !== null;
  return exclude.includes(key) || exclude.some((e) => key.endsWith(`.${e}`));
}

/**
 * PEFT's check_target_module_exists for one module key. `target_modules` must already be resolved
 * (null → the model type's defaults; "all-linear" → the list of linear module names).
 */
export function checkTargetModuleExists(cfg: MatchConfig, key: string): MatchResult {
  if (isExcluded(cfg.exclude_modules, key)) return 'excluded';
  if (isModuleToSave(cfg.modules_to_save, key)) return 'excluded';
  const targets = cfg.target_modules;
  if (targets === null) return 'unmatched';
  if (typeof targets === 'string') return reFullmatch(targets, key, 'target_modules') !== null ? 'matched' : 'unmatched';
  if (targets.includes(key)) return 'matched';
  let found = targets.some((t) => key.endsWith(`.${t}`));
  const idx = cfg.layers_to_transform;
  const usingLayers = idx !== null && (Array.isArray(idx) ? idx.length !== 0 : true);
  if (usingLayers && found) {
    const layer = layerIndexOf(key, cfg.layers_pattern);
    found = layer !== null && (typeof idx === 'number' ? layer === idx : (idx as number[]).includes(layer));
  }
  return found ? 'matched' : 'unmatched';
}

/** The list entries of target_modules that name `key` (equal, or a `"." + entry` suffix). */
export function matchingEntries(targets: string[], key: string): string[] {
  return targets.filter((t) => key === t || key.endsWith(`.${t}`));
}

/** get_pattern_key + dict lookup: the rank_pattern / alpha_pattern value for `key`, or `fallback`. */
export function patternValue(pattern: Record<string, number>, key: string, fallback: number): number {
  for (const [k, v] of Object.entries(pattern)) {
    if (reMatch(`(.*\\.)?(${k})$`, key, `pattern key "${k}"`) !== null) return v;
  }
  return Object.hasOwn(pattern, key) ? (pattern[key] as number) : fallback;
}

/** modules_to_save matching of _set_trainable: plain `key.endswith(name)` (no dot), over all named modules. */
export function isTrainableCopyTarget(modulesToSave: string[] | null, key: string): boolean {
  return modulesToSave !== null && modulesToSave.some((m) => key.endsWith(m));
}
