// Child process of generate.bench.ts: our Generator on a model folder, greedy generation of `newTokens` tokens
// after a `promptLen` prompt, `runs` times after a warm-up; prints one JSON line (prefill and decode tokens/s, RSS).
import * as fs from 'node:fs';
import { Generator } from '../src/core/generate/generator';
import { median } from './benchLib';
import { peakRssBytes } from '../src/core/util/peakRss';

export interface GenerateJob {
  modelDir: string;
  prompt: number[];
  newTokens: number;
  runs: number;
  threads: number;
  cacheDir: string;
  /** Adapter folder (applied unmerged, as the engine always does), or none for the base model. */
  adapter?: string;
}

export interface SideTimings {
  /** Prompt tokens / time to the first new token (the prefill step + choosing the token). */
  prefill_tokens_per_s: number;
  /** (new tokens − 1) / time from the first to the last new token. */
  decode_tokens_per_s: number;
  peak_rss_bytes: number;
  token_ids: number[];
}

async function main(): Promise<void> {
  const job = JSON.parse(fs.readFileSync(process.argv[2]!, 'utf8')) as GenerateJob;
  const gen = await Generator.open(job.modelDir, { threads: job.threads, cacheDir: job.cacheDir, ...(job.adapter !== undefined ? { adapters: [job.adapter] } : {}) });
  const req = { inputIds: job.prompt, maxNewTokens: job.newTokens, ignoreEos: true, adapter: gen.adapterIds[0] ?? null };
  await gen.generate(req); // warm-up: first-run allocations
  const prefill: number[] = [];
  const decode: number[] = [];
  let ids: number[] = [];
  for (let i = 0; i < job.runs; i++) {
    const r = await gen.generate(req);
    prefill.push((job.prompt.length * 1000) / r.ttftMs);
    decode.push(r.tokensPerS);
    ids = r.tokenIds;
  }
  await gen.dispose();
  const out: SideTimings = { prefill_tokens_per_s: median(prefill), decode_tokens_per_s: median(decode), peak_rss_bytes: peakRssBytes(), token_ids: ids };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

void main();
