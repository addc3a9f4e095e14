// The numbers of the editor's CodeLens above adapter_config.json / peft-train.yaml:
// "▶ Train · 4.2M trainable params (0.37%) · est. 3.1 GiB" (count as PEFT, memory from core/memory).
import { parse as parseJsonc } from 'jsonc-parser';
import type { ModelInventory } from '../hf/types';
import { formatBytes } from '../memory/estimate';
import { estimateForRecipe } from '../memory/recipeEstimate';
import { countParameters } from '../peft/count';
import { parseLoraConfig } from '../peft/loraConfig';
import { resolveTargets } from '../peft/resolve';
import type { DeviceName } from '../train/engineApi';
import type { RecipeSummary } from './types';
import { deepNestingAt } from '../util/safeJson';
import { errorMessage } from '../errors';

export interface TrainSummary {
  trainable: number;
  total: number;
  percent: number;
  memoryBytes: number;
  device: DeviceName;
}

/**
 * Counts and the memory estimate, or a one-line reason why they cannot be computed (yet). The estimate is
 * `peft-studio estimate`'s (core/memory/recipeEstimate.ts, same recipe summary, same data-derived length).
 */
export async function trainSummary(adapterText: string, model: ModelInventory, recipe: RecipeSummary | null, availableDevices: readonly string[]): Promise<TrainSummary | string> {
  try {
    if (deepNestingAt(adapterText) !== null) return 'adapter_config.json nests too deeply';
    const cfg = parseLoraConfig(parseJsonc(adapterText) as unknown);
    const count = countParameters(cfg, model);
    const { targets } = resolveTargets(cfg, model);
    const req = recipe?.device ?? 'auto';
    // auto: CUDA when its provider is installed, else the CPU (a WebGPU adapter is only known after a probe)
    const device: DeviceName = req === 'auto' ? (availableDevices.includes('cuda') ? 'cuda' : 'cpu') : (req as DeviceName);
    const { estimate } = await estimateForRecipe({ recipe, loraConfig: cfg, inventory: model, targets, modelDir: model.dir, device });
    return { trainable: count.trainable, total: count.total, percent: count.percent, memoryBytes: estimate.totalBytes, device };
  } catch (e) {
    return errorMessage(e).split('\n')[0]!;
  }
}

/** 4.2M, 350K, 1.1B. */
export function shortCount(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(1)}B` : n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(0)}K` : String(n);
}

export function lensTitle(s: TrainSummary | string): string {
  if (typeof s === 'string') return '▶ Train';
  const pct = s.percent >= 0.1 ? s.percent.toFixed(2) : s.percent.toPrecision(2);
  return `▶ Train · ${shortCount(s.trainable)} trainable params (${pct}%) · est. ${formatBytes(s.memoryBytes)}${s.device !== 'cpu' ? ` on ${s.device}` : ''}`;
}
