// DoRA (peft/tuners/lora/dora.py DoraLinearLayer + variants.py DoraLinearVariant.forward) on one adapted layer:
// the magnitude m [out] over the row norm of W + s·B·A, the norm detached from the graph as PEFT does.
import * as G from '../graph';
import type { Value } from '../graph';
import type { ModuleInfo } from '../hf/types';

/** PEFT's saved key of a DoRA magnitude vector (get_peft_model_state_dict drops DoraLinearLayer's `.weight`). */
export const magnitudeKey = (module: string): string => `base_model.model.${module}.lora_magnitude_vector`;

/** The frozen layer under the adapter, as the builder declared it. */
export interface BaseLayer {
  /** nn.Linear: [out, in]; Conv1D (fan_in_fan_out): [in, out]. */
  weight: Value;
  bias?: Value;
  fanInFanOut: boolean;
}

/**
 * ||W + s·B·A|| over the input axis, one value per output feature (DoraLinearLayer.get_weight_norm: torch.linalg.norm
 * of transpose(W, fan_in_fan_out) + scaling·lora_weight along dim 1), in `dtype`; a constant to autodiff
 * (`weight_norm.detach()`: DoRA §4.3).
 */
export function doraWeightNorm(layer: BaseLayer, a: Value, b: Value, scaling: number, dtype: Value['dtype']): Value {
  const w = layer.weight.dtype === dtype ? layer.weight : G.cast(layer.weight, dtype);
  // B·A [out, in], or (B·A)ᵀ = Aᵀ·Bᵀ [in, out] for Conv1D so that W keeps its stored layout (no transposed copy of W).
  const ba = layer.fanInFanOut ? G.gemm(a, b, { transA: true, transB: true }) : G.gemm(b, a);
  const sum = G.add(w, G.mul(ba, scaling));
  const norm = G.sqrt(G.reduceSum(G.mul(sum, sum), [layer.fanInFanOut ? 0 : 1], false));
  return w.graph.stopGradient(norm);
}

/**
 * The layer's output with DoRA, given `base` = the frozen layer's output on x (bias included) and `lora` =
 * lora_B(lora_A(x'))·s on the adapter's input x' (x with lora_dropout applied, or x itself):
 *   scale = m / ||W + s·B·A||   (per output feature)
 *   x' = x:   base + (scale − 1)·(base − bias) + scale·lora            (PEFT reuses base_result minus the bias)
 *   x' ≠ x:   base + (scale − 1)·(x'·Wᵀ) + scale·lora                 (dropout: the base matmul on the dropped input)
 * `scale` may also come in precomputed (inference: a constant of the adapter).
 */
export function doraOutput(base: Value, lora: Value, scale: Value, layer: BaseLayer, dropped?: Value): Value {
  const s = scale.dtype === base.dtype ? scale : G.cast(scale, base.dtype);
  let plain: Value;
  if (dropped !== undefined) {
    plain = G.gemm(dropped, layer.weight, { transB: !layer.fanInFanOut });
  } else {
    plain = layer.bias !== undefined ? G.sub(base, layer.bias) : base;
  }
  return G.add(G.add(base, G.mul(G.sub(s, 1), plain)), G.mul(s, lora));
}

/** What the host-side norm needs of an adapted module. */
export interface HostLoraModule {
  module: Pick<ModuleInfo, 'kind' | 'inFeatures' | 'outFeatures'>;
  r: number;
  scaling: number;
}

/**
 * ||W + s·B·A|| per output feature (row of the [out, in] weight; W [in, out] for Conv1D), in float64 rounded to
 * float32 (torch computes it in fp32). B = 0 (PEFT's default init) gives the norms of W.
 */
export function doraMagnitude(w: Float32Array, t: HostLoraModule, a: Float32Array, b: Float32Array): Float32Array {
  const out = t.module.outFeatures;
  const inF = t.module.inFeatures;
  const r = t.r;
  const fanInFanOut = t.module.kind === 'conv1d';
  const zeroB = b.every((x) => x === 0);
  const norms = new Float32Array(out);
  const row = new Float64Array(inF);
  for (let o = 0; o < out; o++) {
    for (let i = 0; i < inF; i++) row[i] = fanInFanOut ? w[i * out + o]! : w[o * inF + i]!;
    if (!zeroB) {
      for (let k = 0; k < r; k++) {
        const bk = t.scaling * b[o * r + k]!;
        if (bk === 0) continue;
        for (let i = 0; i < inF; i++) row[i] = row[i]! + bk * a[k * inF + i]!;
      }
    }
    let sum = 0;
    for (let i = 0; i < inF; i++) sum += row[i]! * row[i]!;
    norms[o] = Math.sqrt(sum);
  }
  return norms;
}

/**
 * DoRA folded into the weight (variants.py DoraLinearVariant.merge_safe): each output feature's row of W + s·B·A
 * (already in `merged`, in the checkpoint's layout) times m / ||W + s·B·A||, in place.
 */
export function scaleMergedRows(merged: Float32Array, m: HostLoraModule, magnitude: Float32Array): Float32Array {
  const norms = doraMagnitude(merged, { ...m, r: 0 }, new Float32Array(0), new Float32Array(0));
  const out = m.module.outFeatures;
  const inF = m.module.inFeatures;
  const conv = m.module.kind === 'conv1d';
  for (let o = 0; o < out; o++) {
    const f = Math.fround(magnitude[o]! / norms[o]!);
    if (conv) for (let i = 0; i < inF; i++) merged[i * out + o] = merged[i * out + o]! * f;
    else for (let i = 0, base = o * inF; i < inF; i++) merged[base + i] = merged[base + i]! * f;
  }
  return merged;
}
