// Building a ValidationContext from disk (CLI and editor): the recipe beside a file, the base model from
// --model / the recipe / base_model_name_or_path, and an inventory cache keyed by folder.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadModel } from '../hf/loadModel';
import type { ModelInventory } from '../hf/types';
import { summarizeRecipe } from './recipe';
import type { RecipeSummary } from './types';

/** Inventories by absolute folder; `invalidate(dir)` when a file inside changes (the editor's watcher). */
export class InventoryCache {
  private readonly map = new Map<string, ModelInventory | null>();

  get(dir: string): ModelInventory | null {
    const key = path.resolve(dir);
    if (this.map.has(key)) return this.map.get(key)!;
    let inv: ModelInventory | null;
    try {
      inv = loadModel(key);
    } catch {
      inv = null;
    }
    this.map.set(key, inv);
    return inv;
  }

  invalidate(fileOrDir: string): void {
    const p = path.resolve(fileOrDir);
    for (const k of [...this.map.keys()]) if (p === k || p.startsWith(k + path.sep)) this.map.delete(k);
  }

  clear(): void {
    this.map.clear();
  }
}

const RECIPE_NAMES = ['peft-train.yaml', 'peft-train.yml'];

/**
 * The recipe that refers to `file` (as adapter_config or a dataset), searching the file's folder and up to
 * two parents for peft-train.yaml; for adapter_config.json a recipe in its own folder with no adapter_config counts too.
 */
export function findRecipeFor(file: string, readText: (p: string) => string | null = readOrNull): RecipeSummary | null {
  const abs = path.resolve(file);
  let dir = path.dirname(abs);
  for (let up = 0; up < 3; up++) {
    for (const name of RECIPE_NAMES) {
      const p = path.join(dir, name);
      const text = readText(p);
      if (text === null) continue;
      const s = summarizeRecipe(text, p);
      if (s === null) continue;
      if (s.adapterConfig === abs || s.datasets.includes(abs) || s.evalPromptsFile === abs) return s;
      // A recipe that names another adapter config is not this one's (CONTRACTS §3: "a peft-train.yaml beside it
      // that points to it"); one with `adapter_config: null` still is.
      if (up === 0 && path.basename(abs) === 'adapter_config.json' && s.adapterConfig === null) return s;
    }
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return null;
}

function readOrNull(p: string): string | null {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return null;
  }
}
