// Measures ORT's MLAS prepacking trade (docs/ONNXRUNTIME.md, `session.disable_prepacking`) on a 2-D Gemm with a ~50 MB external
// weight: session-creation time, run time and RSS, each config in its own process. Run: npx tsx test/slow/graph/prepackBench.ts
// Measured 2026-11-28 on the shared 2-core node (load average 10-14, so times are best-of and only indicative), W 52 MB:
//   forward only (Gemm transB=1): RSS peak +12 MB and steady ±0 with prepacking (ORT frees the unpacked original);
//     create 230-680 ms vs 30-120 ms; best run 78-149 ms vs 122-238 ms.
//   forward + backward (W also read by Gemm(dY, W) transB=0): steady +55-75 MB (one extra weight copy), peak 273-282 vs
//     215-229 MB; create 300-780 ms vs 35-120 ms; best run 144-412 vs 171-480 ms (no clear winner under this load).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as G from '../../../src/core/graph';
import { readSafetensorsHeader } from '../../../src/core/safetensors/read';
import { writeSafetensors } from '../../../src/core/safetensors/write';
import { peakRssBytes } from '../../../src/core/util/peakRss';

const OUT = 3200;
const IN = 4096; // W = 3200 x 4096 fp32 = 52.4 MB
const TOKENS = 256;

const mb = (b: number): number => Math.round(b / 2 ** 20);

async function child(dir: string, prepack: boolean, backward: boolean): Promise<void> {
  const rss0 = process.memoryUsage().rss;
  const header = readSafetensorsHeader(path.join(dir, 'model.safetensors'));
  const g = new G.Graph();
  const x = g.input('x', 'float32', [TOKENS, IN]);
  const W = G.weightFromSafetensors(g, header.tensors.get('model.layers.0.mlp.down_proj.weight')!);
  g.output(G.linear(x, W), 'y');
  if (backward) g.output(G.gemm(g.input('dy', 'float32', [TOKENS, OUT]), W), 'dx'); // dX = dY·W, as the backward does
  const t0 = performance.now();
  const s = await G.GraphSession.create(g, {
    dir, fileName: `bench-${prepack}-${backward}.onnx`,
    sessionOptions: { intraOpNumThreads: 2, ...(prepack ? {} : { extra: { session: { disable_prepacking: '1' } } }) },
  });
  const createMs = performance.now() - t0;
  const rssAfterCreate = process.memoryUsage().rss;
  const feeds: Record<string, G.Feed> = { x: Float32Array.from({ length: TOKENS * IN }, (_, i) => ((i * 7) % 13) / 13 - 0.5) };
  if (backward) feeds['dy'] = Float32Array.from({ length: TOKENS * OUT }, (_, i) => ((i * 5) % 11) / 11 - 0.5);
  await s.run(feeds);
  const times: number[] = [];
  for (let i = 0; i < 12; i++) {
    const t = performance.now();
    await s.run(feeds);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  const flops = 2 * TOKENS * IN * OUT * (backward ? 2 : 1);
  const median = times[6]!;
  console.log(JSON.stringify({
    prepack, backward, createMs: Math.round(createMs), runMinMs: Math.round(times[0]!), runMedianMs: Math.round(median), bestGflops: +(flops / times[0]! / 1e6).toFixed(1),
    rssBaseMB: mb(rss0), rssAfterCreateMB: mb(rssAfterCreate), rssSteadyMB: mb(process.memoryUsage().rss),
    peakRssMB: Math.round(peakRssBytes() / 2 ** 20),
  }));
  await s.release();
}

function main(): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peft-prepack-'));
  try {
    writeSafetensors(path.join(dir, 'model.safetensors'), [{
      name: 'model.layers.0.mlp.down_proj.weight', dtype: 'F32', shape: [OUT, IN],
      data: Float32Array.from({ length: OUT * IN }, (_, i) => ((i * 31) % 17) / 17 - 0.5),
    }]);
    for (let rep = 0; rep < 3; rep++) {
      for (const backward of [false, true]) {
        for (const prepack of [true, false]) {
          const out = execFileSync(process.execPath, ['--import', 'tsx', __filename, 'child', dir, String(prepack), String(backward)], { encoding: 'utf8' });
          process.stdout.write(out);
        }
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'child') void child(process.argv[3]!, process.argv[4] === 'true', process.argv[5] === 'true');
else main();
