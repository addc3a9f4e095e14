// Child process of memory.test.ts: trains a few steps on a fixture and reports its baseline and peak RSS next to
// the estimator's prediction, so the estimate is compared with a real process (one model per fresh process).
import * as os from 'node:os';
import * as path from 'node:path';
import { loadModel } from '../../../src/core/hf/loadModel';
import { estimateMemory } from '../../../src/core/memory/estimate';
import { createEngine } from '../../../src/core/train/engine';
import type { Batch, LoraTarget } from '../../../src/core/train/engineApi';
import { peakRssBytes } from '../../../src/core/util/peakRss';

interface Job { dir: string; suffixes: string[]; r: number; batch: number; seqLen: number; steps: number; gradAccum: number }

function batch(vocab: number, rows: number, seqLen: number, seed: number): Batch {
  const n = rows * seqLen;
  const ids = new BigInt64Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    ids[i] = BigInt(x % vocab);
  }
  return { batchSize: rows, seqLen, inputIds: ids, labels: ids.slice(), attentionMask: new BigInt64Array(n).fill(1n) };
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2]!) as Job;
  await import('onnxruntime-node');
  const baseline = process.memoryUsage().rss;
  const inv = loadModel(job.dir);
  const targets: LoraTarget[] = inv.modules
    .filter((m) => (m.kind === 'linear' || m.kind === 'conv1d') && job.suffixes.some((s) => m.name.endsWith('.' + s)))
    .map((module) => ({ module, r: job.r, alpha: 2 * job.r, scaling: 2 }));
  const engine = await createEngine({
    inventory: inv, targets, loraDropout: 0, device: 'cpu', precision: 'fp32', cacheDir: path.join(job.dir, '.graphs'),
    optimizer: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 1 }, threads: Math.min(2, os.availableParallelism()),
  });
  for (let s = 0; s < job.steps; s++) {
    const micro = Array.from({ length: job.gradAccum }, (_, i) => batch(inv.spec.vocabSize, job.batch, job.seqLen, 1 + s * 7 + i));
    await engine.step(micro, 1e-3, s);
    if (process.env['PEFT_MEM_TRACE'] === '1') {
      const m = process.memoryUsage();
      process.stderr.write(`step ${s}: rss ${(m.rss / 2 ** 20).toFixed(1)} heapUsed ${(m.heapUsed / 2 ** 20).toFixed(1)} external ${(m.external / 2 ** 20).toFixed(1)} arrayBuffers ${(m.arrayBuffers / 2 ** 20).toFixed(1)} peak ${(peakRssBytes() / 2 ** 20).toFixed(1)}\n`);
    }
  }
  const peak = peakRssBytes();
  const est = estimateMemory(inv, targets, { batchSize: job.batch, seqLen: job.seqLen, device: 'cpu', precision: 'fp32', gradAccum: job.gradAccum });
  await engine.dispose();
  process.stdout.write(JSON.stringify({ baseline, peak, estimate: est.totalBytes, components: est.components.map((c) => [c.name, c.bytes]) }) + '\n');
}

void main();
