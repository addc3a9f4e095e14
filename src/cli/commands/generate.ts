// `peft-studio generate --model M [--adapter DIR] (--prompt T | --messages F | --input-ids 1,2,3) [...]`: text from a
// base model or a LoRA adapter through core/generate's Generator, streamed, or as JSON lines (CONTRACTS.md).
import * as fs from 'node:fs';
import type { CliCommand, CliIO } from '../command';
import { InputError, UsageError, errorMessage } from '../../core/errors';
import { type GenerateRequest, type GenerateResult, Generator, type TokenEvent } from '../../core/generate/generator';
import type { ChatMessage } from '../../core/hf/tokenizer';
import { resolveModel } from '../../core/hf/resolveModel';
import { parseQuantizationFlag } from '../../core/quant/flag';
import { chooseDevice, parseDeviceRequest, runtimeProbes } from '../../core/runtime/device';
import { modelDirOf } from '../modelArg';

/** The JSON lines of `--json` (CONTRACTS.md). */
export function tokenRecord(t: TokenEvent): Record<string, unknown> {
  return { event: 'token', id: t.id, ...(t.text !== undefined ? { text: t.text } : {}) };
}

export function doneRecord(r: GenerateResult): Record<string, unknown> {
  return {
    event: 'done', token_ids: r.tokenIds, logprobs: r.logprobs, ...(r.text !== undefined ? { text: r.text } : {}),
    prompt_tokens: r.promptTokens, ttft_ms: r.ttftMs, tokens_per_s: r.tokensPerS, finish_reason: r.finishReason,
  };
}

function numberOpt(v: unknown, flag: string, integer: boolean): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(x) || (integer && !Number.isInteger(x))) {
    throw new UsageError(`${flag} needs ${integer ? 'an integer' : 'a number'}, got "${String(v)}"`);
  }
  return x;
}

function readMessages(file: string): ChatMessage[] {
  let v: unknown;
  try {
    v = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new InputError('generate-messages-file', `cannot read the messages: ${errorMessage(e)}`, { file });
  }
  const list = Array.isArray(v) ? v : typeof v === 'object' && v !== null ? (v as Record<string, unknown>)['messages'] : undefined;
  if (!Array.isArray(list) || list.some((m) => typeof m !== 'object' || m === null || typeof (m as Record<string, unknown>)['role'] !== 'string' || typeof (m as Record<string, unknown>)['content'] !== 'string')) {
    throw new InputError('generate-messages-file', 'must be a JSON list of {"role", "content"} objects (or {"messages": [...]})', { file });
  }
  return list as ChatMessage[];
}

function parseIds(v: string): number[] {
  const parts = v.split(',').map((s) => s.trim());
  if (parts.some((s) => !/^\d+$/.test(s))) throw new UsageError(`--input-ids needs comma-separated token ids, got "${v}"`);
  return parts.map(Number);
}

async function modelDir(arg: string): Promise<string> {
  return fs.existsSync(arg) ? modelDirOf(arg) : resolveModel(arg);
}

