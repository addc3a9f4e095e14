// The names a server answers to: the base model, adapters (NAME → a loaded adapter) and routes (NAME → adapters
// with weights, picked per request by a seeded draw), as /v1/models lists them and requests' `model` names them.
import { InputError } from '../errors';
import { Rng } from '../util/random';

export interface RouteTarget {
  adapter: string;
  weight: number;
}

export class ModelTable {
  /** Adapter name → Generator adapter id (its folder). */
  readonly adapters = new Map<string, { id: string; path: string }>();
  readonly routes = new Map<string, RouteTarget[]>();
  private readonly rng: Rng;

  constructor(readonly baseName: string, routeSeed: number) {
    this.rng = new Rng(routeSeed);
  }

  /** /v1/models order: the base, the adapters, the routes. */
  names(): { id: string; kind: 'base' | 'adapter' | 'route' }[] {
    return [
      { id: this.baseName, kind: 'base' as const },
      ...[...this.adapters.keys()].map((id) => ({ id, kind: 'adapter' as const })),
      ...[...this.routes.keys()].map((id) => ({ id, kind: 'route' as const })),
    ];
  }

  checkNewName(name: string): void {
    if (!/^[A-Za-z0-9][A-Za-z0-9._@:/-]{0,127}$/.test(name)) {
      throw new InputError('serve-name', `"${name}" is not a valid model name`, { hint: 'Use letters, digits and . _ - @ : / (at most 128 characters)' });
    }
    if (name === this.baseName || this.adapters.has(name) || this.routes.has(name)) {
      throw new InputError('serve-name-taken', `the name "${name}" is already served`, { hint: 'Unload it first, or pick another name' });
    }
  }

  /** Sets (or replaces) a route; every target must be a loaded adapter or the base, the weights positive. */
  setRoute(name: string, targets: RouteTarget[]): void {
    if (targets.length === 0) throw new InputError('serve-route', `route "${name}" needs at least one adapter`);
    for (const t of targets) {
      if (t.adapter !== this.baseName && !this.adapters.has(t.adapter)) {
        throw new InputError('serve-route', `route "${name}" names "${t.adapter}", which is not loaded`, { hint: `Loaded: ${[this.baseName, ...this.adapters.keys()].join(', ')}` });
      }
      if (!Number.isFinite(t.weight) || t.weight < 0) throw new InputError('serve-route', `route "${name}": the weight of "${t.adapter}" must be a number ≥ 0`, { actual: String(t.weight) });
    }
    if (targets.every((t) => t.weight === 0)) throw new InputError('serve-route', `route "${name}": all weights are 0`);
    if (this.adapters.has(name) || name === this.baseName) throw new InputError('serve-name-taken', `"${name}" is an adapter's name, not a route's`);
    this.routes.set(name, targets.map((t) => ({ ...t })));
  }

  /** The served name (an adapter or the base) and its Generator adapter id (null: the base). */
  resolve(model: string | undefined): { name: string; adapterId: string | null } {
    let name = model ?? this.baseName;
    const route = this.routes.get(name);
    if (route !== undefined) name = pick(route, this.rng.uniform());
    if (name === this.baseName) return { name, adapterId: null };
    const a = this.adapters.get(name);
    if (a === undefined) {
      throw new InputError('serve-unknown-model', `the model "${name}" does not exist`, { hint: `Served: ${this.names().map((n) => n.id).join(', ')}` });
    }
    return { name, adapterId: a.id };
  }

  /** Routes that name the adapter (an adapter in a route cannot be unloaded). */
  routesUsing(adapter: string): string[] {
    return [...this.routes].filter(([, ts]) => ts.some((t) => t.adapter === adapter)).map(([n]) => n);
  }
}

/** The target the uniform draw u ∈ [0, 1) falls into, the weights taken as shares of their sum. */
export function pick(targets: readonly RouteTarget[], u: number): string {
  const total = targets.reduce((s, t) => s + t.weight, 0);
  let acc = 0;
  for (const t of targets) {
    acc += t.weight / total;
    if (u < acc && t.weight > 0) return t.adapter;
  }
  return [...targets].reverse().find((t) => t.weight > 0)!.adapter;
}

/** `ADAPTER:WEIGHT,ADAPTER:WEIGHT` (the CLI's --route value after NAME=). */
export function parseRouteTargets(spec: string, what: string): RouteTarget[] {
  return spec.split(',').map((part) => {
    const i = part.lastIndexOf(':');
    const weight = i > 0 ? Number(part.slice(i + 1)) : NaN;
    if (i <= 0 || part.slice(i + 1).trim() === '' || !Number.isFinite(weight)) {
      throw new InputError('serve-route', `${what}: "${part}" is not ADAPTER:WEIGHT`, { hint: 'Example: --route chat=v1:80,v2:20' });
    }
    return { adapter: part.slice(0, i), weight };
  });
}
