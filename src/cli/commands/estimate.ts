// `peft-studio estimate CONFIG [--model DIR] [--json]`: training memory by component (core/memory/estimate.ts)
// for a peft-train.yaml (batch, length, device from the recipe) or an adapter_config.json + options.
import * as fs from 'node:fs';
import type { CliCommand } from '../command';
import { InputError, UsageError, withFile } from '../../core/errors';
import { loadModel } from '../../core/hf/loadModel';
import { estimateMemory, formatBytes, type MemoryOptions } from '../../core/memory/estimate';
import { findBaseModelDir, readAdapterConfigFile } from '../../core/peft/adapterFile';
import { resolveTargets } from '../../core/peft/resolve';
import { chooseDevice, runtimeProbes } from '../../core/runtime/device';
import type { DeviceName } from '../../core/train/engineApi';
import { parseRecipe } from '../../core/train/recipe';
import { modelDirOf } from '../modelArg';

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
    'or an adapter_config.json (base model from --model, a peft-train.yaml beside it, or base_model_name_or_path).',
    'Counts base weights as onnxruntime holds them (fp32 on the CPU), LoRA parameters, gradients and AdamW',
    'moments, the activations our training graph keeps for the backward pass, logits and the runtime.',
    '',
    'Options:',
    '  --model DIR        base model folder (adapter_config.json only)',
    '  --batch-size N     override per_device_train_batch_size (default 4)',
    '  --seq-len N        override max_length (default 512)',
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
    let modelDir: string | null;
    let batch = 4;
    let seqLen = 512;
    let gradAccum = 1;
    let request = 'auto';
    let fp16 = false;
    let withEval = false;
    if (/\.ya?ml$/i.test(file)) {
      let text: string;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch {
        throw new InputError('file-not-found', 'file not found', { file });
      }
      const r = parseRecipe(text, file);
      adapterFile = r.adapter_config;
      modelDir = typeof args.values['model'] === 'string' ? modelDirOf(args.values['model']) : fs.existsSync(r.base_model) ? r.base_model : null;
      if (modelDir === null) throw new InputError('model-not-local', `base_model "${r.base_model}" is not a local folder: download it first (peft-studio train does) or pass --model DIR`, { file });
      batch = r.training.per_device_train_batch_size;
      seqLen = r.dataset.max_length;
      gradAccum = r.training.gradient_accumulation_steps;
      request = r.device;
      fp16 = r.training.fp16;
      withEval = r.dataset.eval !== null;
    } else {
      adapterFile = file;
      modelDir = null;
    }
    const adapter = readAdapterConfigFile(adapterFile);
    modelDir ??= findBaseModelDir(adapter.file, adapter.config, typeof args.values['model'] === 'string' ? modelDirOf(args.values['model']) : undefined);
    if (modelDir === null) throw new UsageError('no base model: pass --model DIR', 'The folder must hold config.json');
    const inv = loadModel(modelDir);
    const { targets } = withFile(adapter.file, () => resolveTargets(adapter.config, inv));
    batch = intOpt(args.values['batch-size'], 'batch-size') ?? batch;
    seqLen = intOpt(args.values['seq-len'], 'seq-len') ?? seqLen;
    if (typeof dev === 'string') request = dev;
    const device: DeviceName = request === 'auto' ? (await chooseDevice('auto', runtimeProbes)).device : (request as DeviceName);
    const opts: MemoryOptions = { batchSize: batch, seqLen, device, precision: fp16 && device !== 'cpu' ? 'fp16' : 'fp32', gradAccum, loraDropout: adapter.config.lora_dropout, withEval };
    const est = estimateMemory(inv, targets, opts);
    if (args.values['json'] === true) {
      io.out(JSON.stringify({ ...est, device, batchSize: batch, seqLen, gradAccum, precision: opts.precision }));
      return 0;
    }
    const width = Math.max(...est.components.map((c) => c.name.length));
    io.out(`Training memory estimate (${est.where === 'host' ? 'process RSS' : `${device} device memory`}): ${formatBytes(est.totalBytes)}`);
    io.out(`  batch ${batch} × ${seqLen} tokens, gradient accumulation ${gradAccum}, ${opts.precision} on ${device}, ${targets.length} LoRA modules`);
    for (const c of est.components) io.out(`  ${c.name.padEnd(width)}  ${formatBytes(c.bytes).padStart(9)}  ${c.detail}`);
    return 0;
  },
};
