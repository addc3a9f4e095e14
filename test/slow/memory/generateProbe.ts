// Child process of generate.test.ts: opens a Generator with N adapters on a fixture, generates with each, and
// reports its baseline (onnxruntime loaded), peak RSS and the bytes of weights, adapters and KV cache.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Generator } from '../../../src/core/generate/generator';
import { loadModel } from '../../../src/core/hf/loadModel';

interface Job { dir: string; adapters: string[]; promptLen: number; newTokens: number; prepack: boolean }

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2]!) as Job;
  await import('onnxruntime-node');
  const baseline = process.memoryUsage().rss;
  const inv = loadModel(job.dir);
  const gen = await Generator.open(job.dir, { adapters: job.adapters, prepack: job.prepack, threads: 2, cacheDir: path.join(job.dir, '.graphs') });
  const prompt = Array.from({ length: job.promptLen }, (_, i) => (i * 131) % inv.spec.vocabSize);
  for (const adapter of [null, ...gen.adapterIds]) await gen.generate({ inputIds: prompt, maxNewTokens: job.newTokens, ignoreEos: true, adapter });
  const peak = process.resourceUsage().maxRSS * 1024;
  await gen.dispose();
  const weights = inv.totalParameters * 4;
  const adapters = job.adapters.reduce((s, a) => s + fs.statSync(path.join(a, 'adapter_model.safetensors')).size, 0);
  const s = inv.spec;
  const kv = 2 * s.numLayers * s.numKvHeads * s.headDim * (job.promptLen + job.newTokens) * 4;
  process.stdout.write(`${JSON.stringify({ baseline, peak, weights, adapters, kv })}\n`);
}

void main();
