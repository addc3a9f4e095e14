// `peft-studio export trl RECIPE OUT_DIR ...` (a TRL + accelerate project for a cluster) and
// `peft-studio export serve vllm|lorax --model BASE --adapter NAME=DIR ...` (docker-compose + Kubernetes launch files).
import * as path from 'node:path';
import type { CliCommand, CliIO, ParsedArgs } from '../command';
import { UsageError } from '../../core/errors';
import { buildTrlExport, writeTrlExport } from '../../core/export/exportTrl';
import { buildServeExport, parseAdapterArg, SERVE_ENGINES, writeServeExport, type ServeEngine } from '../../core/export/serve';

function intOpt(v: unknown, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || !Number.isInteger(n) || n < 1) throw new UsageError(`--${name} needs a positive integer, got "${String(v)}"`);
  return n;
}

export function exportTrlCli(args: ParsedArgs, io: CliIO): Promise<number> {
  const [recipe, outDir, ...extra] = args.positionals;
  if (recipe === undefined || outDir === undefined) throw new UsageError('missing RECIPE or OUT_DIR', 'Example: peft-studio export trl peft-train.yaml cluster/ --accelerate zero3 --gpus 8');
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  const str = (k: string): string | undefined => (typeof args.values[k] === 'string' ? (args.values[k] as string) : undefined);
  const gpus = intOpt(args.values['gpus'], 'gpus');
  const nodes = intOpt(args.values['nodes'], 'nodes');
  const exp = buildTrlExport({
    recipeFile: recipe,
    ...(str('accelerate') !== undefined ? { strategy: str('accelerate')! } : {}),
    ...(gpus !== undefined ? { gpus } : {}),
    ...(nodes !== undefined ? { nodes } : {}),
    quantization: str('quantization') ?? null,
    ...(str('accelerator') !== undefined ? { accelerator: str('accelerator')! } : {}),
    ...(str('precision') !== undefined ? { precision: str('precision')! } : {}),
  });
  const files = writeTrlExport(exp, outDir);
  if (args.values['json'] === true) {
    io.out(JSON.stringify({ dir: path.resolve(outDir), format: exp.format, options: exp.options, files, notes: exp.notes }));
    return Promise.resolve(0);
  }
  for (const n of exp.notes.filter((x) => x.level === 'warning')) io.err(`warning: ${n.topic}: ${n.message}`);
  io.out([
    `Exported a TRL project (${exp.options.strategy}, ${exp.options.gpus} GPU(s) × ${exp.options.nodes} node(s), ${exp.format} data) to ${outDir}:`,
    ...files.map((f) => `  ${f}`),
    '',
    `Run: cd ${outDir} && accelerate launch --config_file accelerate_config.yaml train.py --config sft_config.yaml`,
    'README.md lists the launch on SkyPilot and Kubernetes and every difference from a local run.',
  ].join('\n'));
  return Promise.resolve(0);
}

export function exportServeCli(args: ParsedArgs, io: CliIO): Promise<number> {
  const [engine, ...extra] = args.positionals;
  if (engine === undefined || !(SERVE_ENGINES as readonly string[]).includes(engine)) {
    throw new UsageError(`export serve needs an engine: ${SERVE_ENGINES.join(' or ')}${engine !== undefined ? `, got "${engine}"` : ''}`);
  }
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  const model = args.values['model'];
  if (typeof model !== 'string' || model === '') throw new UsageError('missing --model BASE', 'The base model the adapters were trained on: a hub id or a folder');
  const raw = args.values['adapter'];
  const list = Array.isArray(raw) ? raw : typeof raw === 'string' ? [raw] : [];
  if (list.length === 0) throw new UsageError('give at least one --adapter NAME=DIR');
  const out = typeof args.values['out'] === 'string' ? args.values['out'] : '.';
  const exp = buildServeExport({ engine: engine as ServeEngine, model, adapters: list.map(parseAdapterArg) });
  const files = writeServeExport(exp, out);
  if (args.values['json'] === true) {
    io.out(JSON.stringify({ dir: path.resolve(out), engine, files, maxLoraRank: exp.maxLoraRank, problems: exp.problems }));
    return Promise.resolve(0);
  }
  for (const p of exp.problems) io.err(`${p.severity}: ${p.adapter}: ${p.message}`);
  io.out([`Wrote the ${engine} launch for ${list.length} adapter(s) to ${out}:`, ...files.map((f) => `  ${f}`)].join('\n'));
  return Promise.resolve(0);
}

export const CLUSTER_HELP = [
  'Usage: peft-studio export trl RECIPE OUT_DIR [--accelerate single_gpu|multi_gpu|zero2|zero3|fsdp2] [--gpus N] [--nodes N] [--quantization 4bit] [--precision bf16] [--json]',
  '       peft-studio export serve vllm|lorax --model BASE --adapter NAME=DIR [--adapter NAME=DIR]... [--out DIR] [--json]',
  '',
  'export trl writes sft_config.yaml (TRL CLI keys), adapter_config.json, peft_studio.json, accelerate_config.yaml,',
  'train.py (our data formats and label masking, a metrics.jsonl callback), requirements.txt (pinned), sky.yaml,',
  'k8s-job.yaml and a README that says where TRL differs from a local run (also printed as warnings).',
  'export serve writes docker-compose.yaml and k8s.yaml for the engine, and reports what the engine will refuse',
  'or ignore in each adapter_config.json.',
  '',
  'Options:',
  '  --accelerate S     distributed strategy (default single_gpu)',
  '  --gpus N           GPUs per node (default 1 for single_gpu, else 8)',
  '  --nodes N          machines (default 1)',
  '  --quantization Q   4bit: QLoRA (bitsandbytes NF4; with FSDP/ZeRO-3 the 4-bit storage dtype is set)',
  '  --precision P      fp32, fp16 or bf16 instead of the recipe\'s (a large base model wants bf16)',
  '  --accelerator T    SkyPilot accelerator name for sky.yaml (default H100)',
  '  --model BASE       serve: the base model (hub id or path inside the container)',
  '  --adapter NAME=DIR serve: an adapter folder (adapter_config.json + adapter_model.safetensors); repeatable',
  '  --out DIR          serve: where to write the files (default .)',
  '  --json             machine output',
];

export const CLUSTER_EXPORT_OPTIONS: CliCommand['options'] = {
  accelerate: { type: 'string' },
  gpus: { type: 'string' },
  nodes: { type: 'string' },
  quantization: { type: 'string' },
  accelerator: { type: 'string' },
  precision: { type: 'string' },
  model: { type: 'string', short: 'm' },
  adapter: { type: 'string', multiple: true },
  out: { type: 'string', short: 'o' },
  json: { type: 'boolean' },
};
