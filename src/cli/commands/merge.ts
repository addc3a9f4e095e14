// `peft-studio merge --model DIR_OR_ID --adapter DIR OUT [--dtype] [--max-shard-size]`: folds a LoRA adapter into
// its base model and writes a plain Hugging Face model folder (CONTRACTS.md §7), streaming one tensor at a time.
import * as fs from 'node:fs';
import type { CliCommand } from '../command';
import { UsageError } from '../../core/errors';
import { mergeToHfFolder, type MergeDtype } from '../../core/export/merge';
import { resolveModel } from '../../core/hf/resolveModel';
import { parseByteSize } from '../../core/safetensors/writeStream';
import { didYouMean } from '../../core/util/didYouMean';
import { modelDirOf } from '../modelArg';

const DTYPES: readonly MergeDtype[] = ['float32', 'float16', 'bfloat16'];

export const mergeCommand: CliCommand = {
  name: 'merge',
  summary: 'Merge a LoRA adapter into its base model and write a plain Hugging Face model folder',
  help: [
    'Usage: peft-studio merge --model DIR_OR_ID --adapter DIR OUT [--dtype float32|float16|bfloat16]',
    '                         [--max-shard-size 5GB] [--json]',
    '',
    "Writes OUT with W' = W + scaling * B * A for every adapted weight (PEFT's scaling: lora_alpha / r, rank_pattern,",
    'alpha_pattern, use_rslora), the other tensors unchanged: model.safetensors (or shards + model.safetensors.index.json),',
    'config.json (its torch_dtype), generation_config.json, the tokenizer files and a README model card.',
    'transformers loads OUT as a plain model. One tensor is in memory at a time.',
    '',
    'Options:',
    '  --model DIR_OR_ID      base model folder or hub id (the one the adapter was trained on)',
    '  --adapter DIR          adapter folder (adapter_config.json + adapter_model.safetensors), e.g. RUN_DIR/adapter',
    '  --dtype NAME           weights of OUT (default: the base model\'s torch_dtype)',
    '  --max-shard-size SIZE  largest shard file, e.g. 500MB, 5GB (default 5GB)',
    '  --json                 print {"out","dtype","files","merged_modules","tensors","total_size"}',
  ].join('\n'),
  options: {
    model: { type: 'string', short: 'm' },
    adapter: { type: 'string', short: 'a' },
    dtype: { type: 'string' },
    'max-shard-size': { type: 'string' },
    json: { type: 'boolean' },
  },
  async run(args, io) {
    const [out, ...extra] = args.positionals;
    if (out === undefined) throw new UsageError('missing OUT folder', 'Example: peft-studio merge --model ./models/base --adapter runs/run-1/adapter ./merged');
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
    const model = args.values['model'];
    const adapter = args.values['adapter'];
    if (typeof model !== 'string') throw new UsageError('missing --model DIR_OR_ID');
    if (typeof adapter !== 'string') throw new UsageError('missing --adapter DIR');
    const dtypeText = args.values['dtype'];
    if (dtypeText !== undefined && !(DTYPES as readonly unknown[]).includes(dtypeText)) {
      throw new UsageError(`unknown --dtype "${String(dtypeText)}" (choices: ${DTYPES.join(', ')}).${didYouMean(String(dtypeText), DTYPES)}`);
    }
    const shardText = args.values['max-shard-size'];
    const maxShardBytes = typeof shardText === 'string' ? parseByteSize(shardText) : undefined;
    const json = args.values['json'] === true;
    const modelDir = await resolveModel(fs.existsSync(model) ? modelDirOf(model) : model);
    const r = mergeToHfFolder({
      modelDir, adapterDir: adapter, outDir: out, baseName: model,
      ...(dtypeText !== undefined ? { dtype: dtypeText as MergeDtype } : {}),
      ...(maxShardBytes !== undefined ? { maxShardBytes } : {}),
      ...(json || !io.isTTY ? {} : { onTensor: (name: string, i: number, n: number) => io.err(`[${i + 1}/${n}] ${name}`) }),
    });
    if (json) {
      io.out(JSON.stringify({ out: r.outDir, dtype: r.dtype, files: r.files, merged_modules: r.mergedModules, tensors: r.tensors, total_size: r.totalSize }));
      return 0;
    }
    io.out([
      `Merged ${r.mergedModules} LoRA modules into ${r.tensors} tensors (${r.dtype}, ${(r.totalSize / 1e6).toFixed(1)} MB) → ${r.outDir}`,
      ...r.files.map((f) => `  ${f}`),
    ].join('\n'));
    return 0;
  },
};
