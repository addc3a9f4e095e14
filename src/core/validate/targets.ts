// PEFT's module-matching rules over a ModelInventory, per target_modules entry (for diagnostics and hovers):
// list entries match `name == e or name.endswith("." + e)`, a str is a fullmatch regex, "all-linear" = linears but the head.
import type { ModelInventory, ModuleInfo } from '../hf/types';
import { defaultTargetModulesSpec } from '../peft/defaults';
import { safeFullmatch, safeMatch } from '../util/safeRegex';

export interface EntryMatch {
  entry: string;
  /** Modules the entry matches (before exclude_modules and layers_to_transform). */
  matched: ModuleInfo[];
  /** Distinct decoder-layer indices among `matched`. */
  layers: number[];
}

export interface TargetMatch {
  /** The adapted modules after exclude_modules and layers_to_transform. */
  targets: ModuleInfo[];
  entries: EntryMatch[];
  /** How many matched modules exclude_modules removed (PEFT warns when it is set and removes none). */
  excludedCount: number;
  /** target_modules as used (null → the model type's defaults). */
  spec: string[] | string | null;
}

/** re.fullmatch(pattern, name) on the linear-time engine; false for an invalid pattern. */
export function fullMatch(pattern: string, name: string): boolean {
  try {
    return safeFullmatch(pattern, name) !== null;
  } catch {
    return false;
  }
}

export const entryMatches = (name: string, e: string): boolean => name === e || name.endsWith('.' + e);

/** PEFT's layer index of a module name: `.*?\.[^.]*\.(\d+)\.`, or `.*?\.{pattern}\.(\d+)\.` per layers_pattern. */
export function layerIndexOf(name: string, layersPattern: string[] | string | null): number | null {
  const pats = layersPattern === null ? [null] : Array.isArray(layersPattern) ? layersPattern : [layersPattern];
  for (const p of pats) {
    let m: (string | null)[] | null;
    try {
      m = safeMatch(p === null ? '.*?\\.[^.]*\\.(\\d+)\\.' : `.*?\\.${p}\\.(\\d+)\\.`, name);
    } catch {
      continue;
    }
    if (m !== null) return Number(m[1]);
  }
  return null;
}

export interface TargetOptions {
  targetModules: string[] | string | null;
  excludeModules?: string[] | string | null;
  layersToTransform?: number[] | number | null;
  layersPattern?: string[] | string | null;
}

export function matchTargets(inv: ModelInventory, o: TargetOptions): TargetMatch {
  const spec = o.targetModules ?? defaultTargetModulesSpec(inv.spec.modelType);
  const mods = inv.modules;
  const entries: EntryMatch[] = [];
  let chosen: ModuleInfo[];
  if (spec === null) chosen = [];
  else if (typeof spec === 'string') {
    const matched = spec === 'all-linear' ? mods.filter((m) => (m.kind === 'linear' || m.kind === 'conv1d') && !m.isOutputHead) : mods.filter((m) => fullMatch(spec, m.name));
    entries.push(entryOf(spec, matched));
    chosen = matched;
  } else {
    for (const e of spec) entries.push(entryOf(e, mods.filter((m) => entryMatches(m.name, e))));
    const set = new Set(entries.flatMap((e) => e.matched));
    chosen = mods.filter((m) => set.has(m));
  }
  const ex = o.excludeModules ?? null;
  const before = chosen.length;
  if (ex !== null) chosen = chosen.filter((m) => !(typeof ex === 'string' ? fullMatch(ex, m.name) : ex.some((e) => entryMatches(m.name, e))));
  const excludedCount = before - chosen.length;
  const ltt = o.layersToTransform ?? null;
  if (ltt !== null && typeof spec !== 'string') {
    const want = new Set(Array.isArray(ltt) ? ltt : [ltt]);
    chosen = chosen.filter((m) => {
      const i = layerIndexOf(m.name, o.layersPattern ?? null);
      return i !== null && want.has(i);
    });
  }
  return { targets: chosen, entries, spec, excludedCount };
}

function entryOf(entry: string, matched: ModuleInfo[]): EntryMatch {
  const layers = [...new Set(matched.map((m) => m.layer).filter((l): l is number => l !== null))].sort((a, b) => a - b);
  return { entry, matched, layers };
}

/** Names users write in target_modules: the last component of every adaptable module (q_proj, c_attn, ...). */
export function targetNameChoices(inv: ModelInventory): string[] {
  return [...new Set(inv.modules.filter((m) => m.kind === 'linear' || m.kind === 'conv1d').map((m) => m.name.slice(m.name.lastIndexOf('.') + 1)))];
}
