// Training speed and memory of our ONNX engine vs PyTorch eager on the same machine and threads (run:
// npx tsx bench/train.bench.ts [--device cpu|webgpu|cuda] [--steps N] [--seq 256] [--batch 4] [--threads 2] [--json]).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeFixture } from '../src/core/fixtures/makeFixture';
import { loadModel } from '../src/core/hf/loadModel';
import type { DeviceName } from '../src/core/train/engineApi';
import { FLOPS_FORMULA, type BenchRow, type OrtProfileEvent, type SideResult, flopsPerToken, formatProfile, formatTable, median, summariseOrtProfile } from './benchLib';
import { bundleBenchChild, runChildLastLine, seededTokensFile } from './benchChild';
import type { EngineJob, EngineResult } from './engineStep';
import { errorMessage } from '../src/core/errors';

const HELP = `usage: npx tsx bench/train.bench.ts [options]
  --device cpu|webgpu|cuda   execution provider for our engine (default cpu)
  --steps N                  timed steps per run (default 3)
  --warmup N                 untimed steps per run (default 1)
  --rounds N                 interleaved rounds: ours, torch, ours, torch... (default 2)
  --seq T --batch B          sequence length and batch size (default 256, 4)
  --threads N                CPU threads for both (default 2)
  --targets qkvo|all-linear  LoRA targets (default qkvo), --r 16, --alpha 32
  --model-dir DIR            a Llama-family HF folder (default: the bench fixture, ~32M params, made once)
  --torch cpu|cuda|none      device of the PyTorch reference (default: cpu for --device cpu, cuda otherwise)
  --peak-tflops X            the GPU's fp32 matrix peak, to print the fraction reached
  --session-options JSON     extra ORT session options for our engine (experiments), e.g. '{"enableCpuMemArena":false}'
  --variant NAME=JSON        also run ours with these extra session options, interleaved in each round (repeatable)
  --fresh-cache              delete bench/.cache/graphs first (after graph-compiler changes)
  --profile                  one more run of ours with ORT profiling; prints the top ops
  --json                     one JSON object on stdout instead of the table
  --json-out FILE            the table on stdout and the JSON object into FILE`;

interface Args {
  device: DeviceName; steps: number; warmup: number; rounds: number; seq: number; batch: number; threads: number;
  targets: 'qkvo' | 'all-linear'; r: number; alpha: number; modelDir: string | null; torch: 'cpu' | 'cuda' | 'none';
  peakTflops: number | null; profile: boolean; freshCache: boolean; json: boolean; jsonOut: string | null; sessionOptions: Record<string, unknown> | null;
  variants: { name: string; options: Record<string, unknown> }[];
}

