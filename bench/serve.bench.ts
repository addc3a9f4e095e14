// Adapter server throughput: 16 concurrent HTTP clients against `core/serve` on the bench model, all on one adapter
// vs spread over 4 adapters on one base (run: npx tsx bench/serve.bench.ts [--clients 16] [--requests 2] [--json]).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeFixture } from '../src/core/fixtures/makeFixture';
import { loadModel } from '../src/core/hf/loadModel';
import type { ModelInventory } from '../src/core/hf/types';
import { writeSafetensors } from '../src/core/safetensors/write';
import { AdapterServer } from '../src/core/serve/server';
import { Rng } from '../src/core/util/random';

interface Args { clients: number; requests: number; promptLen: number; newTokens: number; threads: number; json: boolean; batching: ('continuous' | 'rounds')[] }

function parseArgs(argv: string[]): Args {
  const a: Args = { clients: 16, requests: 2, promptLen: 32, newTokens: 32, threads: 2, json: false, batching: ['continuous'] };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const n = (): number => Number(argv[++i]);
    if (k === '--clients') a.clients = n();
    else if (k === '--requests') a.requests = n();
    else if (k === '--prompt-len') a.promptLen = n();
    else if (k === '--new-tokens') a.newTokens = n();
    else if (k === '--threads') a.threads = n();
    else if (k === '--json') a.json = true;
    else if (k === '--batching') a.batching = (argv[++i] ?? '').split(',') as Args['batching'];
    else throw new Error(`unknown option ${k} (--clients N --requests N --prompt-len N --new-tokens N --threads N --batching continuous,rounds --json)`);
  }
  return a;
}

const CACHE = path.join(__dirname, '.cache');
const log = (s: string): void => { process.stderr.write(`${s}\n`); };

/** A rank-16 adapter on q/k/v/o with small random A and B (the numbers do not matter, the work does). */
function writeAdapter(dir: string, inv: ModelInventory, seed: number): void {
  fs.mkdirSync(dir, { recursive: true });
  const rng = new Rng(seed);
  const r = 16;
  const mods = inv.modules.filter((m) => /\.(q|k|v|o)_proj$/.test(m.name));
  const tensors = mods.flatMap((m) => (['A', 'B'] as const).map((w) => {
    const shape = w === 'A' ? [r, m.inFeatures] : [m.outFeatures, r];
    const data = new Float32Array(shape[0]! * shape[1]!);
    rng.fillNormal(data, 0, 0.02);
    return { name: `base_model.model.${m.name}.lora_${w}.weight`, dtype: 'F32' as const, shape, data };
  }));
  writeSafetensors(path.join(dir, 'adapter_model.safetensors'), tensors);
  fs.writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', task_type: 'CAUSAL_LM', r, lora_alpha: 32, target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] }));
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
}

async function scenario(a: Args, modelDir: string, adapters: string[], prompts: number[][], batching: 'continuous' | 'rounds'): Promise<Record<string, number | string>> {
  const server = await AdapterServer.start({
    modelDir, adapters: adapters.map((dir, i) => ({ name: `a${i}`, dir })), port: 0, threads: a.threads,
    cacheDir: path.join(CACHE, 'graphs'), maxBatch: a.clients, batching,
  });
  try {
    const one = async (i: number): Promise<{ ms: number; tokens: number }> => {
      const t0 = performance.now();
      const res = await fetch(`${server.url}/v1/completions`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: `a${i % adapters.length}`, prompt: prompts[i % prompts.length], max_tokens: a.newTokens, ignore_eos: true }),
      });
      const body = (await res.json()) as { usage: { completion_tokens: number } };
      return { ms: performance.now() - t0, tokens: body.usage.completion_tokens };
    };
    await one(0); // warm-up
    const t0 = performance.now();
    const done = await Promise.all(Array.from({ length: a.clients }, async (_, c) => {
      const out: { ms: number; tokens: number }[] = [];
      for (let k = 0; k < a.requests; k++) out.push(await one(c * a.requests + k));
      return out;
    }));
    const wall = (performance.now() - t0) / 1000;
    const all = done.flat();
    const tokens = all.reduce((s, x) => s + x.tokens, 0);
    const lat = all.map((x) => x.ms);
    return { batching, adapters: adapters.length, requests: all.length, tokens, wall_s: wall, tokens_per_s: tokens / wall, p50_ms: pct(lat, 0.5), p95_ms: pct(lat, 0.95) };
  } finally {
    await server.close();
  }
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  fs.mkdirSync(CACHE, { recursive: true });
  const modelDir = path.join(CACHE, 'llama-bench');
  if (!fs.existsSync(path.join(modelDir, 'model.safetensors'))) {
    log('making the bench fixture (once)...');
    await makeFixture({ arch: 'llama', size: 'bench', outDir: modelDir, seed: 1 });
  }
  const inv = loadModel(modelDir);
  const dirs = [0, 1, 2, 3].map((i) => path.join(CACHE, `serve-adapter-${i}`));
  dirs.forEach((d, i) => writeAdapter(d, inv, 100 + i));
  const rng = new Rng(99);
  const prompts = Array.from({ length: a.clients * a.requests }, () => Array.from({ length: a.promptLen }, () => 3 + rng.int(inv.spec.vocabSize - 3)));
  const rows: Record<string, number | string>[] = [];
  for (const batching of a.batching) {
    for (const n of [1, 4]) {
      log(`${batching}, ${n} adapter(s): ${a.clients} clients × ${a.requests} requests, prompt ${a.promptLen}, ${a.newTokens} new tokens...`);
      rows.push(await scenario(a, modelDir, dirs.slice(0, n), prompts, batching));
    }
  }
  if (a.json) process.stdout.write(`${JSON.stringify({ args: a, rows })}\n`);
  else {
    const num = (r: Record<string, number | string>, k: string): number => r[k] as number;
    process.stdout.write('batching    adapters  requests  tokens  wall s  tokens/s  p50 ms  p95 ms\n');
    for (const r of rows) process.stdout.write(`${String(r['batching']).padEnd(10)}  ${String(r['adapters']).padStart(8)}  ${String(r['requests']).padStart(8)}  ${String(r['tokens']).padStart(6)}  ${num(r, 'wall_s').toFixed(1).padStart(6)}  ${num(r, 'tokens_per_s').toFixed(1).padStart(8)}  ${num(r, 'p50_ms').toFixed(0).padStart(6)}  ${num(r, 'p95_ms').toFixed(0).padStart(6)}\n`);
    for (let i = 0; i + 1 < rows.length; i += 2) process.stdout.write(`${String(rows[i]!['batching'])}: 4 adapters / 1 adapter throughput ${(num(rows[i + 1]!, 'tokens_per_s') / num(rows[i]!, 'tokens_per_s')).toFixed(2)}×\n`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