export const generateCommand: CliCommand = {
  name: 'generate',
  summary: 'Generate text with a base model or a LoRA adapter (KV cache, streaming)',
  help: [
    'Usage: peft-studio generate --model DIR_OR_ID [--adapter DIR] (--prompt TEXT | --messages FILE.json | --input-ids 1,2,3)',
    '         [--max-new-tokens N] [--temperature T] [--top-k K] [--top-p P] [--repetition-penalty R] [--seed S]',
    '         [--stop TEXT]... [--device auto|cpu|webgpu|cuda] [--json]',
    '',
    'Runs the model with the same graph builders as training, the adapter unmerged. The text streams to stdout',
    '(token ids without a tokenizer); a summary line goes to stderr.',
    '',
    'Options:',
    '  --model DIR_OR_ID        Hugging Face model folder or hub id',
    '  --adapter DIR            PEFT adapter folder (adapter_config.json + adapter_model.safetensors), a run\'s',
    '                           checkpoint folder, or a run folder (its final adapter/)',
    '  --prompt TEXT            prompt text, tokenized as is (a leading BOS where the tokenizer adds one)',
    '  --messages FILE.json     a chat: [{"role","content"}...], rendered by the chat template with the generation prompt',
    '  --input-ids 1,2,3        prompt token ids (no tokenizer needed)',
    '  --max-new-tokens N       default: generation_config.json\'s max_new_tokens, else 256',
    '  --temperature T          0 = greedy (default unless generation_config.json sets do_sample)',
    '  --top-k K, --top-p P     sampling filters (0 / 1 = off)',
    '  --repetition-penalty R   1 = off',
    '  --seed S                 sampling seed (default 0): same seed, same tokens',
    '  --stop TEXT              stop once the text contains TEXT (repeatable)',
    '  --device D               auto (default), cpu, webgpu or cuda',
    '  --quantization B[:S]     a 4-bit base as the recipe\'s quantization: {bits: B, block_size: S} (4 or 4:32; default off)',
    '  --json                   one JSON object a line: {"event":"token","id","text"} per token, then',
    '                           {"event":"done","token_ids","logprobs","text","prompt_tokens","ttft_ms","tokens_per_s","finish_reason"}',
  ].join('\n'),
  options: {
    model: { type: 'string' }, adapter: { type: 'string' }, prompt: { type: 'string' }, messages: { type: 'string' },
    'input-ids': { type: 'string' }, 'max-new-tokens': { type: 'string' }, temperature: { type: 'string' }, 'top-k': { type: 'string' },
    'top-p': { type: 'string' }, 'repetition-penalty': { type: 'string' }, seed: { type: 'string' }, stop: { type: 'string', multiple: true },
    device: { type: 'string' }, json: { type: 'boolean' }, quantization: { type: 'string' },
  },
  async run(args, io) {
    const v = args.values;
    if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0]}"`, 'The model goes in --model');
    if (typeof v['model'] !== 'string') throw new UsageError('missing --model', 'Example: peft-studio generate --model ./my-model --prompt "Hello"');
    const sources = (['prompt', 'messages', 'input-ids'] as const).filter((k) => v[k] !== undefined);
    if (sources.length !== 1) throw new UsageError('give exactly one of --prompt, --messages, --input-ids');
    const req: GenerateRequest = {};
    if (typeof v['prompt'] === 'string') req.prompt = v['prompt'];
    if (typeof v['messages'] === 'string') req.messages = readMessages(v['messages']);
    if (typeof v['input-ids'] === 'string') req.inputIds = parseIds(v['input-ids']);
    const n = (flag: string, integer = false): number | undefined => numberOpt(v[flag], `--${flag}`, integer);
    const opt = { maxNewTokens: n('max-new-tokens', true), temperature: n('temperature'), topK: n('top-k', true), topP: n('top-p'), repetitionPenalty: n('repetition-penalty'), seed: n('seed', true) };
    for (const [k, x] of Object.entries(opt)) if (x !== undefined) (req as Record<string, unknown>)[k] = x;
    if (Array.isArray(v['stop'])) req.stop = v['stop'];
    const request = parseDeviceRequest(v['device'] ?? 'auto', '--device');
    const device = (await chooseDevice(request, runtimeProbes)).device;
    const dir = await modelDir(v['model']);
    const adapterDir = typeof v['adapter'] === 'string' ? v['adapter'] : undefined;
    const quantization = typeof v['quantization'] === 'string' ? parseQuantizationFlag(v['quantization']) : null;
    const gen = await Generator.open(dir, { device, quantization, ...(adapterDir !== undefined ? { adapters: [adapterDir] } : {}) });
    if (adapterDir !== undefined) req.adapter = gen.adapterIds[0]!;
    return await generateWithOutput(gen, req, v['json'] === true, io);
  },
};

async function generateWithOutput(gen: Generator, req: GenerateRequest, json: boolean, io: CliIO): Promise<number> {
  const controller = new AbortController();
  const onSigint = (): void => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  const write = (t: string): void => (io.write !== undefined ? io.write(t) : io.out(t));
  try {
    const r = await gen.generate(req, {
      signal: controller.signal,
      onToken: (t) => {
        if (json) io.out(JSON.stringify(tokenRecord(t)));
        else if (t.text !== undefined) { if (t.text !== '') write(t.text); } else write(`${t.id} `);
      },
    });
    if (json) io.out(JSON.stringify(doneRecord(r)));
    else {
      write('\n');
      io.err(`[${r.tokenIds.length} tokens (${r.finishReason}), prompt ${r.promptTokens} tokens, first token ${r.ttftMs.toFixed(0)} ms, ${r.tokensPerS.toFixed(1)} tokens/s]`);
    }
    return 0;
  } finally {
    process.off('SIGINT', onSigint);
    await gen.dispose();
  }
}
