// `peft-studio fixture --arch llama|qwen2|gpt2 [--size] [--seed] [--dtype] [--layout] OUT`: writes a small, real
// Hugging Face model folder (config, safetensors weights, BPE tokenizer) for tests, demos and benchmarks; no download.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CliCommand } from '../command';
import { UsageError } from '../../core/errors';
import { didYouMean } from '../../core/util/didYouMean';
import { makeFixture, FIXTURE_ARCHS, FIXTURE_SIZES, type FixtureArch, type FixtureDtype, type FixtureSize } from '../../core/fixtures/makeFixture';
import { writeSampleData } from '../../core/fixtures/sampleData';

const ARCHS: readonly FixtureArch[] = FIXTURE_ARCHS;
const SIZES = Object.keys(FIXTURE_SIZES) as FixtureSize[];
const DTYPES: readonly FixtureDtype[] = ['F32', 'F16', 'BF16'];
const LAYOUTS = ['prefixed', 'hub'] as const;

function choice<T extends string>(value: unknown, name: string, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new UsageError(`unknown --${name} "${String(value)}" (choices: ${allowed.join(', ')}).${didYouMean(String(value), allowed)}`);
  }
  return value as T;
}

export const fixtureCommand: CliCommand = {
  name: 'fixture',
  summary: 'Write a small test model (Llama, Qwen2 or GPT-2 layout) with a real tokenizer, no download',
  help: [
    'Usage: peft-studio fixture --arch llama|qwen2|gpt2 [--size tiny|small|bench] [--seed N] [--dtype F32|F16|BF16]',
    '                           [--layout prefixed|hub] [--data] [--force] [--json] OUT',
    '',
    'Writes OUT/config.json, model.safetensors (seeded N(0, 0.02) weights under their Hugging Face names),',
    'tokenizer.json (byte-level BPE), tokenizer_config.json (ChatML chat template) and generation_config.json.',
    'The same options and seed always give byte-identical files.',
    '',
    'Options:',
    '  --arch NAME     llama (GQA), qwen2 (q/k/v bias, tied embeddings) or gpt2 (Conv1D, learned positions)',
    '  --size NAME     tiny: hidden 64, 2 layers (unit tests); small: hidden 256, 6 layers, ~5M params (demo);',
    '                  bench: hidden 512, 8 layers, vocab 8192, ~32M params (default tiny)',
    '  --seed N        weight seed (default 0)',
    '  --dtype NAME    F32, F16 or BF16 (default F32)',
    '  --layout NAME   gpt2 only: prefixed (transformer.h.0...) or hub (h.0..., with attn.bias buffers)',
    '  --data          also write the built-in sample data set to OUT/data/<format>/{train,eval}.jsonl',
    '  --force         write into a non-empty OUT that is not a model folder',
    '  --json          print {"dir","config","files"} as JSON',
  ].join('\n'),
  options: {
    arch: { type: 'string', short: 'a' },
    size: { type: 'string', short: 's' },
    seed: { type: 'string' },
    dtype: { type: 'string' },
    layout: { type: 'string' },
    data: { type: 'boolean' },
    force: { type: 'boolean', short: 'f' },
    json: { type: 'boolean' },
  },
  async run(args, io) {
    const [out, ...extra] = args.positionals;
    if (out === undefined) throw new UsageError('missing OUT folder', 'Example: peft-studio fixture --arch llama ./models/tiny-llama');
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
    if (args.values['arch'] === undefined) throw new UsageError('missing --arch', `Choices: ${ARCHS.join(', ')}`);
    const arch = choice(args.values['arch'], 'arch', ARCHS, 'llama');
    const size = choice(args.values['size'], 'size', SIZES, 'tiny');
    const dtype = choice(args.values['dtype'], 'dtype', DTYPES, 'F32');
    const layout = choice(args.values['layout'], 'layout', LAYOUTS, 'prefixed');
    if (args.values['layout'] !== undefined && arch !== 'gpt2') throw new UsageError('--layout applies to --arch gpt2 only');
    const seedText = args.values['seed'];
    const seed = seedText === undefined ? 0 : Number(seedText);
    if (typeof seedText === 'string' && (seedText.trim() === '' || !Number.isSafeInteger(seed))) throw new UsageError(`--seed must be an integer, got "${String(seedText)}"`);
    const abs = path.resolve(out);
    if (fs.existsSync(abs) && fs.readdirSync(abs).length > 0 && !fs.existsSync(path.join(abs, 'config.json')) && args.values['force'] !== true) {
      throw new UsageError(`${abs} is not empty`, 'Choose an empty folder, or pass --force');
    }
    const fixture = await makeFixture({ arch, outDir: abs, size, seed, dtype, gpt2Layout: layout });
    const files = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json'].map((f) => path.join(abs, f));
    if (args.values['data'] === true) {
      for (const d of writeSampleData(path.join(abs, 'data'))) files.push(d.train, d.eval);
    }
    if (args.values['json'] === true) {
      io.out(JSON.stringify({ dir: fixture.dir, config: fixture.config, files }));
      return 0;
    }
    const bytes = fs.statSync(path.join(abs, 'model.safetensors')).size;
    io.out([
      `Wrote a ${size} ${arch} model (${dtype}, seed ${seed}) to ${fixture.dir}:`,
      `  vocab ${String(fixture.config['vocab_size'])}, weights ${(bytes / 1e6).toFixed(1)} MB`,
      ...files.map((f) => `  ${path.relative(process.cwd(), f).startsWith('..') ? f : path.relative(process.cwd(), f)}`),
    ].join('\n'));
    return 0;
  },
};
