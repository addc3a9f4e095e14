// modules_to_save as trainable tensors: PEFT's ModulesToSaveWrapper keeps a full trainable copy of each matched
// module (initialised from the base weights); save_pretrained writes it as base_model.model.<module>.weight/.bias.
import { InputError } from '../errors';
import { weightShape } from '../arch/layout';
import type { ModelInventory, ModuleInfo } from '../hf/types';
import type { LoraConfig } from './loraConfig';
import { isTrainableCopyTarget } from './match';
import { namedModules } from './resolve';

/** One trainable tensor of a modules_to_save copy. */
export interface SavedModuleParam {
  /** The saved key (get_peft_model_state_dict strips `modules_to_save.default`): base_model.model.lm_head.weight. */
  key: string;
  /** The HF parameter name the model builders read (lm_head.weight, model.norm.weight). */
  param: string;
  /** Checkpoint tensor of the base weight it starts from (the embedding's for a tied lm_head). */
  source: string;
  shape: number[];
  /**
   * transformers' Trainer decays every parameter but biases and norm weights (get_decay_parameter_names: names
   * matching bias, layernorm, rmsnorm, `(^|.)norm($|.)`, `_norm($|.)`, and nn.LayerNorm modules).
   */
  decay: boolean;
  /**
   * trainable_token_indices: a TrainableTokens delta [n, dim] (the values of rows `rows` of the source, not a
   * difference) that overwrites those rows of `module`'s weight; `tiedHead`: the output head reuses it (tied weights).
   */
  tokens?: { module: string; rows: number[]; tiedHead: boolean };
}

/** The Trainer's no-decay rule on the in-memory PEFT name (…<module>.modules_to_save.default.<weight|bias>). */
export function decays(module: ModuleInfo, which: 'weight' | 'bias'): boolean {
  if (which === 'bias' || module.kind === 'layernorm') return false;
  const name = `${module.name}.modules_to_save.default.${which}`.toLowerCase();
  return !/bias|layernorm|rmsnorm|(?:^|\.)norm(?:$|\.)|_norm(?:$|\.)/.test(name);
}

/**
 * The modules _set_trainable wraps (every named module whose name ends with an entry, plain endswith; a wrapped
 * container's submodules come with it), as their weight/bias tensors in the model's module order. Modules that also
 * carry LoRA cannot be copied (PEFT would copy the LoRA layer itself): refused, as is ensure_weight_tying on a tied
 * head (PEFT then shares one copy between lm_head and embed_tokens; here the default, separate copies, is built).
 */
export function savedModuleParams(cfg: Pick<LoraConfig, 'modules_to_save' | 'ensure_weight_tying'>, inv: ModelInventory, loraModules: ReadonlySet<string> = new Set()): SavedModuleParam[] {
  const entries = cfg.modules_to_save;
  if (entries === null || entries.length === 0) return [];
  const wrapped: string[] = [];
  for (const nm of namedModules(inv)) {
    if (wrapped.some((w) => nm.name.startsWith(`${w}.`))) continue;
    if (isTrainableCopyTarget(entries, nm.name)) wrapped.push(nm.name);
  }
  const inside = (m: ModuleInfo): boolean => wrapped.some((w) => m.name === w || m.name.startsWith(`${w}.`));
  const out: SavedModuleParam[] = [];
  for (const m of inv.modules.filter(inside)) {
    if (loraModules.has(m.name)) {
      throw new InputError('trainer-unsupported', `modules_to_save wraps ${m.name}, which also carries LoRA`, { tensor: m.name, hint: 'Remove it from target_modules or from modules_to_save' });
    }
    const tiedHead = m.isOutputHead && m.weightKey !== `${m.name}.weight`;
    if (tiedHead && cfg.ensure_weight_tying) {
      throw new InputError('trainer-unsupported', 'ensure_weight_tying with modules_to_save on a tied head (one copy shared by lm_head and embed_tokens) is not supported yet', {
        tensor: m.name, hint: 'Set ensure_weight_tying to false: lm_head then trains its own copy, as PEFT does by default',
      });
    }
    const key = `base_model.model.${m.name}`;
    out.push({ key: `${key}.weight`, param: `${m.name}.weight`, source: m.weightKey, shape: m.kind === 'conv1d' ? [m.inFeatures, m.outFeatures] : weightShape(m), decay: decays(m, 'weight') });
    if (m.hasBias && m.biasKey !== null) out.push({ key: `${key}.bias`, param: `${m.name}.bias`, source: m.biasKey, shape: [m.outFeatures], decay: false });
  }
  return out;
}

