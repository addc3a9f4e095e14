// Trainable/total parameter counts exactly as PEFT's print_trainable_parameters reports them
// (PeftModel.get_nb_trainable_parameters over named_parameters(): total = base + trainable; CONTRACTS.md §3).
import type { ModelInventory } from '../hf/types';
import type { LoraConfig } from './loraConfig';
import { isTrainableCopyTarget } from './match';
import { namedModules, resolveTargets } from './resolve';
import type { ResolvedTargets } from './resolve';

export interface ModuleCount {
  name: string;
  r: number;
  in: number;
  out: number;
  /** LoRA A [r, in] + B [out, r] (+ DoRA magnitude [out], + lora_B bias [out]). */
  params: number;
}

export interface ParameterCount {
  trainable: number;
  total: number;
  /** 100 * trainable / total. */
  percent: number;
  modules: ModuleCount[];
}

/** Detailed breakdown of the trainable parameters (what `count` prints in text mode). */
export interface ParameterBreakdown extends ParameterCount {
  base: number;
  lora: number;
  /** Base biases made trainable by `bias: all` / `lora_only` (already part of `base`). */
  trainableBiases: number;
  /** Trainable copies of modules_to_save modules (not part of `base`). */
  modulesToSave: { name: string; params: number }[];
  /** TrainableTokens deltas of trainable_token_indices (not part of `base`). */
  tokenDeltas: { name: string; params: number }[];
  resolved: ResolvedTargets;
}

function numel(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Count as PEFT does: LoRA A [r, in] + B [out, r] per adapted module; use_dora adds lora_magnitude_vector [out];
 * lora_bias adds lora_B.bias [out]; bias "all" makes every base bias trainable and "lora_only" the biases of adapted
 * modules (both already in total); modules_to_save adds a trainable copy of each matched module and
 * trainable_token_indices a [n_tokens, dim] delta per embedding (both added to total).
 */
export function countParametersDetailed(cfg: LoraConfig, inv: ModelInventory): ParameterBreakdown {
  const resolved = resolveTargets(cfg, inv);
  const modules: ModuleCount[] = resolved.targets.map((t) => {
    const m = t.module;
    let params = t.r * (m.inFeatures + m.outFeatures);
    if (cfg.use_dora) params += m.outFeatures;
    if (cfg.lora_bias && m.kind !== 'embedding') params += m.outFeatures;
    return { name: m.name, r: t.r, in: m.inFeatures, out: m.outFeatures, params };
  });
  const lora = modules.reduce((a, m) => a + m.params, 0);
  let trainableBiases = 0;
  if (cfg.bias === 'all') {
    trainableBiases = inv.parameters.filter((p) => p.name.endsWith('.bias')).reduce((a, p) => a + numel(p.shape), 0);
  } else if (cfg.bias === 'lora_only') {
    trainableBiases = resolved.targets.filter((t) => t.module.hasBias).reduce((a, t) => a + t.module.outFeatures, 0);
  }
  // modules_to_save: _set_trainable wraps every module whose name ends with an entry (plain endswith) in a
  // ModulesToSaveWrapper holding a trainable copy; a wrapped container's submodules are not wrapped again.
  const modulesToSave: { name: string; params: number }[] = [];
  if (cfg.modules_to_save !== null && cfg.modules_to_save.length > 0) {
    const wrapped: string[] = [];
    for (const nm of namedModules(inv)) {
      if (wrapped.some((w) => nm.name.startsWith(`${w}.`))) continue;
      if (!isTrainableCopyTarget(cfg.modules_to_save, nm.name)) continue;
      wrapped.push(nm.name);
      const within = inv.modules.filter((m) => m.name === nm.name || m.name.startsWith(`${nm.name}.`));
      const params = within.reduce((a, m) => a + m.inFeatures * m.outFeatures * (m.kind === 'linear' || m.kind === 'conv1d' || m.kind === 'embedding' ? 1 : 0)
        + (m.kind === 'layernorm' || m.kind === 'rmsnorm' ? m.outFeatures : 0) + (m.hasBias ? m.outFeatures : 0), 0);
      modulesToSave.push({ name: nm.name, params });
    }
  }
  // trainable_token_indices: a TrainableTokens delta [n_tokens, dim] per targeted embedding (a tied head shares it).
  const tokenDeltas: { name: string; params: number }[] = [];
  const tti = cfg.trainable_token_indices;
  if (tti !== null) {
    const byLayer: [string, number[]][] = Array.isArray(tti) ? [[inv.modules[0]?.name ?? 'embed_tokens', tti]] : Object.entries(tti);
    const embed = inv.modules[0];
    for (const [layerName, idx] of byLayer) {
      const m = inv.modules.find((x) => x.name.endsWith(layerName));
      if (m === undefined) continue;
      // PEFT ties the head to the embedding's delta unless the dict gives the head other indices.
      const embedIdx = byLayer.find(([n]) => embed !== undefined && embed.name.endsWith(n))?.[1];
      const sameIdx = embedIdx !== undefined && embedIdx.length === idx.length && embedIdx.every((x, i) => x === idx[i]);
      const tiedToEmbedding = m.isOutputHead && inv.spec.tieWordEmbeddings && embed !== undefined && sameIdx;
      if (tiedToEmbedding) continue;
      const dim = m.kind === 'embedding' ? m.outFeatures : m.inFeatures;
      tokenDeltas.push({ name: m.name, params: new Set(idx).size * dim });
    }
  }
  const copies = modulesToSave.reduce((a, m) => a + m.params, 0) + tokenDeltas.reduce((a, m) => a + m.params, 0);
  const base = inv.totalParameters;
  const trainable = lora + trainableBiases + copies;
  const total = base + lora + copies;
  return { trainable, total, percent: total > 0 ? (100 * trainable) / total : 0, modules, base, lora, trainableBiases, modulesToSave, tokenDeltas, resolved };
}

/** PEFT's print_trainable_parameters numbers plus the per-module LoRA sizes (the `count --json` record). */
export function countParameters(cfg: LoraConfig, inv: ModelInventory): ParameterCount {
  const d = countParametersDetailed(cfg, inv);
  return { trainable: d.trainable, total: d.total, percent: d.percent, modules: d.modules };
}
