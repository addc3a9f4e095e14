// The parameter table: trainable / total / percent from the start event, grouped per target module name
// (q_proj, c_attn, ...) and per layer, with the per-module rows. Pure; drawn into #param-table.
import type { StartEvent } from '../../../src/shared/protocol';

export interface ParamModuleRow {
  name: string;
  /** The module's own name (last path component), the key target_modules matches on. */
  target: string;
  /** Layer index by PEFT's rule (first `.<digits>.` after two path components), or undefined. */
  layer?: number;
  r: number;
  in: number;
  out: number;
  params: number;
}

export interface ParamGroupRow {
  key: string;
  modules: number;
  params: number;
  /** Share of the trainable parameters, percent. */
  percentOfTrainable: number;
}

export interface ParamTable {
  trainable: number;
  total: number;
  percent: number;
  modules: ParamModuleRow[];
  byTarget: ParamGroupRow[];
  byLayer: ParamGroupRow[];
  /** Trainable parameters not in any LoRA module row (trainable biases, modules_to_save copies). */
  otherTrainable: number;
}

// PEFT tuners_utils: layer index = re.match(r".*?\.[^.]*\.(\d+)\.", key)
const LAYER_RE = /^.*?\.[^.]*\.(\d+)\./;

export function layerIndex(name: string): number | undefined {
  const m = LAYER_RE.exec(name);
  return m?.[1] !== undefined ? Number(m[1]) : undefined;
}

export function buildParamTable(start: Pick<StartEvent, 'trainable' | 'total' | 'modules'>): ParamTable {
  const modules: ParamModuleRow[] = (start.modules ?? []).map((m) => {
    const layer = layerIndex(m.name);
    const row: ParamModuleRow = { name: m.name, target: m.name.slice(m.name.lastIndexOf('.') + 1), r: m.r, in: m.in, out: m.out, params: m.params };
    if (layer !== undefined) row.layer = layer;
    return row;
  });
  const trainable = start.trainable;
  const share = (p: number): number => (trainable > 0 ? (100 * p) / trainable : 0);
  const group = (keyOf: (m: ParamModuleRow) => string, order: (a: string, b: string) => number): ParamGroupRow[] => {
    const acc = new Map<string, { modules: number; params: number }>();
    for (const m of modules) {
      const k = keyOf(m);
      const g = acc.get(k) ?? { modules: 0, params: 0 };
      g.modules += 1;
      g.params += m.params;
      acc.set(k, g);
    }
    return [...acc.entries()].sort(([a], [b]) => order(a, b)).map(([key, g]) => ({ key, modules: g.modules, params: g.params, percentOfTrainable: share(g.params) }));
  };
  const firstSeen = new Map<string, number>();
  modules.forEach((m, i) => { if (!firstSeen.has(m.target)) firstSeen.set(m.target, i); });
  const byTarget = group((m) => m.target, (a, b) => (firstSeen.get(a) ?? 0) - (firstSeen.get(b) ?? 0));
  const byLayer = group((m) => (m.layer !== undefined ? `layer ${m.layer}` : 'other'), (a, b) => layerKeyOrder(a) - layerKeyOrder(b));
  const inModules = modules.reduce((s, m) => s + m.params, 0);
  return {
    trainable,
    total: start.total,
    percent: start.total > 0 ? (100 * trainable) / start.total : 0,
    modules,
    byTarget,
    byLayer,
    otherTrainable: trainable - inModules,
  };
}

function layerKeyOrder(k: string): number {
  const m = /^layer (\d+)$/.exec(k);
  return m?.[1] !== undefined ? Number(m[1]) : Number.MAX_SAFE_INTEGER;
}
