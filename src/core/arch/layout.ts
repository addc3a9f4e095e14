// Helpers the descriptors use to list modules and parameters in transformers' named_modules()/named_parameters()
// order: one ModuleInfo per module, its checkpoint weight shape, and the parameter list (a tied head listed once).
import type { ModelSpec, ModuleInfo, ModuleKind } from '../hf/types';

export function mod(name: string, kind: ModuleKind, inF: number, outF: number, hasBias: boolean, layer: number | null, isOutputHead = false): ModuleInfo {
  return { name, kind, inFeatures: inF, outFeatures: outF, hasBias, layer, isOutputHead, weightKey: `${name}.weight`, biasKey: hasBias ? `${name}.bias` : null };
}

/** Weight shape of a module as stored in the checkpoint: Linear [out, in], Conv1D [in, out], Embedding [num, dim]. */
export function weightShape(m: ModuleInfo): number[] {
  if (m.kind === 'linear') return [m.outFeatures, m.inFeatures];
  if (m.kind === 'conv1d' || m.kind === 'embedding') return [m.inFeatures, m.outFeatures];
  return [m.outFeatures];
}

export function parametersOf(modules: ModuleInfo[], s: ModelSpec): { name: string; shape: number[] }[] {
  const out: { name: string; shape: number[] }[] = [];
  for (const m of modules) {
    if (m.isOutputHead && s.tieWordEmbeddings) continue; // tied: the embedding's weight, listed once
    out.push({ name: `${m.name}.weight`, shape: weightShape(m) });
    if (m.hasBias) out.push({ name: `${m.name}.bias`, shape: [m.outFeatures] });
  }
  return out;
}
