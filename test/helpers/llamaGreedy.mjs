// Greedy decoding with llama.cpp itself (node-llama-cpp, CPU build shipped in npm): loads a GGUF model and optional
// GGUF LoRA adapters and prints {"tokens":[...]} for the prompt token ids. Run as a child process by the slow tests.
// Usage: node test/helpers/llamaGreedy.mjs '{"model":"m.gguf","loras":["a.gguf"],"prompt":[1,2,3],"maxTokens":8}'
import { getLlama } from 'node-llama-cpp';

const job = JSON.parse(process.argv[2]);
const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' });
const model = await llama.loadModel({ modelPath: job.model });
const lora = (job.loras ?? []).length > 0 ? { adapters: job.loras.map((filePath) => ({ filePath, scale: 1 })) } : undefined;
const ctx = await model.createContext({ contextSize: job.contextSize ?? 128, threads: 1, ...(lora !== undefined ? { lora } : {}) });
const tokens = [];
for await (const t of ctx.getSequence().evaluate(job.prompt, { temperature: 0 })) {
  tokens.push(Number(t));
  if (tokens.length >= job.maxTokens) break;
}
await ctx.dispose();
await model.dispose();
await llama.dispose();
process.stdout.write(JSON.stringify({ tokens }) + '\n');
