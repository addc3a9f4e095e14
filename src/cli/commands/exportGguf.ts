// `peft-studio export gguf MODEL_DIR OUT.gguf [--adapter DIR --merge] [--type f32|f16|q8_0] [--ollama DIR]` and
// `peft-studio export gguf-adapter ADAPTER_DIR OUT.gguf --model MODEL_DIR [--ollama DIR --base-gguf FILE]` (llama.cpp files).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CliCommand, CliIO, ParsedArgs } from '../command';
import { UsageError } from '../../core/errors';
import { exportGgufAdapter, exportGgufModel, type GgufExportResult } from '../../core/export/gguf/exportModel';
import { writeModelfile } from '../../core/export/gguf/ollama';
import type { GgufFileType } from '../../core/export/gguf/quant';
import { tokenizerMetadata } from '../../core/export/gguf/tokenizer';
import { loadModelSpec } from '../../core/hf/loadModel';
import { resolveModel } from '../../core/hf/resolveModel';
import { didYouMean } from '../../core/util/didYouMean';
import { modelDirOf } from '../modelArg';

const TYPES: readonly GgufFileType[] = ['f32', 'f16', 'q8_0'];

export const GGUF_EXPORT_OPTIONS: CliCommand['options'] = {
  adapter: { type: 'string', short: 'a' },
  merge: { type: 'boolean' },
  type: { type: 'string', short: 't' },
  model: { type: 'string', short: 'm' },
  ollama: { type: 'string' },
  'base-gguf': { type: 'string' },
};

export const GGUF_HELP = [
  'peft-studio export gguf MODEL_DIR_OR_ID OUT.gguf [--adapter DIR --merge] [--type f32|f16|q8_0] [--ollama DIR] [--json]',
  '  The model as one GGUF v3 file for llama.cpp (tensor names, metadata and tokenizer as llama.cpp\'s converter',
  '  writes them; q/k rows permuted for llama.cpp\'s RoPE under arch llama). --adapter DIR --merge merges a LoRA',
  '  adapter into the weights first. --type: f16 (default), f32, or q8_0 (1-D tensors stay f32).',
  '',
  'peft-studio export gguf-adapter ADAPTER_DIR OUT.gguf --model MODEL_DIR_OR_ID [--ollama DIR [--base-gguf FILE]] [--json]',
  '  A LoRA adapter as a llama.cpp LoRA GGUF (general.type=adapter, adapter.lora.alpha, blk.N.*.weight.lora_a/lora_b),',
  '  to load with the base model\'s GGUF (llama-cli --lora, node-llama-cpp, Ollama ADAPTER).',
  '',
  '--ollama DIR writes DIR/Modelfile: FROM the base GGUF (export gguf: OUT.gguf; gguf-adapter: --base-gguf FILE,',
  'else the model folder), ADAPTER, TEMPLATE translated from the chat template (ChatML, Llama 3) and PARAMETER stop.',
].join('\n');

async function modelFolder(arg: string): Promise<string> {
  return resolveModel(fs.existsSync(arg) ? modelDirOf(arg) : arg);
}

function report(io: CliIO, json: boolean, r: GgufExportResult, modelfile: string | null): number {
  if (json) {
    io.out(JSON.stringify({ file: r.file, arch: r.arch, tensors: r.tensors, bytes: r.bytes, warnings: r.warnings, modelfile }));
    return 0;
  }
  for (const w of r.warnings) io.err(`warning: ${w}`);
  io.out(`Wrote ${r.file} (arch ${r.arch}, ${r.tensors} tensors, ${(r.bytes / 1e6).toFixed(1)} MB)${modelfile !== null ? `\nWrote ${modelfile}` : ''}`);
  return 0;
}

export async function exportGgufCli(args: ParsedArgs, io: CliIO): Promise<number> {
  const [model, out, ...extra] = args.positionals;
  if (model === undefined || out === undefined) throw new UsageError('usage: export gguf MODEL_DIR OUT.gguf', 'Example: peft-studio export gguf ./models/base base.gguf --type q8_0');
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  const typeText = args.values['type'];
  if (typeText !== undefined && !(TYPES as readonly unknown[]).includes(typeText)) {
    throw new UsageError(`unknown --type "${String(typeText)}" (choices: ${TYPES.join(', ')}).${didYouMean(String(typeText), TYPES)}`);
  }
  const adapter = args.values['adapter'];
  if (typeof adapter === 'string' && args.values['merge'] !== true) {
    throw new UsageError('--adapter needs --merge here', 'To keep the adapter separate, use `peft-studio export gguf-adapter ADAPTER_DIR OUT.gguf --model MODEL_DIR`');
  }
  if (args.values['merge'] === true && typeof adapter !== 'string') throw new UsageError('--merge needs --adapter DIR');
  if (args.values['model'] !== undefined || args.values['base-gguf'] !== undefined) throw new UsageError('--model and --base-gguf belong to export gguf-adapter');
  const modelDir = await modelFolder(model);
  // general.name: the folder or hub repo name as the user gave it (a hub snapshot folder is named by its commit).
  const r = exportGgufModel({ modelDir, out, name: path.basename(model.replace(/[\\/]+$/, '')), ...(typeText !== undefined ? { type: typeText as GgufFileType } : {}), ...(typeof adapter === 'string' ? { adapterDir: adapter } : {}) });
  const ollama = args.values['ollama'];
  const modelfile = typeof ollama === 'string' ? writeModelfile({ dir: ollama, from: r.file, chatTemplate: r.chatTemplate ?? null, eosToken: r.eosToken ?? null }).file : null;
  return report(io, args.values['json'] === true, r, modelfile);
}

export async function exportGgufAdapterCli(args: ParsedArgs, io: CliIO): Promise<number> {
  const [adapter, out, ...extra] = args.positionals;
  if (adapter === undefined || out === undefined) throw new UsageError('usage: export gguf-adapter ADAPTER_DIR OUT.gguf --model MODEL_DIR', 'Example: peft-studio export gguf-adapter runs/run-1/adapter lora.gguf --model ./models/base');
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  const model = args.values['model'];
  if (typeof model !== 'string') throw new UsageError('missing --model MODEL_DIR (the base model the adapter was trained on)');
  for (const k of ['type', 'merge', 'adapter']) if (args.values[k] !== undefined) throw new UsageError(`--${k} belongs to export gguf`);
  const baseGguf = args.values['base-gguf'];
  const ollama = args.values['ollama'];
  if (typeof baseGguf === 'string' && typeof ollama !== 'string') throw new UsageError('--base-gguf is only used with --ollama DIR');
  const modelDir = await modelFolder(model);
  const r = exportGgufAdapter({ adapterDir: adapter, modelDir, out });
  let modelfile: string | null = null;
  if (typeof ollama === 'string') {
    const tok = tokenizerMetadata(modelDir, loadModelSpec(modelDir).vocabSize);
    modelfile = writeModelfile({ dir: ollama, from: typeof baseGguf === 'string' ? baseGguf : modelDir, adapter: r.file, chatTemplate: tok.chatTemplate, eosToken: tok.eosToken }).file;
  }
  return report(io, args.values['json'] === true, r, modelfile);
}