function parseArgs(argv: string[]): Args {
  const a: Args = { device: 'cpu', steps: 3, warmup: 1, rounds: 2, seq: 256, batch: 4, threads: 2, targets: 'qkvo', r: 16, alpha: 32,
    modelDir: null, torch: 'cpu', peakTflops: null, profile: false, freshCache: false, json: false, jsonOut: null, sessionOptions: null, variants: [] };
  let torchSet = false;
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = (): string => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${k} needs a value\n${HELP}`);
      return x;
    };
    const int = (): number => {
      const s = v();
      const n = Number(s);
      if (!Number.isInteger(n) || n < 0) throw new Error(`${k} must be a non-negative integer, got ${s}`);
      return n;
    };
    switch (k) {
      case '--device': { const d = v(); if (d !== 'cpu' && d !== 'webgpu' && d !== 'cuda') throw new Error(`--device: cpu, webgpu or cuda, got ${d}`); a.device = d; break; }
      case '--steps': a.steps = Math.max(1, int()); break;
      case '--warmup': a.warmup = int(); break;
      case '--rounds': a.rounds = Math.max(1, int()); break;
      case '--seq': a.seq = Math.max(2, int()); break;
      case '--batch': a.batch = Math.max(1, int()); break;
      case '--threads': a.threads = Math.max(1, int()); break;
      case '--r': a.r = Math.max(1, int()); break;
      case '--alpha': a.alpha = Number(v()); break;
      case '--targets': { const t = v(); if (t !== 'qkvo' && t !== 'all-linear') throw new Error(`--targets: qkvo or all-linear, got ${t}`); a.targets = t; break; }
      case '--model-dir': a.modelDir = path.resolve(v()); break;
      case '--torch': { const t = v(); if (t !== 'cpu' && t !== 'cuda' && t !== 'none') throw new Error(`--torch: cpu, cuda or none, got ${t}`); a.torch = t; torchSet = true; break; }
      case '--peak-tflops': a.peakTflops = Number(v()); break;
      case '--profile': a.profile = true; break;
      case '--fresh-cache': a.freshCache = true; break;
      case '--session-options': a.sessionOptions = JSON.parse(v()) as Record<string, unknown>; break;
      case '--variant': {
        const x = v();
        const eq = x.indexOf('=');
        if (eq <= 0) throw new Error(`--variant wants NAME=JSON, got ${x}`);
        a.variants.push({ name: x.slice(0, eq), options: JSON.parse(x.slice(eq + 1)) as Record<string, unknown> });
        break;
      }
      case '--json': a.json = true; break;
      case '--json-out': a.jsonOut = path.resolve(v()); break;
      case '--help': case '-h': process.stdout.write(`${HELP}\n`); return process.exit(0);
      default: throw new Error(`unknown option ${k}\n${HELP}`);
    }
  }
  if (!torchSet) a.torch = a.device === 'cpu' ? 'cpu' : 'cuda';
  return a;
}

const CACHE = path.join(__dirname, '.cache');
const log = (s: string): void => { process.stderr.write(`${s}\n`); };

/** The bench fixture (Llama-shaped, hidden 512, 8 layers, vocab 8192, ~32M params), made once under bench/.cache. */
async function benchModel(): Promise<string> {
  const dir = path.join(CACHE, 'llama-bench');
  if (!fs.existsSync(path.join(dir, 'model.safetensors'))) {
    log('making the bench fixture (once)...');
    await makeFixture({ arch: 'llama', size: 'bench', outDir: dir, seed: 1 });
  }
  return dir;
}

/** Seeded tokens [batch, seq] as int64 LE, shared by both sides (same data → the same first-step loss). */
function tokensFile(batch: number, seq: number, vocab: number): string {
  return seededTokensFile(path.join(CACHE, `tokens-${batch}x${seq}-v${vocab}.bin`), batch * seq, vocab);
}

async function runOurs(child: string, job: EngineJob): Promise<EngineResult> {
  const file = path.join(os.tmpdir(), `peft-bench-job-${process.pid}.json`);
  fs.writeFileSync(file, JSON.stringify(job));
  try {
    return JSON.parse(await runChildLastLine(process.execPath, [child, file], process.env)) as EngineResult;
  } finally {
    fs.rmSync(file, { force: true });
  }
}

interface TorchResult { skipped?: string; tokens_per_s: number; median_step_s: number; step_s: number[]; peak_rss_bytes: number; first_loss: number; losses: number[]; torch: string }

async function runTorch(a: Args, modelDir: string, tokens: string): Promise<TorchResult> {
  const script = path.join(__dirname, 'torch_lora_step.py');
  const n = String(a.threads);
  // PASSIVE: libgomp's idle workers otherwise spin against OpenBLAS's own threads; measured here it makes torch 3-4× faster
  // on 2 cores, so the reference runs in its best configuration (override with OMP_WAIT_POLICY in the environment).
  const env = { OMP_WAIT_POLICY: 'PASSIVE', ...process.env, OMP_NUM_THREADS: n, OPENBLAS_NUM_THREADS: n, MKL_NUM_THREADS: n };
  const args = [script, '--model-dir', modelDir, '--tokens', tokens, '--batch', String(a.batch), '--seq', String(a.seq), '--steps', String(a.steps),
    '--warmup', String(a.warmup), '--threads', n, '--targets', a.targets, '--r', String(a.r), '--alpha', String(a.alpha), '--device', a.torch];
  return JSON.parse(await runChildLastLine('/usr/bin/python3', args, env)) as TorchResult;
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const loadStart = os.loadavg()[0] ?? 0;
  fs.mkdirSync(CACHE, { recursive: true });
  if (a.freshCache) fs.rmSync(path.join(CACHE, 'graphs'), { recursive: true, force: true });
  const modelDir = a.modelDir ?? (await benchModel());
  const inv = loadModel(modelDir);
  const tokens = tokensFile(a.batch, a.seq, inv.spec.vocabSize);
  const child = await bundleBenchChild('engineStep', CACHE);
  const job: EngineJob = { modelDir, tokensFile: tokens, batch: a.batch, seq: a.seq, steps: a.steps, warmup: a.warmup, threads: a.threads,
    device: a.device, targets: a.targets, r: a.r, alpha: a.alpha, cacheDir: path.join(CACHE, 'graphs'),
    ...(a.sessionOptions !== null ? { sessionOptions: a.sessionOptions } : {}) };

  log(`model ${modelDir}: ${(inv.totalParameters / 1e6).toFixed(1)}M params; batch ${a.batch} × seq ${a.seq}, ${a.threads} threads, device ${a.device}`);
  log('compiling / warming the graph cache (not measured)...');
  const prep = await runOurs(child, { ...job, steps: 1, warmup: 0 });
  log(`  first step (graph compile + session open) ${prep.firstStepS.toFixed(1)} s, peak RSS ${(prep.peakRssBytes / 2 ** 20).toFixed(0)} MiB`);

  const variants = [{ name: '', job }, ...a.variants.map((x) => ({ name: x.name, job: { ...job, sessionOptions: { ...(job.sessionOptions ?? {}), ...x.options } } }))];
  const oursBy = variants.map(() => [] as EngineResult[]);
  const ours = oursBy[0]!;
  const torch: TorchResult[] = [];
  for (let r = 0; r < a.rounds; r++) {
    for (let vi = 0; vi < variants.length; vi++) {
      const o = await runOurs(child, variants[vi]!.job);
      oursBy[vi]!.push(o);
      log(`round ${r + 1}: ours${variants[vi]!.name !== '' ? ` [${variants[vi]!.name}]` : ''}  ${o.tokensPerS.toFixed(1)} tok/s, median step ${o.medianStepS.toFixed(2)} s, peak RSS ${(o.peakRssBytes / 2 ** 20).toFixed(0)} MiB (after the steps ${(o.steadyRssBytes / 2 ** 20).toFixed(0)} MiB)`);
    }
    if (a.torch !== 'none') {
      const t = await runTorch(a, modelDir, tokens);
      if (t.skipped !== undefined) {
        log(`torch reference skipped: ${t.skipped}`);
        a.torch = 'none';
      } else {
        torch.push(t);
        log(`round ${r + 1}: torch ${t.tokens_per_s.toFixed(1)} tok/s, median step ${t.median_step_s.toFixed(2)} s, peak RSS ${(t.peak_rss_bytes / 2 ** 20).toFixed(0)} MiB`);
      }
    }
  }

  let profile = null;
  if (a.profile) {
    log('profiling one more run of ours...');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peft-bench-prof-'));
    const p = await runOurs(child, { ...job, profilePrefix: path.join(dir, 'ort') });
    const events = p.profileFiles.flatMap((f) => JSON.parse(fs.readFileSync(f, 'utf8')) as OrtProfileEvent[]);
    profile = summariseOrtProfile(events, a.warmup);
  }

  const lora = inv.modules.filter((m) => m.kind === 'linear' && m.layer !== null
    && (a.targets === 'all-linear' || /\.(q|k|v|o)_proj$/.test(m.name))).map((m) => ({ r: a.r, inFeatures: m.inFeatures, outFeatures: m.outFeatures }));
  const flops = flopsPerToken(inv, a.seq, lora);
  const side = (xs: { tokensPerS: number; medianStepS: number; peakRssBytes: number }[]): SideResult => ({
    tokensPerS: median(xs.map((x) => x.tokensPerS)), medianStepS: median(xs.map((x) => x.medianStepS)), peakRssBytes: Math.max(...xs.map((x) => x.peakRssBytes)),
  });
  const torchSide = torch.length > 0 ? side(torch.map((t) => ({ tokensPerS: t.tokens_per_s, medianStepS: t.median_step_s, peakRssBytes: t.peak_rss_bytes }))) : null;
  const rows: BenchRow[] = variants.map((v, vi) => {
    const oursSide = side(oursBy[vi]!);
    const gflops = (flops.total * oursSide.tokensPerS) / 1e9;
    return { device: v.name === '' ? a.device : `${a.device} [${v.name}]`, ours: oursSide, torch: torchSide, flops,
      peakFraction: a.peakTflops !== null && a.device !== 'cpu' ? gflops / (a.peakTflops * 1000) : null };
  });
  const row = rows[0]!;
  const firstLoss = { ours: ours[0]?.firstLoss ?? NaN, torch: torch[0]?.first_loss ?? NaN };

  const load = { start: loadStart, end: os.loadavg()[0] ?? 0 };
  const json = JSON.stringify({ date: new Date().toISOString(), machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? '' }, load, args: a, modelDir,
      totalParameters: inv.totalParameters, formula: FLOPS_FORMULA, row, rows, firstLoss, ours, variants: variants.slice(1).map((v, i) => ({ name: v.name, options: v.job.sessionOptions, runs: oursBy[i + 1] })), torch, profile });
  if (a.jsonOut !== null) fs.writeFileSync(a.jsonOut, `${json}\n`);
  if (a.json) {
    process.stdout.write(`${json}\n`);
    return;
  }
  const lines = [
    `LoRA r=${a.r} on ${a.targets} of ${(inv.totalParameters / 1e6).toFixed(1)}M-param ${inv.spec.modelType}, batch ${a.batch} × seq ${a.seq}, ${a.threads} threads, `
      + `${a.warmup} warm-up + ${a.steps} timed steps × ${a.rounds} interleaved rounds (medians; RSS = max); `
      + `${os.cpus().length} CPUs, 1-min load average ${load.start.toFixed(1)} at start, ${load.end.toFixed(1)} at end`,
    formatTable(rows),
    FLOPS_FORMULA,
    `  N = ${(flops.baseMatmulParams / 1e6).toFixed(2)}M → 4N = ${(flops.base / 1e6).toFixed(1)} MFLOP, attention ${(flops.attention / 1e6).toFixed(1)} MFLOP, `
      + `total ${(flops.total / 1e6).toFixed(1)} MFLOP/token (LoRA ${(flops.lora / 1e6).toFixed(2)} MFLOP/token not counted)`,
    `first-step loss (same tokens, B = 0): ours ${firstLoss.ours.toFixed(5)}, torch ${torch.length > 0 ? firstLoss.torch.toFixed(5) : 'n/a'}`,
  ];
  if (profile !== null) lines.push(formatProfile(profile));
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${errorMessage(e)}\n`);
  process.exit(1);
});
