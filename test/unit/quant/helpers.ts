// Test helper for the 4-bit base suites: the fp32 twin of a quantized model (its quantized weights replaced by their
// dequantized values), the reference every 4-bit result is compared with.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadModel } from '../../../src/core/hf/loadModel';
import type { ModelInventory } from '../../../src/core/hf/types';
import { dequantizeBlocks, quantizeBlocks } from '../../../src/core/quant/blockQuant';
import { quantizedModules } from '../../../src/core/quant/quantCache';
import { readSafetensorsHeader, readTensorAsFloat32 } from '../../../src/core/safetensors/read';
import { writeSafetensors } from '../../../src/core/safetensors/write';

/** A copy of the model folder whose quantized weights hold their dequantized values (the fp32 twin of the 4-bit base). */
export function dequantizedTwin(inv: ModelInventory, dir: string, blockSize: number): ModelInventory {
  fs.mkdirSync(dir, { recursive: true });
  for (const f of fs.readdirSync(inv.dir)) if (!f.endsWith('.safetensors')) fs.copyFileSync(path.join(inv.dir, f), path.join(dir, f));
  const quantized = new Set(quantizedModules(inv).map((m) => m.weightKey));
  const h = readSafetensorsHeader(path.join(inv.dir, 'model.safetensors'));
  writeSafetensors(path.join(dir, 'model.safetensors'), [...h.tensors.values()].map((e) => {
    const data = readTensorAsFloat32(e);
    const q = quantized.has(e.name) ? dequantizeBlocks(quantizeBlocks(data, e.shape[0]!, e.shape[1]!, blockSize)) : data;
    return { name: e.name, dtype: 'F32' as const, shape: e.shape, data: q };
  }));
  return loadModel(dir);
}

