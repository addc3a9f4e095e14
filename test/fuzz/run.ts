// Command-line fuzzing run: `npx tsx test/fuzz/run.ts [CASES] [SEED] [WORKERS] [BIG 0|1] [FAMILY inputs|export]` prints the counts by outcome
// (crash, hang, oom = over the 2 GB heap limit, unnamed = exit 1 without a file name, leak) and each failure.
import { runFuzz } from './pool';

async function cli(): Promise<void> {
  const [cases = '1000', seed = '1', workers = '2', big = '0', family = 'inputs'] = process.argv.slice(2);
  const t0 = Date.now();
  const r = await runFuzz({
    family: family === 'export' ? 'export' : 'inputs', cases: Number(cases), seed: Number(seed), workers: Number(workers), big: big === '1', timeoutMs: 60_000,
    onCase: (i, outcome, detail) => {
      if (outcome !== 'ok') console.log(`${outcome}: ${detail}`);
      if ((i + 1) % 500 === 0) console.error(`${i + 1} cases, ${Math.round((Date.now() - t0) / 1000)} s`);
    },
  });
  console.log(JSON.stringify({ cases: Number(cases), seed: Number(seed), seconds: Math.round((Date.now() - t0) / 1000), ...r.counts, slowestMs: r.slowestMs, maxRssMb: r.maxRssMb, exitCodes: r.exitCodes }));
}

void cli();
