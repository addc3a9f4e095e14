// Which extra graph inputs the loaded adapters need beyond LoRA A/B: DoRA scales and bias deltas per module, and the
// modules_to_save copies / trainable-token deltas (single mode only), checked across adapters.
import { InputError } from '../errors';
import type { ModuleInfo } from '../hf/types';
import type { SavedModuleParam } from '../peft/savedModules';
import type { LoadedAdapter } from './adapter';

export interface AdapterInputs {
  /** Modules with a DoRA scale input (some loaded adapter uses DoRA there; the others feed ones). */
  dora: Set<string>;
  /** Modules with a bias-delta input (a trained bias or a lora_B bias; the others feed zeros). */
  biased: Set<string>;
  /** modules_to_save copies and token deltas, sorted by key (the graph's input order). */
  copies: SavedModuleParam[];
}

/** The inputs the graph over `modules` needs so that every adapter in `adapters` can be fed. */
export function adapterInputs(adapters: Iterable<LoadedAdapter>, modules: readonly ModuleInfo[], stacked: boolean): AdapterInputs {
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
      if (had !== undefined && JSON.stringify(had.tokens?.rows) !== JSON.stringify(c.param.tokens?.rows)) {
        throw new InputError('generate-unsupported', 'two loaded adapters train different trainable_token_indices of the same layer', { file: adapter.dir, tensor: c.param.key, hint: 'Load them in separate generators' });
      }
      copies.set(c.param.key, c.param);
    }
    if (stacked) {
      const what = adapter.copies.size > 0 ? 'modules_to_save copies or trainable tokens' : [...adapter.modules.values()].some((m) => m.module.kind === 'embedding') ? 'LoRA on an embedding' : null;
      if (what !== null) {
        throw new InputError('generate-unsupported', `this adapter has ${what}, which stacked generation (one batch, several adapters) cannot serve`, {
          file: adapter.dir, hint: 'Use `peft-studio generate --adapter` (one adapter at a time), or merge the adapter (`peft-studio merge`) and serve the merged model',
        });
      }
    }
  }
  const inGraph = (s: Set<string>): Set<string> => new Set(modules.filter((m) => s.has(m.name)).map((m) => m.name));
  return { dora: inGraph(dora), biased: inGraph(biased), copies: [...copies.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)) };
}
