// `peft-studio demo [--dir DIR] [--steps N] [--json]`: the embedded default — makes (or reuses) the `small` Llama
// fixture and the built-in data set, writes a recipe, trains a LoRA for under a minute, and shows where it went.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { CliCommand } from '../command';
import { UsageError } from '../../core/errors';
import { makeFixture } from '../../core/fixtures/makeFixture';
import { writeSampleData } from '../../core/fixtures/sampleData';
import type { RunEvent } from '../../shared/protocol';
import { trainWithOutput } from './train';

export const DEFAULT_DEMO_DIR = 'peft-studio-demo';
/** About a minute on 2 CPU cores (≈0.5 s a step for the small fixture at batch 8). */
export const DEFAULT_DEMO_STEPS = 100;

export const DEMO_ADAPTER_CONFIG = {
  r: 8,
  lora_alpha: 16,
  lora_dropout: 0.05,
  target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'],
  task_type: 'CAUSAL_LM',
};

export function demoRecipe(steps: number): string {
  return [
    '# Written by `peft-studio demo`: a LoRA on the built-in small Llama fixture and the sample chat data set.',
    'base_model: ./model',
    'adapter_config: ./adapter_config.json',
    'dataset:',
    '  train: data/messages/train.jsonl',
    '  eval: data/messages/eval.jsonl',
    '  format: messages',
    '  max_length: 128',
    '  shuffle: true',
    'training:',
    `  max_steps: ${steps}`,
    '  per_device_train_batch_size: 8',
    '  learning_rate: 3.0e-3',
    '  lr_scheduler_type: cosine',
    `  warmup_steps: ${Math.max(1, Math.round(steps / 10))}`,
    '  max_grad_norm: 1.0',
    '  logging_steps: 1',
    `  eval_steps: ${Math.max(1, Math.round(steps / 2))}`,
    '  seed: 42',
    'device: cpu',
    'output_dir: runs',
    '',
  ].join('\n');
}

/** Makes the demo project (model and data are kept when present); returns the recipe path. */
export async function prepareDemo(dir: string, steps: number): Promise<{ recipe: string; madeModel: boolean }> {
  mkdirSync(dir, { recursive: true });
  const modelDir = join(dir, 'model');
  let madeModel = false;
  if (!existsSync(join(modelDir, 'config.json')) || !existsSync(join(modelDir, 'model.safetensors'))) {
    await makeFixture({ arch: 'llama', size: 'small', outDir: modelDir, seed: 0 });
    madeModel = true;
  }
  if (!existsSync(join(dir, 'data', 'messages', 'train.jsonl'))) writeSampleData(join(dir, 'data'), { formats: ['messages'] });
  writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify(DEMO_ADAPTER_CONFIG, null, 2) + '\n');
  const recipe = join(dir, 'peft-train.yaml');
  writeFileSync(recipe, demoRecipe(steps));
  return { recipe, madeModel };
}

const BARS = '▁▂▃▄▅▆▇█';

/** The losses as a one-line chart (at most `width` buckets, each the mean of its steps). */
export function sparkline(values: readonly number[], width = 40): string {
  if (values.length === 0) return '';
  const n = Math.min(width, values.length);
  const buckets = Array.from({ length: n }, (_, i) => {
    const part = values.slice(Math.floor((i * values.length) / n), Math.floor(((i + 1) * values.length) / n));
    return part.reduce((a, b) => a + b, 0) / part.length;
  });
  const lo = Math.min(...buckets);
  const hi = Math.max(...buckets);
  return buckets.map((v) => BARS[hi > lo ? Math.round(((v - lo) / (hi - lo)) * (BARS.length - 1)) : 0]).join('');
}

export function pythonSnippet(modelDir: string, adapterDir: string): string {
  return [
    'from transformers import AutoModelForCausalLM, AutoTokenizer',
    'from peft import PeftModel',
    `tokenizer = AutoTokenizer.from_pretrained(${JSON.stringify(modelDir)})`,
    `base = AutoModelForCausalLM.from_pretrained(${JSON.stringify(modelDir)})`,
    `model = PeftModel.from_pretrained(base, ${JSON.stringify(adapterDir)})`,
  ].join('\n');
}

export const demoCommand: CliCommand = {
  name: 'demo',
  summary: 'Train a LoRA on a built-in small model and data set (no download), in under a minute on 2 cores',
  help: [
    'Usage: peft-studio demo [--dir DIR] [--steps N] [--json]',
    '',
    'Makes (or reuses) a small Llama-architecture model (~5M parameters, random weights, real BPE tokenizer with a',
    'ChatML template) and the built-in chat data set in DIR, writes DIR/adapter_config.json and DIR/peft-train.yaml,',
    'trains a LoRA on the CPU and prints where the adapter is and how to load it with PEFT.',
    '',
    'Options:',
    `  --dir DIR    demo folder (default ./${DEFAULT_DEMO_DIR})`,
    `  --steps N    optimizer steps (default ${DEFAULT_DEMO_STEPS}, under a minute on 2 cores)`,
    '  --json       print the run records as JSON lines (as `train --json`)',
  ].join('\n'),
  options: {
    dir: { type: 'string' },
    steps: { type: 'string' },
    json: { type: 'boolean' },
  },
  async run(args, io) {
    if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0]}"`);
    const stepsArg = args.values['steps'];
    const steps = stepsArg === undefined ? DEFAULT_DEMO_STEPS : Number(stepsArg);
    if (!Number.isInteger(steps) || steps < 1) throw new UsageError(`--steps must be a positive integer, got "${String(stepsArg)}"`);
    const dir = resolve(typeof args.values['dir'] === 'string' ? args.values['dir'] : DEFAULT_DEMO_DIR);
    const json = args.values['json'] === true;
    if (!json) io.out(`PEFT Studio demo in ${dir}`);
    const { recipe, madeModel } = await prepareDemo(dir, steps);
    if (!json) io.out(madeModel ? 'Made the small Llama fixture model and the sample chat data set.' : 'Reusing the demo model and data set.');
    const losses: number[] = [];
    const evals: number[] = [];
    const onEvent = (e: RunEvent): void => {
      if (e.event === 'step') losses.push(e.loss);
      if (e.event === 'eval') evals.push(e.eval_loss);
    };
    const r = await trainWithOutput({ configFile: recipe, json, onEvent }, io);
    if (r.code !== 0 || r.done === undefined || json) return r.code;
    io.out('');
    io.out(`Loss ${losses[0]?.toFixed(3)} → ${losses[losses.length - 1]?.toFixed(3)}  ${sparkline(losses)}`);
    if (evals.length > 0) io.out(`Eval loss: ${evals.map((x) => x.toFixed(3)).join(' → ')}`);
    io.out(`Adapter (PEFT format): ${r.done.adapter_dir}`);
    io.out(`Run folder: ${r.done.run_dir}  (train again: peft-studio train ${recipe})`);
    io.out('');
    io.out('Load it in Python with PEFT:');
    io.out(pythonSnippet(join(dir, 'model'), r.done.adapter_dir));
    return 0;
  },
};
