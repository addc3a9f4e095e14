// Which backward wins for a 4-bit base's dX = dY·W: the blocks dequantized per use + Gemm (what the engine does), or
// MatMulNBits on a second packed layout of Wᵀ (blocks along N). Median time and VmHWM, one child process per variant.
import { spawnSync } from 'node:child_process';
import * as G from '../src/core/graph';
import { quantizeBlocks } from '../src/core/quant/blockQuant';
import { peakRssBytes } from '../src/core/util/peakRss';
import { Rng } from '../src/core/util/random';

const VARIANTS = ['fp32-gemm', 'dequant-per-use', 'matmulnbits-wt'] as const;
type Variant = (typeof VARIANTS)[number];
/** TinyLlama's MLP shapes: gate/up [5632, 2048] and down [2048, 5632]; 128 tokens. */
const SHAPES = [{ n: 5632, k: 2048 }, { n: 2048, k: 5632 }];
const M = 128;
const BS = 32;
const LAYERS = 4; // several weights per graph, so a copy kept per weight shows in the peak

async function child(variant: Variant, prepack: boolean): Promise<void> {
  const g = new G.Graph('backward');
  const rng = new Rng(1);
  let dx: G.Value | undefined;
  const inputs: { name: string; n: number }[] = [];
  for (let l = 0; l < LAYERS; l++) {
    for (const [i, { n, k }] of SHAPES.entries()) {
      const w = new Float32Array(n * k);
      rng.fillUniform(w, -0.03, 0.03);
      const dy = g.input(`dy${l}_${i}`, 'float32', ['M', n]);
      inputs.push({ name: dy.name, n });
      let y: G.Value;
      if (variant === 'fp32-gemm') y = G.gemm(dy, g.initializer(`W${l}_${i}`, 'float32', [n, k], w));
      else if (variant === 'dequant-per-use') {
        const q = quantizeBlocks(w, n, k, BS);
        const b = g.initializer(`B${l}_${i}`, 'uint8', [n, q.kBlocks, BS / 2], q.packed);
        y = G.gemm(dy, G.dequantizeNBits(b, g.initializer(`s${l}_${i}`, 'float32', [n * q.kBlocks], q.scales), { K: k, N: n, bits: 4, blockSize: BS }, dy));
      } else {
        const wt = new Float32Array(n * k);
        for (let r = 0; r < n; r++) for (let c = 0; c < k; c++) wt[c * n + r] = w[r * k + c]!;
        const q = quantizeBlocks(wt, k, n, BS);
        y = G.matMulNBits(dy, g.initializer(`BT${l}_${i}`, 'uint8', [k, q.kBlocks, BS / 2], q.packed), g.initializer(`sT${l}_${i}`, 'float32', [k * q.kBlocks], q.scales), { K: n, N: k, bits: 4, blockSize: BS });
      }
      const s = G.reduceSum(y, undefined, false);
      dx = dx === undefined ? s : G.add(dx, s);
    }
  }
  g.output(dx!, 'out');
  const baseline = peakRssBytes();
  const sess = await G.GraphSession.create(g, { sessionOptions: { intraOpNumThreads: 2, enableMemPattern: false, extra: { session: { disable_prepacking: prepack ? '0' : '1' } } } });
    const feeds = Object.fromEntries(inputs.map(({ name, n }) => {
    const d = new Float32Array(M * n);
    rng.fillUniform(d, -1, 1);
    return [name, { data: d, dims: [M, n] }];
  }));
  const times: number[] = [];
  for (let i = 0; i < 6; i++) {
    const t0 = performance.now();
    await sess.run(feeds);
    if (i > 0) times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  process.stdout.write(`${JSON.stringify({ variant, prepack, msPerWeight: times[Math.floor(times.length / 2)]! / (LAYERS * SHAPES.length), peakRssMiB: (peakRssBytes() - baseline) / 2 ** 20 })}\n`);
  await sess.release();
}

function main(): void {
  const rows: string[] = ['| backward dX = dY·W | prepacking | ms per weight (median) | peak RSS over the graph-building peak (ORT\'s share) |', '|---|---|---|---|'];
  for (const prepack of [false, true]) {
    for (const v of VARIANTS) {
      const r = spawnSync(process.execPath, [...process.execArgv, __filename, v, String(prepack)], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`${v}: ${r.stderr}`);
      const o = JSON.parse(r.stdout.trim().split('\n').pop()!) as { msPerWeight: number; peakRssMiB: number };
      rows.push(`| ${v} | ${prepack ? 'on' : 'off'} | ${o.msPerWeight.toFixed(1)} | ${o.peakRssMiB.toFixed(0)} MiB |`);
    }
  }
  process.stdout.write(`${M} tokens, ${LAYERS}× TinyLlama MLP weights [5632, 2048] and [2048, 5632], block ${BS}, 2 threads; RSS: VmHWM at the end minus VmHWM before the session (the graph, with its weights inline, built in JS first)\n${rows.join('\n')}\n`);
}

if (process.argv[2] !== undefined) {
  child(process.argv[2] as Variant, process.argv[3] === 'true').catch((e: unknown) => { process.stderr.write(String(e)); process.exit(1); });
} else main();
