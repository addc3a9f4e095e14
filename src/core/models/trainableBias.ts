// LoraConfig `bias: "lora_only" | "all"`: which base biases train (peft/tuners/lora/model.py
// _mark_only_adapters_as_trainable) and the keys get_peft_model_state_dict saves them under.
import type { ModelInventory } from '../hf/types';
import type { LoraTarget } from '../train/engineApi';

export type LoraBiasMode = 'none' | 'lora_only' | 'all';

/** One trainable base bias. */
export interface BiasParam {
  /** Saved key: `base_model.model.<module>.base_layer.bias` for an adapted module, `base_model.model.<name>` otherwise. */
  key: string;
  /** HF parameter name the model builders read (transformer.h.0.ln_1.bias, model.layers.0.self_attn.q_proj.bias). */
  tensor: string;
  shape: number[];
}

/**
 * lora_only: the bias of every adapted module that has one (LoraLayer.bias → base_layer.bias); all: every parameter
 * whose name contains "bias". An adapted module's bias lives at `<module>.base_layer.bias` in PEFT's state dict
 * (LoRA wraps the layer), which is the key it is saved under; other biases keep their own names.
 */
export function trainableBiases(inv: ModelInventory, targets: readonly LoraTarget[], mode: LoraBiasMode): BiasParam[] {
  if (mode === 'none') return [];
  const adapted = new Map(targets.map((t) => [`${t.module.name}.bias`, t.module]));
  const keyOf = (tensor: string): string => {
    const m = adapted.get(tensor);
    return m !== undefined ? `base_model.model.${m.name}.base_layer.bias` : `base_model.model.${tensor}`;
  };
  if (mode === 'lora_only') {
    return targets.filter((t) => t.module.hasBias).map((t) => ({ key: keyOf(`${t.module.name}.bias`), tensor: `${t.module.name}.bias`, shape: [t.module.outFeatures] }));
  }
  return inv.parameters.filter((p) => p.name.split('.').pop()!.includes('bias')).map((p) => ({ key: keyOf(p.name), tensor: p.name, shape: [...p.shape] }));
}

/** The other spelling of a bias key PEFT versions wrote (`<module>.bias` for `<module>.base_layer.bias` and back). */
export function altBiasKey(key: string): string {
  return key.endsWith('.base_layer.bias') ? `${key.slice(0, -'.base_layer.bias'.length)}.bias` : `${key.slice(0, -'.bias'.length)}.base_layer.bias`;
}
