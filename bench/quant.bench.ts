// The 4-bit base (recipe `quantization:`) against the fp32 base, in one run: peak RSS (VmHWM of the engine child),
// tokens/s and the step-1 loss of LoRA steps on random TinyLlama-1.1B and Llama-3.2-3B shapes. Not a test.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { bundleBenchChild, runChildLastLine, seededTokensFile } from './benchChild';
import type { EngineJob, EngineResult } from './engineStep';
import { type BigFixture, ensureBigFixture } from './quantFixture';

const HELP = `usage: npx tsx bench/quant.bench.ts [--cases mid,1.1b,3b] [--3b-fp32] [--block 32] [--seq 128] [--batch 1]
  [--steps 3] [--threads 2] [--prepack auto|on|off]
Models are written once under bench/.cache/quant (1.1B: 4.4 GB F32; 3B: 6.4 GB BF16). The 3B runs 4-bit only unless
--3b-fp32 (its fp32 base needs ~14 GB of RAM). Each run is a child process with a cold graph cache (the 4-bit runs
include quantizing the base in their setup time).`;

const SHAPES: Record<string, BigFixture> = {
  mid: { overrides: { hidden_size: 1024, num_hidden_layers: 8, num_attention_heads: 16, num_key_value_heads: 4, intermediate_size: 2816, vocab_size: 32000, head_dim: 64 }, tie: false, dtype: 'F32' },
  '1.1b': { overrides: { hidden_size: 2048, num_hidden_layers: 22, num_attention_heads: 32, num_key_value_heads: 4, intermediate_size: 5632, vocab_size: 32000, head_dim: 64 }, tie: false, dtype: 'F32' },
  '3b': { overrides: { hidden_size: 3072, num_hidden_layers: 28, num_attention_heads: 24, num_key_value_heads: 8, intermediate_size: 8192, vocab_size: 128256, head_dim: 128 }, tie: true, dtype: 'BF16' },
};

interface Args { cases: string[]; fp32For3b: boolean; block: number; seq: number; batch: number; steps: number; threads: number; prepack: 'auto' | 'on' | 'off' }

function parseArgs(argv: string[]): Args {
  const a: Args = { cases: ['1.1b', '3b'], fp32For3b: false, block: 32, seq: 128, batch: 1, steps: 3, threads: 2, prepack: 'auto' };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = (): string => argv[++i] ?? '';
    if (k === '--cases') a.cases = v().split(',');
    else if (k === '--3b-fp32') a.fp32For3b = true;
    else if (k === '--block') a.block = Number(v());
    else if (k === '--seq') a.seq = Number(v());
    else if (k === '--batch') a.batch = Number(v());
    else if (k === '--steps') a.steps = Math.max(2, Number(v())); // one warm-up + at least one timed step
    else if (k === '--threads') a.threads = Number(v());
    else if (k === '--prepack') a.prepack = v() as Args['prepack'];
    else { process.stdout.write(`${HELP}\n`); process.exit(k === '--help' ? 0 : 2); }
  }
  return a;
}

const CACHE = path.join(__dirname, '.cache', 'quant');

function tokens(vocab: number, n: number): string {
  return seededTokensFile(path.join(CACHE, `tokens-${vocab}-${n}.bin`), n, vocab);
}

async function runChild(child: string, job: EngineJob): Promise<EngineResult> {
  const file = path.join(os.tmpdir(), `peft-quant-job-${process.pid}.json`);
  fs.writeFileSync(file, JSON.stringify(job));
  try {
    return JSON.parse(await runChildLastLine(process.execPath, [child, file])) as EngineResult;
  } finally {
    fs.rmSync(file, { force: true });
  }
}

const gib = (b: number): string => `${(b / 2 ** 30).toFixed(2)} GiB`;

interface Row { model: string; base: string; r: EngineResult }

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  fs.mkdirSync(CACHE, { recursive: true });
  const child = await bundleBenchChild('engineStep', CACHE);
  const rows: Row[] = [];
  for (const name of a.cases) {
    const shape = SHAPES[name];
    if (shape === undefined) throw new Error(`unknown case ${name} (${Object.keys(SHAPES).join(', ')})`);
    const dir = path.join(CACHE, name);
    process.stderr.write(`[${name}] model (written once) ...\n`);
    await ensureBigFixture(dir, shape);
    const bases: ('fp32' | 'q4')[] = name === '3b' && !a.fp32For3b ? ['q4'] : ['fp32', 'q4'];
    for (const base of bases) {
      const cacheDir = fs.mkdtempSync(path.join(CACHE, 'graphs-'));
      const job: EngineJob = {
        modelDir: dir, tokensFile: tokens(shape.overrides['vocab_size']!, a.batch * a.seq), batch: a.batch, seq: a.seq,
        steps: a.steps - 1, warmup: 1, threads: a.threads, device: 'cpu', targets: 'qkvo', r: 8, alpha: 16, cacheDir,
        ...(base === 'q4' ? { quantization: { bits: 4, block_size: a.block as 32 } } : {}),
        ...(a.prepack !== 'auto' ? { sessionOptions: { extra: { session: { disable_prepacking: a.prepack === 'on' ? '0' : '1' } } } } : {}),
      };
      process.stderr.write(`[${name}] ${base}: ${os.freemem() / 2 ** 30 | 0} GiB free before the run ...\n`);
      try {
        const r = await runChild(child, job);
        rows.push({ model: name, base, r });
        process.stderr.write(`[${name}] ${base}: peak ${gib(r.peakRssBytes)}, ${r.tokensPerS.toFixed(1)} tok/s, step-1 loss ${r.firstLoss.toFixed(4)}, setup ${r.setupS.toFixed(1)} s, first step ${r.firstStepS.toFixed(1)} s\n`);
      } finally {
        fs.rmSync(cacheDir, { recursive: true, force: true });
      }
    }
  }
  const fp32Of = (model: string): EngineResult | undefined => rows.find((x) => x.model === model && x.base === 'fp32')?.r;
  const lines = [
    `seq ${a.seq}, batch ${a.batch}, ${a.steps} steps (1 warm-up), LoRA r=8 on q/k/v/o, ${a.threads} threads, block ${a.block}, prepacking ${a.prepack}`,
    '| model | base | peak RSS | vs fp32 | steady RSS | tokens/s | vs fp32 | step-1 loss | vs fp32 | setup (quantize) | first step |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const { model, base, r } of rows) {
    const f = fp32Of(model);
    const rel = (x: number, y: number | undefined, pct = false): string => (y === undefined || base === 'fp32' ? '' : pct ? `${(100 * (x - y) / y).toFixed(2)} %` : `${(x / y).toFixed(2)}×`);
    lines.push(`| ${model} | ${base} | ${gib(r.peakRssBytes)} | ${rel(r.peakRssBytes, f?.peakRssBytes)} | ${gib(r.steadyRssBytes)} | ${r.tokensPerS.toFixed(1)} | ${rel(r.tokensPerS, f?.tokensPerS)} | ${r.firstLoss.toFixed(4)} | ${rel(r.firstLoss, f?.firstLoss, true)} | ${r.setupS.toFixed(1)} s | ${r.firstStepS.toFixed(1)} s |`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
