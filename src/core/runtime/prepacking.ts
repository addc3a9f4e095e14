// Whether the engine lets ORT prepack the frozen weights for its CPU matmuls (a second, packed copy of the weights
// the backward reads): on for models up to 1 GiB of fp32 weights. Pure, so the memory estimate asks the same rule.
import * as os from 'node:os';
import type { ModelInventory } from '../hf/types';

/**
 * Process-wide ORT tuning; tests and benches force prepacking on or off. MLAS prepacking keeps a packed copy of
 * every constant GEMM operand per session (docs/ONNXRUNTIME.md) and was ~15% faster here (bench/train.bench.ts,
 * 32M-param llama, 2 threads: 181 vs 157 tok/s, RSS 611 vs 501 MiB). 'auto' prepacks only when that copy is cheap.
 */
export const ortTuning: { prepacking: 'auto' | boolean } = { prepacking: 'auto' };

/** Prepack when the fp32 weights are at most 1 GiB and at most a tenth of the machine's memory. */
export function usePrepacking(inventory: Pick<ModelInventory, 'totalParameters'>): boolean {
  if (ortTuning.prepacking !== 'auto') return ortTuning.prepacking;
  const bytes = inventory.totalParameters * 4;
  return bytes <= 2 ** 30 && bytes <= os.totalmem() * 0.1;
}
