// Memory estimate vs measured peak RSS of real `peft-studio train` runs (the built CLI, cold graph cache), from the
// 5M demo model to a 1.1B Llama; prints a markdown table and with --write-docs refreshes docs/MEMORY.md's table.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { demoRecipe, prepareDemo } from '../src/cli/commands/demo';
import { makeFixture, type FixtureArch, type FixtureSize } from '../src/core/fixtures/makeFixture';
import { writeSampleData, type SampleFormat } from '../src/core/fixtures/sampleData';
import { errorMessage } from '../src/core/errors';

const HELP = `usage: npx tsx bench/memory.bench.ts [--cases demo,gpt2-small,llama-32m,llama-32m-packed,llama-1.1b] [--steps N] [--write-docs]
  (build first: npm run build). The 1.1B case writes a 4.4 GB model once under bench/.cache and needs ~6 GB of RAM
  and several minutes on 2 cores; leave it out with --cases demo,gpt2-small,llama-32m,llama-32m-packed.`;

interface Case {
  name: string;
  arch: FixtureArch;
  size: FixtureSize;
  /** config.json overrides (the 1.1B shape). */
  overrides?: Record<string, unknown>;
  format: SampleFormat;
  targets: string[];
  r: number;
  batch: number;
  maxLength: number;
  withEval: boolean;
  /** Pack examples into rows of max_length (long rows from short examples). */
  packing?: boolean;
}

/** TinyLlama-1.1B's shape (random weights): hidden 2048, 22 layers, 32 heads / 4 KV heads, MLP 5632, vocab 32000. */
const TINYLLAMA_SHAPE = { hidden_size: 2048, num_hidden_layers: 22, num_attention_heads: 32, num_key_value_heads: 4, intermediate_size: 5632, vocab_size: 32000, head_dim: 64 };

const CASES: Case[] = [
  { name: 'demo', arch: 'llama', size: 'small', format: 'messages', targets: [], r: 8, batch: 8, maxLength: 128, withEval: true },
  { name: 'gpt2-small', arch: 'gpt2', size: 'small', format: 'alpaca', targets: ['c_attn', 'c_fc'], r: 8, batch: 4, maxLength: 256, withEval: false },
  { name: 'llama-32m', arch: 'llama', size: 'bench', format: 'messages', targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], r: 16, batch: 4, maxLength: 256, withEval: false },
  { name: 'llama-32m-packed', arch: 'llama', size: 'bench', format: 'messages', targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], r: 16, batch: 4, maxLength: 512, withEval: false, packing: true },
  { name: 'llama-1.1b', arch: 'llama', size: 'bench', overrides: TINYLLAMA_SHAPE, format: 'messages', targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj'], r: 8, batch: 2, maxLength: 128, withEval: false },
];

const ROOT = path.join(__dirname, '..');
const CACHE = path.join(__dirname, '.cache', 'memory');
const CLI = path.join(ROOT, 'bin', 'peft-studio.js');

async function project(c: Case, steps: number): Promise<string> {
  const dir = path.join(CACHE, c.name);
  if (c.name === 'demo') return (await prepareDemo(dir, steps)).recipe;
  const model = path.join(CACHE, `model-${c.name.replace(/-packed$/, '')}`);
  if (!fs.existsSync(path.join(model, 'model.safetensors'))) {
    await makeFixture({ arch: c.arch, size: c.size, outDir: model, seed: 1, ...(c.overrides !== undefined ? { overrides: c.overrides } : {}) });
  }
  if (!fs.existsSync(path.join(dir, 'data'))) writeSampleData(path.join(dir, 'data'), { formats: [c.format] });
  fs.writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify({ r: c.r, lora_alpha: 2 * c.r, target_modules: c.targets, task_type: 'CAUSAL_LM' }, null, 2));
  // The demo's recipe with this case's model, data, batch and length.
  const recipe = demoRecipe(steps)
    .replace('base_model: ./model', `base_model: ${model}`)
    .replaceAll('data/messages/', `data/${c.format}/`)
    .replace('format: messages', `format: ${c.format}`)
    .replace('max_length: 128', `max_length: ${c.maxLength}`)
    .replace('per_device_train_batch_size: 8', `per_device_train_batch_size: ${c.batch}`)
    .replace('  shuffle: true\n', c.packing === true ? '  shuffle: true\n  packing: true\n' : '  shuffle: true\n')
    .replace(/\n {2}eval: .*\n/, c.withEval ? '$&' : '\n')
    .replace(/\n {2}eval_steps: .*\n/, c.withEval ? '$&' : '\n');
  const file = path.join(dir, 'peft-train.yaml');
  fs.writeFileSync(file, recipe);
  return file;
}