/** What the memory estimate needs of the copies: their elements and the lowest layer one sits in (-1 = an embedding). */
export function copiesMemoryShape(copies: readonly SavedModuleParam[], inv: ModelInventory): { elements: number; lowestLayer: number | null } | undefined {
  if (copies.length === 0) return undefined;
  let lowest: number | null = null;
  for (const c of copies) {
    const m = inv.modules.find((x) => `${x.name}.${c.key.endsWith('.bias') ? 'bias' : 'weight'}` === c.param);
    const layer = m === undefined ? null : m.kind === 'embedding' ? -1 : m.layer;
    if (layer !== null) lowest = lowest === null ? layer : Math.min(lowest, layer);
  }
  return { elements: copies.reduce((a, c) => a + c.shape.reduce((x, y) => x * y, 1), 0), lowestLayer: lowest };
}

/**
 * trainable_token_indices as PEFT's set_additional_trainable_modules wraps them: a list means the input embedding; a
 * dict maps module names (plain endswith) to indices. With tied embeddings the head follows the embedding's delta
 * (unless the dict gives lm_head other indices: then it gets its own). Saved as
 * base_model.model.<module>.token_adapter.trainable_tokens_delta; the Trainer decays it like any weight.
 */
export function tokenDeltaParams(cfg: Pick<LoraConfig, 'trainable_token_indices' | 'modules_to_save'> & Partial<Pick<LoraConfig, 'ensure_weight_tying'>>, inv: ModelInventory, loraModules: ReadonlySet<string> = new Set()): SavedModuleParam[] {
  const tti = cfg.trainable_token_indices;
  if (tti === null) return [];
  const embed = inv.modules.find((m) => m.kind === 'embedding');
  const head = inv.modules.find((m) => m.isOutputHead);
  if (embed === undefined) return [];
  const layers: [ModuleInfo, number[]][] = [];
  for (const [name, idx] of Array.isArray(tti) ? [[embed.name, tti] as const] : Object.entries(tti)) {
    const m = inv.modules.find((x) => x.name.endsWith(name));
    if (m === undefined || (m.kind !== 'embedding' && !m.isOutputHead)) {
      throw new InputError('trainer-unsupported', `trainable_token_indices: "${name}" is not an embedding or the output head of the model`, { hint: `Use a list (the input embedding ${embed.name}) or {"${embed.name.split('.').pop() ?? ''}": [...]}` });
    }
    if (cfg.modules_to_save?.some((e) => m.name.endsWith(e)) === true) {
      throw new InputError('trainer-unsupported', `${m.name} is in both modules_to_save and trainable_token_indices`, { hint: 'Train the layer fully (modules_to_save) or some of its tokens, not both' });
    }
    if (loraModules.has(m.name)) throw new InputError('trainer-unsupported', `${m.name} carries LoRA and trainable_token_indices`, { hint: 'Remove it from target_modules or from trainable_token_indices' });
    const rows = m.kind === 'embedding' ? m.inFeatures : m.outFeatures;
    const bad = idx.find((i) => !Number.isInteger(i) || i < 0 || i >= rows);
    if (bad !== undefined) throw new InputError('trainer-unsupported', `trainable_token_indices: token ${bad} is outside ${m.name}'s ${rows} rows`);
    if (new Set(idx).size !== idx.length) throw new InputError('trainer-unsupported', `trainable_token_indices for ${m.name} lists a token twice`);
    layers.push([m, [...idx]]);
  }
  const same = (a: number[], b: number[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);
  const embedIdx = layers.find(([m]) => m === embed)?.[1];
  const headIdx = head !== undefined ? layers.find(([m]) => m === head)?.[1] : undefined;
  // PEFT: a tied head in the dict with the same indices is skipped (the tying covers it); the tying applies when the
  // embedding is wrapped and the indices do not differ.
  if (cfg.ensure_weight_tying === true && inv.spec.tieWordEmbeddings && embedIdx !== undefined && headIdx !== undefined && !same(headIdx, embedIdx)) {
    throw new InputError('trainer-unsupported', 'Cannot ensure weight tying when different token indices are specified for tied layers', { hint: 'Use the same indices for the embedding and lm_head, or set ensure_weight_tying to false' });
  }
  const tie = inv.spec.tieWordEmbeddings && embedIdx !== undefined && (headIdx === undefined || same(headIdx, embedIdx));
  if (tie && head !== undefined && loraModules.has(head.name)) {
    throw new InputError('trainer-unsupported', `the tied ${head.name} carries LoRA and follows the embedding's trainable tokens`, { hint: 'Remove lm_head from target_modules' });
  }
  const out: SavedModuleParam[] = [];
  for (const [m, rows] of layers) {
    if (tie && m === head) continue;
    const dim = m.kind === 'embedding' ? m.outFeatures : m.inFeatures;
    out.push({
      key: `base_model.model.${m.name}.token_adapter.trainable_tokens_delta`, param: `${m.name}.weight`, source: m.weightKey, shape: [rows.length, dim], decay: true,
      tokens: { module: m.name, rows, tiedHead: tie && m === embed },
    });
  }
  return out;
}
