// Serving-compatibility lint of adapter_config.json: what vLLM, llama.cpp and LoRAX refuse or silently ignore in an
// adapter that PEFT trains happily. Each rule names the engine; the unit tests cite the engine source of each rule.
import type { JsonProp } from './jsonTree';
import { nodeRange } from './jsonTree';
import { LineIndex, problem } from './text';
import type { Problem } from './types';

/** vLLM's largest --max-lora-rank (vllm/config/lora.py: 8, 16, 32, 64, 128, 256, 320, 512). */
export const VLLM_MAX_LORA_RANKS = [8, 16, 32, 64, 128, 256, 320, 512] as const;
export const SERVING_ENGINES = ['vllm', 'llama.cpp', 'lorax'] as const;
export type ServingEngine = (typeof SERVING_ENGINES)[number];

const EMBEDDING_NAMES = new Set(['embed_tokens', 'wte', 'wpe', 'embed_in', 'word_embeddings', 'tok_embeddings']);
const HEAD_NAMES = new Set(['lm_head', 'embed_out', 'output']);
/** LoRAX's documented LoRA target modules for Llama / Mistral / Qwen2-style models (docs/models/adapters/lora.md). */
const LORAX_TARGETS = new Set(['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj', 'lm_head', 'c_attn', 'c_proj', 'c_fc', 'w1', 'w2']);

const lastPart = (s: string): string => s.split('.').pop() ?? s;

/** The smallest vLLM --max-lora-rank that holds rank r, or null above 512. */
export function vllmMaxLoraRank(r: number): number | null {
  return VLLM_MAX_LORA_RANKS.find((x) => x >= r) ?? null;
}

/** The largest rank an adapter uses: r and every rank_pattern value. */
export function maxRankOf(r: unknown, rankPattern: unknown): number {
  let m = typeof r === 'number' ? r : 8;
  if (typeof rankPattern === 'object' && rankPattern !== null) {
    for (const v of Object.values(rankPattern as Record<string, unknown>)) if (typeof v === 'number' && v > m) m = v;
  }
  return m;
}

/** Appends the serving problems (info / warning; never error: the adapter is valid PEFT). */
export function checkServing(byKey: Map<string, JsonProp>, val: (k: string) => unknown, idx: LineIndex, out: Problem[], engines: readonly ServingEngine[] = SERVING_ENGINES): void {
  const at = (k: string) => {
    const p = byKey.get(k);
    return p === undefined ? idx.range(0, 0) : nodeRange(idx, p.keyNode);
  };
  const on = (e: ServingEngine): boolean => engines.includes(e);
  const push = (engine: ServingEngine, k: string, sev: 'info' | 'warning', code: string, msg: string): void => {
    out.push(problem(at(k), sev, code, msg, undefined, { engine }));
  };
  const mts = val('modules_to_save');
  if (Array.isArray(mts) && mts.length > 0) {
    const list = mts.map(String).join(', ');
    if (on('vllm')) push('vllm', 'modules_to_save', 'warning', 'vllm-modules-to-save', `vLLM refuses this adapter: it only serves adapters whose modules_to_save is empty (here: ${list}). Merge the adapter into the base model, or train without modules_to_save.`);
    if (on('llama.cpp')) push('llama.cpp', 'modules_to_save', 'warning', 'llamacpp-modules-to-save', `llama.cpp's convert_lora_to_gguf.py stops on the full ${list} weights that modules_to_save stores ("Not a lora_A or lora_B tensor").`);
  }
  if (val('use_dora') === true) {
    if (on('vllm')) push('vllm', 'use_dora', 'warning', 'vllm-dora', 'vLLM refuses DoRA adapters ("vLLM does not yet support DoRA"). Merge the adapter or train plain LoRA.');
    if (on('llama.cpp')) push('llama.cpp', 'use_dora', 'warning', 'llamacpp-dora', 'llama.cpp cannot convert DoRA: the lora_magnitude_vector tensors are not lora_A / lora_B tensors, so convert_lora_to_gguf.py stops.');
  }
  const maxRank = maxRankOf(val('r'), val('rank_pattern'));
  if (on('vllm') && vllmMaxLoraRank(maxRank) === null) {
    const key = typeof val('r') === 'number' && (val('r') as number) === maxRank ? 'r' : 'rank_pattern';
    push('vllm', key, 'warning', 'vllm-rank', `vLLM refuses rank ${maxRank}: --max-lora-rank is at most 512 (one of ${VLLM_MAX_LORA_RANKS.join(', ')}).`);
  }
  const bias = val('bias');
  if (on('vllm') && ((typeof bias === 'string' && bias !== 'none') || val('lora_bias') === true)) {
    push('vllm', val('lora_bias') === true ? 'lora_bias' : 'bias', 'warning', 'vllm-bias', 'vLLM refuses adapters that train biases ("Adapter bias is not supported"): set bias to "none" and lora_bias to false.');
  }
  const tm = val('target_modules');
  const names = Array.isArray(tm) ? tm.map((x) => lastPart(String(x))) : [];
  const emb = names.filter((n) => EMBEDDING_NAMES.has(n));
  const head = names.filter((n) => HEAD_NAMES.has(n));
  if (on('vllm') && emb.length + head.length > 0) {
    push('vllm', 'target_modules', 'info', 'vllm-embedding-lora', `vLLM serves LoRA on ${[...emb, ...head].join(', ')} only for models that declare those modules as LoRA modules; for other models it refuses the adapter ("expected target modules in ..."). Check the model's LoRA support in vLLM before relying on it.`);
  }
  if (on('llama.cpp') && head.includes('lm_head')) {
    push('llama.cpp', 'target_modules', 'info', 'llamacpp-lm-head', 'llama.cpp refuses LoRA on lm_head when the model ties it to the embeddings ("lm_head is present in adapter, but is ignored in base model").');
  }
  const r = val('r');
  const alpha = val('lora_alpha');
  if (on('llama.cpp') && val('use_rslora') === true) {
    const fix = typeof r === 'number' && typeof alpha === 'number' ? ` For the conversion, write a copy with use_rslora false and lora_alpha ${+(alpha * Math.sqrt(r)).toFixed(4)} (lora_alpha × √r).` : '';
    push('llama.cpp', 'use_rslora', 'warning', 'llamacpp-rslora', `llama.cpp silently drops use_rslora: the GGUF adapter stores lora_alpha and llama.cpp scales by lora_alpha / r, not lora_alpha / √r.${fix}`);
  }
  const ap = val('alpha_pattern');
  if (on('llama.cpp') && typeof ap === 'object' && ap !== null && Object.keys(ap).length > 0) {
    push('llama.cpp', 'alpha_pattern', 'warning', 'llamacpp-alpha-pattern', 'llama.cpp silently ignores alpha_pattern: the GGUF adapter stores one lora_alpha, so the modules it names are scaled by lora_alpha / r instead.');
  }
  if (on('lorax')) {
    const outside = names.filter((n) => !LORAX_TARGETS.has(n));
    if (outside.length > 0) push('lorax', 'target_modules', 'info', 'lorax-target', `LoRAX documents LoRA on q/k/v/o_proj, gate/up/down_proj and lm_head (c_attn, c_proj, c_fc, w1, w2 for GPT-2/Qwen): ${outside.join(', ')} may not be applied.`);
  }
}