function runCli(args: string[], maxRssFile?: string): string {
  const r = spawnSync(process.execPath, [...(maxRssFile !== undefined ? ['-r', path.join(__dirname, 'maxRss.cjs')] : []), CLI, ...args], {
    encoding: 'utf8', env: { ...process.env, ...(maxRssFile !== undefined ? { PEFT_BENCH_MAXRSS_FILE: maxRssFile } : {}) }, maxBuffer: 64 * 2 ** 20,
  });
  if (r.status !== 0) throw new Error(`peft-studio ${args.join(' ')} failed (${r.status}):\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

interface Row { name: string; params: string; shape: string; estimate: number; measured: number }

async function measure(c: Case, steps: number): Promise<Row> {
  const recipe = await project(c, steps);
  fs.rmSync(path.join(path.dirname(recipe), 'runs'), { recursive: true, force: true });
  const est = JSON.parse(runCli(['estimate', recipe, '--json'])) as { totalBytes: number; batchSize: number; seqLen: number; components: { name: string; detail: string }[] };
  const rssFile = path.join(path.dirname(recipe), 'maxrss.txt');
  runCli(['train', recipe, '--json'], rssFile);
  const measured = Number(fs.readFileSync(rssFile, 'utf8'));
  const params = est.components.find((x) => x.name === 'base weights')!.detail.split(' ')[0]!;
  return { name: c.name, params, shape: `${est.batchSize} × ${est.seqLen}${c.packing === true ? ' packed' : ''}${c.withEval ? ' + eval' : ''}`, estimate: est.totalBytes, measured };
}

const mib = (n: number): string => `${Math.round(n / 2 ** 20)} MiB`;

function table(rows: Row[]): string {
  const lines = ['| case | parameters | batch × tokens | estimate | measured peak RSS | error |', '|---|---|---|---|---|---|'];
  for (const r of rows) lines.push(`| ${r.name} | ${r.params} | ${r.shape} | ${mib(r.estimate)} | ${mib(r.measured)} | ${((r.estimate / r.measured - 1) * 100).toFixed(1)} % |`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help')) return void process.stdout.write(HELP + '\n');
  const opt = (name: string): string | undefined => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
  const names = (opt('--cases') ?? CASES.map((c) => c.name).join(',')).split(',');
  const steps = Number(opt('--steps') ?? 3);
  const rows: Row[] = [];
  for (const name of names) {
    const c = CASES.find((x) => x.name === name);
    if (c === undefined) throw new Error(`unknown case ${name}: ${CASES.map((x) => x.name).join(', ')}`);
    const row = await measure(c, steps);
    process.stderr.write(`${row.name}: estimate ${mib(row.estimate)}, measured ${mib(row.measured)}\n`);
    rows.push(row);
  }
  const out = table(rows);
  process.stdout.write(out + '\n');
  if (argv.includes('--write-docs')) {
    const doc = path.join(ROOT, 'docs', 'MEMORY.md');
    const text = fs.readFileSync(doc, 'utf8');
    const start = text.indexOf('<!-- memory-table:start -->');
    const end = text.indexOf('<!-- memory-table:end -->');
    if (start < 0 || end < 0) throw new Error('docs/MEMORY.md has no memory-table markers');
    fs.writeFileSync(doc, `${text.slice(0, start)}<!-- memory-table:start -->\n${out}\n${text.slice(end)}`);
  }
}

void main().catch((e: unknown) => {
  process.stderr.write(`${errorMessage(e)}\n`);
  process.exit(1);
});
