// `peft-studio estimate CONFIG [--model DIR] [--json]`: training memory by component (core/memory/estimate.ts)
// for a peft-train.yaml (batch, length, device from the recipe) or an adapter_config.json + options.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CliCommand } from '../command';
import { InputError, UsageError, withFile } from '../../core/errors';
import { loadModel } from '../../core/hf/loadModel';
import { formatBytes } from '../../core/memory/estimate';
import { estimateForRecipe } from '../../core/memory/recipeEstimate';
import { findBaseModelDir, readAdapterConfigFile } from '../../core/peft/adapterFile';
import { resolveTargets } from '../../core/peft/resolve';
import { chooseDevice, runtimeProbes } from '../../core/runtime/device';
import type { DeviceName } from '../../core/train/engineApi';
import { parseRecipe } from '../../core/train/recipe';
import { findRecipeFor } from '../../core/validate/context';
import { summarizeRecipe } from '../../core/validate/recipe';
import type { RecipeSummary } from '../../core/validate/types';
import { modelOption } from '../modelArg';

function intOpt(v: unknown, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || !Number.isInteger(n) || n < 1) throw new UsageError(`--${name} needs a positive integer, got "${String(v)}"`);
  return n;
}

export const estimateCommand: CliCommand = {
  name: 'estimate',
  summary: 'Estimate the training memory of a recipe or adapter config, by component',
  help: [
    'Usage: peft-studio estimate CONFIG [--model DIR] [--batch-size N] [--seq-len N] [--device D] [--json]',
    '',
    'CONFIG is a peft-train.yaml (batch size, max_length, gradient accumulation, device and fp16 come from it)',
    'or an adapter_config.json (base model from --model, the peft-train.yaml that trains it, or base_model_name_or_path).',
    'The editor\'s CodeLens shows the same estimate (one function: core/memory/recipeEstimate.ts).',
    'Counts base weights as onnxruntime holds them (fp32 on the CPU), LoRA parameters, gradients and AdamW',
    'moments, the activations our training graph keeps for the backward pass, logits and the runtime.',
    '',
    'Options:',
    '  --model DIR        base model folder (adapter_config.json only)',
    '  --batch-size N     override per_device_train_batch_size (default: the recipe\'s, else 4)',
    '  --seq-len N        override the tokens per row (default: the longest example of the recipe\'s data,',
    '                     tokenized and truncated as the trainer does; max_length (512) when unknown)',
    '  --device D         cpu, webgpu or cuda (default: the recipe\'s device; auto resolves to what is available)',
    '  --json             print {"components":[{"name","bytes","detail"}],"totalBytes","where","device",...}',
  ].join('\n'),
  options: {
    model: { type: 'string', short: 'm' },
    'batch-size': { type: 'string' },
    'seq-len': { type: 'string' },
    device: { type: 'string' },
    json: { type: 'boolean' },
  },
  async run(args, io) {
    const [file, ...extra] = args.positionals;
    if (file === undefined) throw new UsageError('missing CONFIG', 'Example: peft-studio estimate peft-train.yaml');
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
    const dev = args.values['device'];
    if (dev !== undefined && !['cpu', 'webgpu', 'cuda', 'auto'].includes(String(dev))) throw new UsageError(`--device must be cpu, webgpu, cuda or auto, got "${String(dev)}"`);
    let adapterFile: string;
    let modelDir: string | null = null;
    let recipe: RecipeSummary | null;
    if (/\.ya?ml$/i.test(file)) {
      let text: string;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch {
        throw new InputError('file-not-found', 'file not found', { file });
      }
      const r = parseRecipe(text, file);
      recipe = summarizeRecipe(text, file);
      adapterFile = r.adapter_config;
      modelDir = modelOption(args.values) ?? (fs.existsSync(r.base_model) ? r.base_model : null);
      if (modelDir === null) throw new InputError('model-not-local', `base_model "${r.base_model}" is not a local folder: download it first (peft-studio train does) or pass --model DIR`, { file });
    } else {
      adapterFile = file;
      // The recipe that trains this adapter (as the editor's CodeLens finds it), for batch, length and device.
      recipe = findRecipeFor(file);
    }
    const adapter = readAdapterConfigFile(adapterFile);
    const recipeModel = recipe?.baseModelDir != null && fs.existsSync(path.join(recipe.baseModelDir, 'config.json')) ? recipe.baseModelDir : undefined;
    modelDir ??= findBaseModelDir(adapter.file, adapter.config, modelOption(args.values) ?? recipeModel);
    if (modelDir === null) throw new UsageError('no base model: pass --model DIR', 'The folder must hold config.json');
    const inv = loadModel(modelDir);
    const { targets } = withFile(adapter.file, () => resolveTargets(adapter.config, inv));
    const batchSize = intOpt(args.values['batch-size'], 'batch-size');
    const seqLen = intOpt(args.values['seq-len'], 'seq-len');
    const request = typeof dev === 'string' ? dev : (recipe?.device ?? 'auto');
    const device: DeviceName = request === 'auto' ? (await chooseDevice('auto', runtimeProbes)).device : (request as DeviceName);
    const { estimate: est, options: opts, seqLenFrom } = await estimateForRecipe({
      recipe, loraConfig: adapter.config, inventory: inv, targets, modelDir: inv.dir, device,
      overrides: { ...(batchSize !== undefined ? { batchSize } : {}), ...(seqLen !== undefined ? { seqLen } : {}) },
    });
    const batch = opts.batchSize;
    const gradAccum = opts.gradAccum;
    if (args.values['json'] === true) {
      io.out(JSON.stringify({ ...est, device, batchSize: batch, seqLen: opts.seqLen, seqLenFrom, gradAccum, precision: opts.precision, recipe: recipe?.path ?? null }));
      return 0;
    }
    const width = Math.max(...est.components.map((c) => c.name.length));
    io.out(`Training memory estimate (${est.where === 'host' ? 'process RSS' : `${device} device memory`}): ${formatBytes(est.totalBytes)}`);
    const from = seqLenFrom === 'data' ? 'the longest example of the data' : seqLenFrom === 'max_length' ? 'max_length' : '--seq-len';
    io.out(`  batch ${batch} × ${opts.seqLen} tokens (${from}), gradient accumulation ${gradAccum}, ${opts.precision} on ${device}, ${targets.length} LoRA modules${recipe !== null ? `, from ${recipe.path}` : ''}`);
    for (const c of est.components) io.out(`  ${c.name.padEnd(width)}  ${formatBytes(c.bytes).padStart(9)}  ${c.detail}`);
    return 0;
  },
};
