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

/** A decoder-only model's modules: the token embedding, `layer(prefix, i)` for each layer, the final norm and the LM head. */
export function decoderLayout(s: ModelSpec, layer: (prefix: string, i: number) => ModuleInfo[]): { modules: ModuleInfo[]; parameters: { name: string; shape: number[] }[] } {
  const h = s.hiddenSize;
  const modules: ModuleInfo[] = [mod('model.embed_tokens', 'embedding', s.vocabSize, h, false, null)];
  for (let i = 0; i < s.numLayers; i++) modules.push(...layer(`model.layers.${i}`, i));
  modules.push(mod('model.norm', 'rmsnorm', h, h, false, null));
  modules.push(mod('lm_head', 'linear', h, s.vocabSize, false, null, true));
  return { modules, parameters: parametersOf(modules, s) };
}

/** Separate q/k/v/o projections, then Qwen3/Gemma 3's per-head q/k RMSNorms when the model has them. */
export function attentionModules(s: ModelSpec, p: string, i: number): ModuleInfo[] {
  const h = s.hiddenSize;
  const q = s.numHeads * s.headDim;
  const kv = s.numKvHeads * s.headDim;
  return [
    mod(`${p}.self_attn.q_proj`, 'linear', h, q, s.qkvBias, i),
    mod(`${p}.self_attn.k_proj`, 'linear', h, kv, s.qkvBias, i),
    mod(`${p}.self_attn.v_proj`, 'linear', h, kv, s.qkvBias, i),
    mod(`${p}.self_attn.o_proj`, 'linear', q, h, s.oBias, i),
    ...(s.qkNorm === true ? [mod(`${p}.self_attn.q_norm`, 'rmsnorm', s.headDim, s.headDim, false, i), mod(`${p}.self_attn.k_norm`, 'rmsnorm', s.headDim, s.headDim, false, i)] : []),
  ];
}

/** The gated MLP's gate/up/down projections. */
export function gatedMlpModules(s: ModelSpec, p: string, i: number, bias: boolean): ModuleInfo[] {
  const h = s.hiddenSize;
  return [
    mod(`${p}.mlp.gate_proj`, 'linear', h, s.intermediateSize, bias, i),
    mod(`${p}.mlp.up_proj`, 'linear', h, s.intermediateSize, bias, i),
    mod(`${p}.mlp.down_proj`, 'linear', s.intermediateSize, h, bias, i),
  ];
}

/** RMSNorms of layer i, by their names under the layer prefix. */
export function layerNorms(s: ModelSpec, p: string, i: number, names: string[]): ModuleInfo[] {
  return names.map((n) => mod(`${p}.${n}`, 'rmsnorm', s.hiddenSize, s.hiddenSize, false, i));
}
