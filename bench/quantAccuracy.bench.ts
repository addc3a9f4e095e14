// Accuracy cost of the 4-bit base per block size: the base model's loss (LoRA B = 0, step 1) with 4-bit blocks vs fp32
// on a small Llama fixture whose weights are scaled ×5 (peaked logits, so the loss depends on the weights), and the
// relative RMS error of the quantized weights. Not a test; prints a Markdown table.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeFixture } from '../src/core/fixtures/makeFixture';
import { loadModel } from '../src/core/hf/loadModel';
import { dequantizeBlocks, quantizeBlocks, QUANT_BLOCK_SIZES } from '../src/core/quant/blockQuant';
import { quantizedModules } from '../src/core/quant/quantCache';
import { readSafetensorsHeader, readTensorAsFloat32 } from '../src/core/safetensors/read';
import { writeSafetensors } from '../src/core/safetensors/write';
import { createEngine } from '../src/core/train/engine';
import type { Batch } from '../src/core/train/engineApi';
import { Rng } from '../src/core/util/random';

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peft-quant-acc-'));
  try {
    const modelDir = path.join(dir, 'model');
    await makeFixture({ arch: 'llama', size: 'small', outDir: modelDir, seed: 3 });
    const file = path.join(modelDir, 'model.safetensors');
    const h = readSafetensorsHeader(file);
    writeSafetensors(file, [...h.tensors.values()].map((e) => {
      const d = readTensorAsFloat32(e);
      if (!/norm\.weight$/.test(e.name)) for (let i = 0; i < d.length; i++) d[i] = d[i]! * 5;
      return { name: e.name, dtype: 'F32' as const, shape: e.shape, data: d };
    }));
    const inv = loadModel(modelDir);
    const rng = new Rng(5);
    const rows = 4;
    const seq = 128;
    const ids = BigInt64Array.from({ length: rows * seq }, () => BigInt(rng.int(inv.spec.vocabSize)));
    const batch: Batch = { batchSize: rows, seqLen: seq, inputIds: ids, labels: ids, attentionMask: new BigInt64Array(rows * seq).fill(1n) };
    const target = inv.modules.filter((m) => m.name.endsWith('q_proj')).map((module) => ({ module, r: 4, alpha: 8, scaling: 2 }));
    const lossWith = async (quantization: { bits: 4; block_size: (typeof QUANT_BLOCK_SIZES)[number] } | null): Promise<number> => {
      const e = await createEngine({ inventory: inv, targets: target, loraDropout: 0, device: 'cpu', precision: 'fp32', cacheDir: path.join(dir, 'cache'), quantization, optimizer: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 1 } });
      try {
        return (await e.step([batch], 0, 0)).loss;
      } finally {
        await e.dispose();
      }
    };
    const fp = await lossWith(null);
    const lines = [`small Llama fixture (hidden 256, 6 layers, ${(inv.totalParameters / 1e6).toFixed(1)}M parameters, weights ×5), ${rows} × ${seq} random tokens; fp32 loss ${fp.toFixed(4)}`,
      '| block size | bits a weight | relative RMS weight error | step-1 loss | vs fp32 |', '|---|---|---|---|---|'];
    const weights = quantizedModules(inv).map((m) => ({ m, w: readTensorAsFloat32(h.tensors.get(m.weightKey)!) }));
    for (const bs of QUANT_BLOCK_SIZES) {
      let err = 0;
      let norm = 0;
      for (const { m, w } of weights) {
        const back = dequantizeBlocks(quantizeBlocks(w, m.outFeatures, m.inFeatures, bs));
        for (let i = 0; i < w.length; i++) { err += (back[i]! - w[i]!) ** 2; norm += w[i]! ** 2; }
      }
      const q = await lossWith({ bits: 4, block_size: bs });
      lines.push(`| ${bs} | ${(4 + 32 / bs).toFixed(2)} | ${(100 * Math.sqrt(err / norm)).toFixed(2)} % | ${q.toFixed(4)} | ${(100 * (q - fp) / fp).toFixed(2)} % |`);
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => { process.stderr.write(`${String(e)}\n`); process.exit(1); });
