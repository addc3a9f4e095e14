// Which extra graph inputs the loaded adapters need beyond LoRA A/B: DoRA scales and bias deltas per module, and the
// modules_to_save copies / trainable-token deltas, checked across adapters (stacked: stackedExtras.ts).
import { InputError } from '../errors';
import type { ModelInventory, ModuleInfo } from '../hf/types';
import type { SavedModuleParam } from '../peft/savedModules';
import type { LoadedAdapter } from './adapter';
import { unstackableCopy } from './stackedExtras';

export interface AdapterInputs {
  /** Modules with a DoRA scale input (some loaded adapter uses DoRA there; the others feed ones). */
  dora: Set<string>;
  /** Modules with a bias-delta input (a trained bias or a lora_B bias; the others feed zeros). */
  biased: Set<string>;
  /** modules_to_save copies and token deltas, sorted by key (the graph's input order). */
  copies: SavedModuleParam[];
}

/** The inputs the graph over `modules` needs so that every adapter in `adapters` can be fed. */
export function adapterInputs(inventory: ModelInventory, adapters: Iterable<LoadedAdapter>, modules: readonly ModuleInfo[], stacked: boolean): AdapterInputs {
  const dora = new Set<string>();
  const biased = new Set<string>();
  const copies = new Map<string, SavedModuleParam>();
  for (const adapter of adapters) {
    for (const [name, m] of adapter.modules) {
      if (m.doraScale !== undefined) dora.add(name);
      if (m.biasDelta !== undefined) biased.add(name);
    }
    for (const c of adapter.copies.values()) {
      const had = copies.get(c.param.key);
      // Single mode bakes the token rows into the graph; stacked mode feeds each adapter's rows.
      if (!stacked && had !== undefined && JSON.stringify(had.tokens?.rows) !== JSON.stringify(c.param.tokens?.rows)) {
        throw new InputError('generate-unsupported', 'two loaded adapters train different trainable_token_indices of the same layer', { file: adapter.dir, tensor: c.param.key, hint: 'Load them in separate generators' });
      }
      copies.set(c.param.key, c.param);
    }
    const refusal = stacked ? stackRefusal(inventory, adapter) : null;
    if (refusal !== null) throw refusal;
  }
  // Single mode feeds an adapter without token rows the base rows of the layer (and of a tied head, which reads the
  // same delta): wrong for an adapter that copies that layer or that head, so such sets need separate generators.
  if (!stacked) {
    const all = [...copies.values()];
    for (const t of all.filter((c) => c.tokens !== undefined)) {
      const clash = all.find((c) => c.tokens === undefined && (c.param === `${t.tokens!.module}.weight` || (t.tokens!.tiedHead && c.param === 'lm_head.weight')));
      if (clash !== undefined) {
        throw new InputError('generate-unsupported', `one Generator in single mode cannot hold trainable tokens of ${t.tokens!.module} beside another adapter's copy of ${clash.param}`, {
          tensor: clash.key, hint: 'Load them in separate generators, or stacked (the Playground, serve)',
        });
      }
    }
  }
  // Stacked: DoRA's scale reads the layer's bias as one vector; another adapter's per-token bias of that layer cannot join it.
  const doraBias = stacked ? [...copies.values()].find((c) => c.tokens === undefined && [...dora].some((m) => c.param === `${m}.bias`)) : undefined;
  if (doraBias !== undefined) {
    throw new InputError('generate-unsupported', `DoRA on a layer beside another adapter's trained bias of it (${doraBias.param}) cannot be stacked`, {
      tensor: doraBias.key, hint: 'Load these adapters in separate sessions, or merge one of them',
    });
  }
  const inGraph = (s: Set<string>): Set<string> => new Set(modules.filter((m) => s.has(m.name)).map((m) => m.name));
  return { dora: inGraph(dora), biased: inGraph(biased), copies: [...copies.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)) };
}

/** Why stacked generation (one batch, several adapters: the Playground, `serve`) cannot serve `adapter`, or null. */
export function stackRefusal(inventory: ModelInventory, adapter: LoadedAdapter): InputError | null {
  const what = unstackableCopy(inventory, [...adapter.copies.values()].map((c) => c.param));
  if (what === null) return null;
  return new InputError('generate-unsupported', `this adapter has ${what}, which stacked generation (one batch, several adapters) cannot serve (the model builders read it as one tensor for the whole batch)`, {
    file: adapter.dir, hint: 'Use `peft-studio generate --adapter` (one adapter at a time), or merge the adapter (`peft-studio merge`) and serve the merged model',
  });
}
