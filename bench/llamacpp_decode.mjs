// llama.cpp's own decode speed on a GGUF file (node-llama-cpp 3.21.1, CPU), read from llama.cpp's perf counters
// (llama_perf_context_print), not from the evaluate iterator, so scheduling delay is not counted. For comparing
// with our generation engine on the same GGUF F32 model and thread count.
// Usage: node bench/llamacpp_decode.mjs --gguf FILE [--threads 2] [--prompt 32] [--tokens 128] [--lora FILE] [--json]
import { parseArgs } from 'node:util';
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';

const { values } = parseArgs({
  options: { gguf: { type: 'string' }, threads: { type: 'string', default: '2' }, prompt: { type: 'string', default: '32' }, tokens: { type: 'string', default: '128' }, lora: { type: 'string' }, json: { type: 'boolean' } },
});
if (values.gguf === undefined) {
  process.stderr.write('usage: node bench/llamacpp_decode.mjs --gguf FILE [--threads 2] [--prompt 32] [--tokens 128] [--lora FILE] [--json]\n(make one with: peft-studio fixture --arch llama --size bench DIR && peft-studio export gguf DIR bench.gguf --type f32)\n');
  process.exit(2);
}
const lines = [];
const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.info, logger: (_level, message) => lines.push(message) });
const model = await llama.loadModel({ modelPath: values.gguf });
const threads = Number(values.threads);
const nPrompt = Number(values.prompt);
const nNew = Number(values.tokens);
const ctx = await model.createContext({ contextSize: nPrompt + nNew + 8, threads, performanceTracking: true, ...(values.lora ? { lora: { adapters: [{ filePath: values.lora, scale: 1 }] } } : {}) });
const prompt = Array.from({ length: nPrompt }, (_, i) => (i * 7919 + 13) % Math.max(2, model.fileInfo.metadata?.llama?.vocab_size ?? 256));
lines.length = 0;
const t0 = performance.now();
let n = 0;
for await (const _ of ctx.getSequence().evaluate(prompt, { temperature: 0 })) if (++n >= nNew) break;
const wall = (performance.now() - t0) / 1000;
await ctx.printTimings();
const text = lines.join('\n');
const num = (re) => { const m = re.exec(text); return m ? Number(m[1]) : null; };
const result = {
  gguf: values.gguf, threads, prompt_tokens: nPrompt, new_tokens: n,
  prompt_eval_tokens_per_s: num(/prompt eval time\s*=.*?([\d.]+) tokens per second/),
  decode_tokens_per_s: num(/(?<!prompt )eval time\s*=.*?([\d.]+) tokens per second/),
  decode_ms_per_token: num(/(?<!prompt )eval time\s*=.*?([\d.]+) ms per token/),
  wall_s: Number(wall.toFixed(3)),
};
await ctx.dispose();
await model.dispose();
await llama.dispose();
if (values.json) process.stdout.write(JSON.stringify(result) + '\n');
else process.stdout.write(`${text.split('\n').filter((l) => /eval time|load time|total time/.test(l)).join('\n')}\n` + `decode: ${result.decode_tokens_per_s} tokens/s (${result.decode_ms_per_token} ms/token), ${threads} threads\n`);
