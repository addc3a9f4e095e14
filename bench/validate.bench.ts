// Validation speed (run: npx tsx bench/validate.bench.ts): adapter_config.json + peft-train.yaml against a 32-layer
// config-only Llama per edit (target < 50 ms), and a 100k-line dataset lint in 15 ms slices (each slice stays short).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DatasetLinter, validate } from '../src/core/validate';
import { InventoryCache } from '../src/core/validate/context';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peft-validate-bench-'));
const model = path.join(dir, 'model');
fs.mkdirSync(model);
fs.writeFileSync(path.join(model, 'config.json'), JSON.stringify({
  architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: 128256, hidden_size: 4096, intermediate_size: 14336,
  num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8, max_position_embeddings: 8192, rms_norm_eps: 1e-5, torch_dtype: 'bfloat16',
}));
fs.mkdirSync(path.join(dir, 'data'));
const adapter = JSON.stringify({ peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 16, lora_alpha: 32, lora_dropout: 0.05,
  target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], rank_pattern: { down_proj: 8 }, modules_to_save: ['lm_head'] }, null, 2);
fs.writeFileSync(path.join(dir, 'adapter_config.json'), adapter);
const recipe = 'base_model: ./model\nadapter_config: ./adapter_config.json\ndataset:\n  train: data/train.jsonl\n  max_length: 2048\ntraining:\n  max_steps: 1000\n  warmup_steps: 50\n  learning_rate: 2.0e-4\ndevice: cpu\n';
fs.writeFileSync(path.join(dir, 'peft-train.yaml'), recipe);

const lines: string[] = [];
for (let i = 0; i < 100_000; i++) {
  lines.push(JSON.stringify(i % 3 === 0 ? { messages: [{ role: 'user', content: `question ${i % 90_000}` }, { role: 'assistant', content: 'answer '.repeat(1 + (i % 40)) }] }
    : { messages: [{ role: 'user', content: `q ${i}` }, { role: 'assistant', content: i % 1000 === 0 ? '' : `a ${i}` }] }));
}
const data = lines.join('\n') + '\n';
fs.writeFileSync(path.join(dir, 'data', 'train.jsonl'), data);

function stats(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return `median ${q(0.5).toFixed(2)} ms, p95 ${q(0.95).toFixed(2)} ms, max ${s[s.length - 1]!.toFixed(2)} ms (n=${s.length})`;
}

const cache = new InventoryCache();
const recipeSummary = { path: path.join(dir, 'peft-train.yaml'), baseModel: './model', baseModelDir: model, adapterConfig: path.join(dir, 'adapter_config.json'),
  datasets: [path.join(dir, 'data', 'train.jsonl')], format: 'messages', maxLength: 2048, trainOnPrompt: false, packing: false, hasEval: false, batchSize: 4, gradAccum: 1, device: 'cpu', fp16: false };
const t0 = performance.now();
const first = validate(adapter, { path: path.join(dir, 'adapter_config.json'), loadModel: (d) => cache.get(d), recipe: recipeSummary });
console.log(`first adapter_config.json validation (loads the 32-layer inventory): ${(performance.now() - t0).toFixed(1)} ms, ${first.length} problems`);

const perEditA: number[] = [];
const perEditY: number[] = [];
for (let i = 0; i < 200; i++) {
  const edited = adapter.replace('"r": 16', `"r": ${16 + (i % 5)}`);
  let t = performance.now();
  validate(edited, { path: path.join(dir, 'adapter_config.json'), loadModel: (d) => cache.get(d), recipe: recipeSummary });
  perEditA.push(performance.now() - t);
  t = performance.now();
  validate(recipe.replace('max_steps: 1000', `max_steps: ${1000 + i}`), { path: path.join(dir, 'peft-train.yaml'), loadModel: (d) => cache.get(d), availableDevices: ['cpu'] });
  perEditY.push(performance.now() - t);
}
console.log(`adapter_config.json per edit: ${stats(perEditA)}  (target < 50 ms)`);
console.log(`peft-train.yaml per edit:     ${stats(perEditY)}  (target < 50 ms)`);

const linter = new DatasetLinter(data, { format: 'auto', maxLength: 64 });
const slices: number[] = [];
const tl = performance.now();
for (;;) {
  const t = performance.now();
  const done = linter.step({ ms: 15 });
  slices.push(performance.now() - t);
  if (done) break;
}
const ps = linter.problems();
console.log(`100k-line dataset lint: ${(performance.now() - tl).toFixed(0)} ms in ${slices.length} slices of ≤15 ms budget; slice ${stats(slices)}`);
console.log(`  problems: ${ps.length} shown (${ps.filter((p) => p.code.endsWith('-more') || p.code.endsWith('-summary')).map((p) => p.message).join('; ')})`);
fs.rmSync(dir, { recursive: true, force: true });
