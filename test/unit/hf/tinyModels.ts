// Test helpers: tiny llama/qwen2/gpt2 model folders (config.json + model.safetensors of zeros) written to a temp dir,
// and the config.json of Meta-Llama-3-8B for config-only tests. Shapes follow transformers' state dicts.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeSafetensors } from '../../../src/core/safetensors/write';
import type { TensorToWrite } from '../../../src/core/safetensors/types';

export function tempDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `peft-${tag}-`));
}

export function writeConfig(dir: string, config: Record<string, unknown>): string {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2));
  return dir;
}

function t(name: string, shape: number[]): TensorToWrite {
  return { name, dtype: 'F32', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) };
}

/** meta-llama/Meta-Llama-3-8B config.json (as published). */
export const LLAMA3_8B_CONFIG = {
  architectures: ['LlamaForCausalLM'], attention_bias: false, attention_dropout: 0.0, bos_token_id: 128000, eos_token_id: 128001,
  hidden_act: 'silu', hidden_size: 4096, initializer_range: 0.02, intermediate_size: 14336, max_position_embeddings: 8192,
  model_type: 'llama', num_attention_heads: 32, num_hidden_layers: 32, num_key_value_heads: 8, pretraining_tp: 1,
  rms_norm_eps: 1e-5, rope_scaling: { factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 8192, rope_type: 'llama3' },
  rope_theta: 500000.0, tie_word_embeddings: false, torch_dtype: 'bfloat16', transformers_version: '4.40.0.dev0', use_cache: true, vocab_size: 128256,
};

export interface TinyLlamaOptions {
  modelType?: 'llama' | 'qwen2' | 'mistral';
  layers?: number;
  hidden?: number;
  intermediate?: number;
  heads?: number;
  kvHeads?: number;
  vocab?: number;
  tie?: boolean;
  /** Drop or reshape a tensor to provoke errors. */
  mutate?: (tensors: TensorToWrite[]) => TensorToWrite[];
  /** Write config.json only. */
  configOnly?: boolean;
}

/** A tiny llama-family model (default: 2 layers, hidden 16, intermediate 32, 4 heads, 2 kv heads, vocab 64). */
export function writeTinyLlama(dir: string, o: TinyLlamaOptions = {}): string {
  const mt = o.modelType ?? 'llama';
  const L = o.layers ?? 2; const h = o.hidden ?? 16; const I = o.intermediate ?? 32; const H = o.heads ?? 4; const K = o.kvHeads ?? 2; const V = o.vocab ?? 64;
  const hd = h / H;
  const arch = { llama: 'LlamaForCausalLM', qwen2: 'Qwen2ForCausalLM', mistral: 'MistralForCausalLM' }[mt];
  writeConfig(dir, {
    architectures: [arch], model_type: mt, hidden_size: h, intermediate_size: I, num_hidden_layers: L, num_attention_heads: H,
    num_key_value_heads: K, vocab_size: V, tie_word_embeddings: o.tie ?? false, rms_norm_eps: 1e-6, max_position_embeddings: 128, torch_dtype: 'float32',
  });
  if (o.configOnly === true) return dir;
  let ts: TensorToWrite[] = [t('model.embed_tokens.weight', [V, h])];
  for (let i = 0; i < L; i++) {
    const p = `model.layers.${i}`;
    ts.push(t(`${p}.self_attn.q_proj.weight`, [H * hd, h]), t(`${p}.self_attn.k_proj.weight`, [K * hd, h]), t(`${p}.self_attn.v_proj.weight`, [K * hd, h]), t(`${p}.self_attn.o_proj.weight`, [h, H * hd]));
    if (mt === 'qwen2') ts.push(t(`${p}.self_attn.q_proj.bias`, [H * hd]), t(`${p}.self_attn.k_proj.bias`, [K * hd]), t(`${p}.self_attn.v_proj.bias`, [K * hd]));
    ts.push(t(`${p}.mlp.gate_proj.weight`, [I, h]), t(`${p}.mlp.up_proj.weight`, [I, h]), t(`${p}.mlp.down_proj.weight`, [h, I]));
    ts.push(t(`${p}.input_layernorm.weight`, [h]), t(`${p}.post_attention_layernorm.weight`, [h]));
  }
  ts.push(t('model.norm.weight', [h]));
  if (o.tie !== true) ts.push(t('lm_head.weight', [V, h]));
  if (o.mutate !== undefined) ts = o.mutate(ts);
  writeSafetensors(path.join(dir, 'model.safetensors'), ts);
  return dir;
}

export interface TinyGpt2Options {
  layers?: number;
  hidden?: number;
  heads?: number;
  vocab?: number;
  positions?: number;
  /** Hub layout: keys without `transformer.` and with attn.bias / attn.masked_bias buffers (openai-community/gpt2). */
  hubLayout?: boolean;
  configOnly?: boolean;
}

/** A tiny GPT-2 (default: 2 layers, n_embd 16, 4 heads, vocab 64, n_positions 32), tied head, Conv1D [in, out]. */
export function writeTinyGpt2(dir: string, o: TinyGpt2Options = {}): string {
  const L = o.layers ?? 2; const h = o.hidden ?? 16; const V = o.vocab ?? 64; const P = o.positions ?? 32;
  writeConfig(dir, { architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', n_embd: h, n_layer: L, n_head: o.heads ?? 4, vocab_size: V, n_positions: P, n_ctx: P });
  if (o.configOnly === true) return dir;
  const pre = o.hubLayout === true ? '' : 'transformer.';
  const ts: TensorToWrite[] = [t(`${pre}wte.weight`, [V, h]), t(`${pre}wpe.weight`, [P, h])];
  for (let i = 0; i < L; i++) {
    const p = `${pre}h.${i}`;
    ts.push(t(`${p}.ln_1.weight`, [h]), t(`${p}.ln_1.bias`, [h]));
    ts.push(t(`${p}.attn.c_attn.weight`, [h, 3 * h]), t(`${p}.attn.c_attn.bias`, [3 * h]), t(`${p}.attn.c_proj.weight`, [h, h]), t(`${p}.attn.c_proj.bias`, [h]));
    if (o.hubLayout === true) ts.push(t(`${p}.attn.bias`, [1, 1, P, P]), t(`${p}.attn.masked_bias`, []));
    ts.push(t(`${p}.ln_2.weight`, [h]), t(`${p}.ln_2.bias`, [h]));
    ts.push(t(`${p}.mlp.c_fc.weight`, [h, 4 * h]), t(`${p}.mlp.c_fc.bias`, [4 * h]), t(`${p}.mlp.c_proj.weight`, [4 * h, h]), t(`${p}.mlp.c_proj.bias`, [h]));
  }
  ts.push(t(`${pre}ln_f.weight`, [h]), t(`${pre}ln_f.bias`, [h]));
  writeSafetensors(path.join(dir, 'model.safetensors'), ts);
  return dir;
}
