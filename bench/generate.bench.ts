// Generation speed and memory of our Generator (KV cache, ONNX) vs PyTorch eager with a KV cache, same machine,
// threads and tokens (run: npx tsx bench/generate.bench.ts [--prompt-len 128] [--new-tokens 64] [--threads 2] [--json]).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeFixture } from '../src/core/fixtures/makeFixture';
import { loadModel } from '../src/core/hf/loadModel';
import { Rng } from '../src/core/util/random';
import { bundleBenchChild, runChildLastLine } from './benchChild';
import { median } from './benchLib';
import type { GenerateJob, SideTimings } from './generateSide';
import { errorMessage } from '../src/core/errors';

const HELP = `usage: npx tsx bench/generate.bench.ts [options]
  --prompt-len N     prompt tokens (default 128)
  --new-tokens N     greedy new tokens per run (default 64)
  --runs N           timed runs per side per round, after one warm-up (default 3)
  --rounds N         interleaved rounds: ours, torch, ours, torch... (default 2)
  --threads N        CPU threads for both (default 2)
  --model-dir DIR    a Llama-family F32 HF folder (default: the bench fixture, ~32M params, made once)
  --json             one JSON object on stdout instead of the table`;

interface Args { promptLen: number; newTokens: number; runs: number; rounds: number; threads: number; modelDir: string | null; json: boolean }

function parseArgs(argv: string[]): Args {
  const a: Args = { promptLen: 128, newTokens: 64, runs: 3, rounds: 2, threads: 2, modelDir: null, json: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const int = (): number => {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 1) throw new Error(`${k} needs a positive integer\n${HELP}`);
      return n;
    };
    switch (k) {
      case '--prompt-len': a.promptLen = int(); break;
      case '--new-tokens': a.newTokens = Math.max(2, int()); break;
      case '--runs': a.runs = int(); break;
      case '--rounds': a.rounds = int(); break;
      case '--threads': a.threads = int(); break;
      case '--model-dir': a.modelDir = path.resolve(argv[++i] ?? ''); break;
      case '--json': a.json = true; break;
      case '--help': case '-h': process.stdout.write(`${HELP}\n`); return process.exit(0);
      default: throw new Error(`unknown option ${k}\n${HELP}`);
    }
  }
  return a;
}

const CACHE = path.join(__dirname, '.cache');
const log = (s: string): void => { process.stderr.write(`${s}\n`); };


async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  fs.mkdirSync(CACHE, { recursive: true });
  const modelDir = a.modelDir ?? path.join(CACHE, 'llama-bench');
  if (a.modelDir === null && !fs.existsSync(path.join(modelDir, 'model.safetensors'))) {
    log('making the bench fixture (once)...');
    await makeFixture({ arch: 'llama', size: 'bench', outDir: modelDir, seed: 1 });
  }
  const inv = loadModel(modelDir);
  const rng = new Rng(4321);
  const prompt = Array.from({ length: a.promptLen }, () => rng.int(inv.spec.vocabSize));
  const child = await bundleBenchChild('generateSide', CACHE);
  const jobFile = path.join(os.tmpdir(), `peft-gen-bench-${process.pid}.json`);
  const job: GenerateJob = { modelDir, prompt, newTokens: a.newTokens, runs: a.runs, threads: a.threads, cacheDir: path.join(CACHE, 'graphs') };
  fs.writeFileSync(jobFile, JSON.stringify(job));
  const n = String(a.threads);
  const torchEnv = { OMP_WAIT_POLICY: 'PASSIVE', ...process.env, OMP_NUM_THREADS: n, OPENBLAS_NUM_THREADS: n, MKL_NUM_THREADS: n };
  const ours: SideTimings[] = [];
  const torch: SideTimings[] = [];
  try {
    for (let r = 0; r < a.rounds; r++) {
      log(`round ${r + 1}/${a.rounds}: ours...`);
      ours.push(JSON.parse(await runChildLastLine(process.execPath, [child, jobFile], process.env)) as SideTimings);
      log(`round ${r + 1}/${a.rounds}: torch...`);
      torch.push(JSON.parse(await runChildLastLine('/usr/bin/python3', [path.join(__dirname, 'torch_generate.py'), '--model-dir', modelDir,
        '--prompt', prompt.join(','), '--new-tokens', String(a.newTokens), '--runs', String(a.runs), '--threads', n], torchEnv)) as SideTimings);
    }
  } finally {
    fs.rmSync(jobFile, { force: true });
  }
  const side = (xs: SideTimings[]): { prefill: number; decode: number; rss: number } => ({
    prefill: median(xs.map((x) => x.prefill_tokens_per_s)), decode: median(xs.map((x) => x.decode_tokens_per_s)), rss: Math.max(...xs.map((x) => x.peak_rss_bytes)),
  });
  const o = side(ours);
  const t = side(torch);
  const sameTokens = JSON.stringify(ours.at(-1)!.token_ids) === JSON.stringify(torch.at(-1)!.token_ids);
  const result = {
    model: modelDir, parameters: inv.totalParameters, threads: a.threads, prompt_len: a.promptLen, new_tokens: a.newTokens, cpu: os.cpus()[0]?.model ?? '?',
    ours: o, torch: t, prefill_ratio: o.prefill / t.prefill, decode_ratio: o.decode / t.decode, same_tokens: sameTokens,
  };
  if (a.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  const mib = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`;
  process.stdout.write([
    `model ${path.basename(modelDir)} (${(inv.totalParameters / 1e6).toFixed(1)}M params), prompt ${a.promptLen}, ${a.newTokens} new tokens, ${a.threads} threads, ${result.cpu}`,
    `              ours        torch      ratio`,
    `prefill tok/s ${o.prefill.toFixed(1).padStart(9)}  ${t.prefill.toFixed(1).padStart(9)}  ${result.prefill_ratio.toFixed(2)}×`,
    `decode  tok/s ${o.decode.toFixed(1).padStart(9)}  ${t.decode.toFixed(1).padStart(9)}  ${result.decode_ratio.toFixed(2)}×`,
    `peak RSS      ${mib(o.rss).padStart(9)}  ${mib(t.rss).padStart(9)}  ${(o.rss / t.rss).toFixed(2)}×`,
    `greedy tokens equal: ${sameTokens ? 'yes' : 'NO'}`,
    '',
  ].join('\n'));
}

main().catch((e: unknown) => {
  process.stderr.write(`${errorMessage(e)}\n`);
  process.exit(1);
});
