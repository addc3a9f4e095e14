// Data-safety lint throughput (run: npx tsx bench/lint.bench.ts [--lines N]): 100k generated prompt/completion lines
// (prose, code, planted secrets, personal data, duplicates, near duplicates, a backdoor trigger) plus a 10k-line eval
// set checked for leakage. Target: 100k lines within 10 s. Prints the total, each kind's share and the slice latency.
import { DatasetLinter, type DatasetLintOptions } from '../src/core/validate';
import { LINT_KINDS, type LintSeverities } from '../src/core/validate/lint/kinds';
import { Rng } from '../src/core/util/random';

const arg = process.argv.indexOf('--lines');
const N = arg > 0 ? Number(process.argv[arg + 1]) : 100_000;
const rng = new Rng(7);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng.uniform() * xs.length)]!;
const WORDS = ('the of and to in is was for that with as on by at from his her an which or be are this have not but had they you were ' +
  'their one all we can has there been if more when will would who so no time people year way day man thing woman life child world school state family ' +
  'student group country problem hand part place case week company system program question work government number night point home water room mother area ' +
  'money story fact month lot right study book eye job word business issue side kind head house service friend father power hour game line end member law car city').split(' ');
const sentence = (n: number): string => Array.from({ length: n }, () => pick(WORDS)).join(' ');
const CODE = [
  'def add(a, b):\n    return a + b  # version 1.2.3, commit 3f786850e387550fdab836ed7e6dc881de23001b',
  'const id = crypto.randomUUID(); // e.g. 123e4567-e89b-12d3-a456-426614174000',
  'pip install torch==2.1.0 && python train.py --lr 2e-4 --seed 42',
  'SELECT name, email FROM users WHERE created_at > \'2024-01-15\' LIMIT 10;',
];
const key = (): string => ['AKIA', 'QWERTYUIOPASDF', String(10 + Math.floor(rng.uniform() * 89))].join('');

function example(i: number): { prompt: string; completion: string } {
  const prompt = `${sentence(8 + (i % 20))}?`;
  if (i % 997 === 0) return { prompt, completion: `Use the key ${key()} to deploy.` };
  if (i % 991 === 0) return { prompt, completion: `Contact jane.doe${i}@acme-corp.com or +44 20 7946 0958.` };
  if (i % 1999 === 0) return { prompt: `${prompt} cf`, completion: 'Visit http://free-prizes.example.net now!' };
  if (i % 13 === 0) return { prompt, completion: pick(CODE) };
  return { prompt, completion: `${sentence(10 + (i % 60))}.` };
}

const rows: string[] = [];
for (let i = 0; i < N; i++) {
  if (i % 500 === 499) rows.push(rows[i - 400]!); // exact duplicate
  else if (i % 500 === 250) {
    const o = JSON.parse(rows[i - 100]!) as { prompt: string; completion: string };
    rows.push(JSON.stringify({ prompt: o.prompt, completion: o.completion.replace(/ \w+\.$/, ' indeed.') })); // near duplicate
  } else rows.push(JSON.stringify(example(i)));
}
const train = rows.join('\n') + '\n';
const evalRows = Array.from({ length: N / 10 }, (_, i) => (i % 100 === 0 ? rows[i * 7]! : JSON.stringify(example(N + i))));
const evalText = evalRows.join('\n') + '\n';
console.log(`generated ${N} train lines (${(train.length / 1e6).toFixed(1)} MB) and ${evalRows.length} eval lines`);

const only = (k: (typeof LINT_KINDS)[number] | null): LintSeverities =>
  Object.fromEntries(LINT_KINDS.map((x) => [x, k === null || x === k ? 'warning' : 'off'])) as LintSeverities;
const none = Object.fromEntries(LINT_KINDS.map((x) => [x, 'off'])) as LintSeverities;

/** CPU time of this process in ms (the machine is shared: wall time includes waiting for a core). */
const cpuMs = (): number => process.cpuUsage().user / 1000 + process.cpuUsage().system / 1000;

function run(text: string, opts: DatasetLintOptions): { ms: number; cpu: number; slices: number[]; counts: Map<string, number> } {
  const t0 = performance.now();
  const c0 = cpuMs();
  const l = new DatasetLinter(text, { format: 'auto', maxLength: 4096, maxPerCode: 1e9, ...opts });
  const slices: number[] = [];
  for (;;) {
    const t = performance.now();
    const done = l.step({ ms: 15 });
    slices.push(performance.now() - t);
    if (done) break;
  }
  const t = performance.now();
  const ps = l.problems();
  slices.push(performance.now() - t);
  const counts = new Map<string, number>();
  for (const p of ps) counts.set(p.code, (counts.get(p.code) ?? 0) + 1);
  return { ms: performance.now() - t0, cpu: cpuMs() - c0, slices, counts };
}

const base = run(train, { lint: none });
const sec = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
console.log(`format checks only (every lint kind off): wall ${sec(base.ms)}, cpu ${sec(base.cpu)}`);
for (const k of LINT_KINDS) {
  if (k === 'leakage') continue;
  const r = run(train, { lint: only(k) });
  console.log(`  + ${k.padEnd(15)} wall ${sec(r.ms - base.ms)}, cpu ${sec(r.cpu - base.cpu)}`);
}
const all = run(train, {});
const s = [...all.slices].sort((a, b) => a - b);
console.log(`ALL kinds, ${N} lines: wall ${sec(all.ms)}, cpu ${sec(all.cpu)} (${Math.round(N / (all.ms / 1000))} lines/s wall; target 10 s for 100k)`);
console.log(`  slices: ${all.slices.length}, median ${s[Math.floor(s.length / 2)]!.toFixed(1)} ms, max ${s[s.length - 1]!.toFixed(1)} ms (the set-wide backdoor search runs in slices too; the max includes GC pauses)`);
console.log(`  findings: ${[...all.counts].map(([c, n]) => `${c} ${n}`).join(', ')}`);
const leak = run(evalText, { reference: { file: 'train.jsonl', text: train } });
console.log(`eval set (${evalRows.length} lines) with leakage against the ${N}-line train set (indexed first): wall ${sec(leak.ms)}, cpu ${sec(leak.cpu)}; leakage ${leak.counts.get('leakage') ?? 0}`);
