// Child process of generate.test.ts: opens a Generator with N adapters on a fixture, generates with each (or, with
// `service`, the Playground's GenService: all columns in one stacked batch), and reports its baseline (onnxruntime
// loaded), peak RSS and the bytes of weights, adapters and KV cache (all rows).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Generator } from '../../../src/core/generate/generator';
import { loadModel } from '../../../src/core/hf/loadModel';
import { GenService } from '../../../src/core/playground/genService';
import { DEFAULT_SAMPLING, type GenToHost } from '../../../src/shared/playground';
import { peakRssBytes } from '../../../src/core/util/peakRss';

interface Job { dir: string; adapters: string[]; promptLen: number; newTokens: number; prepack: boolean; service?: boolean; columns?: number }

/** The Playground's generation worker (GenService): base + every adapter as columns of one batch. */
async function service(job: Job, prompt: string): Promise<number> {
  const msgs: GenToHost[] = [];
  const svc = new GenService((m) => msgs.push(m), { cacheDir: path.join(job.dir, '.graphs') });
  await svc.handle({ type: 'open', model: job.dir, adapters: job.adapters, threads: 2, prepack: job.prepack });
  const sampling = { ...DEFAULT_SAMPLING, maxNewTokens: job.newTokens };
  // `columns` columns: the base model, then the adapters in turn (base-only when there are none)
  const slots = [null, ...job.adapters];
  const n = job.columns ?? slots.length;
  await svc.handle({ type: 'generate', id: 1, columns: Array.from({ length: n }, (_, i) => ({ adapter: slots[i % slots.length]!, sampling, prompt })) });
  const bad = msgs.find((m) => m.type === 'columnError' || m.type === 'openError');
  if (bad !== undefined) throw new Error(JSON.stringify(bad));
  const peak = peakRssBytes();
  await svc.dispose();
  return peak;
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2]!) as Job;
  await import('onnxruntime-node');
  const baseline = process.memoryUsage().rss;
  const inv = loadModel(job.dir);
  let peak: number;
  let rows = 1;
  if (job.service === true) {
    // a text prompt of about promptLen tokens (the Playground tokenizes text); EOS may end a column early, which only lowers the peak
    peak = await service(job, 'the cat sat on the mat and '.repeat(Math.ceil(job.promptLen / 8)));
    rows = job.columns ?? job.adapters.length + 1;
  } else {
    const gen = await Generator.open(job.dir, { adapters: job.adapters, prepack: job.prepack, threads: 2, cacheDir: path.join(job.dir, '.graphs') });
    const prompt = Array.from({ length: job.promptLen }, (_, i) => (i * 131) % inv.spec.vocabSize);
    for (const adapter of [null, ...gen.adapterIds]) await gen.generate({ inputIds: prompt, maxNewTokens: job.newTokens, ignoreEos: true, adapter });
    peak = peakRssBytes();
    await gen.dispose();
  }
  const weights = inv.totalParameters * 4;
  const adapters = job.adapters.reduce((s, a) => s + fs.statSync(path.join(a, 'adapter_model.safetensors')).size, 0);
  const s = inv.spec;
  const kv = rows * 2 * s.numLayers * s.numKvHeads * s.headDim * (job.promptLen + job.newTokens) * 4;
  process.stdout.write(`${JSON.stringify({ baseline, peak, weights, adapters, kv })}\n`);
}

void main();
