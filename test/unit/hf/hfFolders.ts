// Model folders and PEFT adapters laid out exactly as transformers' save_pretrained (4.4x and 5.x config.json) and
// PeftModel.save_pretrained (0.13-style and 0.20 adapter_config.json) write them, with small seeded weights.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fromFloat32, writeSafetensors } from '../../../src/core/safetensors/write';
import type { TensorToWrite } from '../../../src/core/safetensors/types';
import { Rng } from '../../../src/core/util/random';

export type Style = '4.4x' | '5.x';
export type Variant = 'llama3' | 'llama31' | 'smollm' | 'tinyllama' | 'mistral' | 'qwen2' | 'gpt2' | 'gpt2-old' | 'gpt2-untied';

export interface HfModel {
  dir: string;
  config: Record<string, unknown>;
  /** Tensor names as saved (tied head omitted), with shapes. */
  tensors: Map<string, number[]>;
  /** Parameter count as model.num_parameters() reports it (tied weights once, buffers excluded). */
  numParameters: number;
  /** Linear (or Conv1D) module names of the decoder layers, in named_modules order. */
  linears: { name: string; in: number; out: number }[];
}

const VOCAB = 256;

/** config.json of one variant, as save_pretrained (to_diff_dict, sort_keys) writes it in transformers 4.4x or 5.x. */
export function hfConfig(v: Variant, style: Style): Record<string, unknown> {
  const v5 = style === '5.x';
  const dtypeKey = v5 ? { dtype: 'float32' } : { torch_dtype: 'float32' };
  const version = { transformers_version: v5 ? '5.0.0' : '4.48.3' };
  const rope = (theta: number, scaling: Record<string, unknown> | null): Record<string, unknown> =>
    v5 ? { rope_parameters: { ...(scaling ?? { rope_type: 'default' }), rope_theta: theta } } : { rope_scaling: scaling, rope_theta: theta };
  const llamaCommon = (o: { heads: number; kv: number; tie: boolean; eps: number; bos: unknown; eos: unknown; headDim: number | null }): Record<string, unknown> => ({
    architectures: ['LlamaForCausalLM'], attention_bias: false, attention_dropout: 0.0, bos_token_id: o.bos, eos_token_id: o.eos,
    ...(o.headDim !== null ? { head_dim: o.headDim } : {}), hidden_act: 'silu', hidden_size: 64, initializer_range: 0.02,
    intermediate_size: 96, max_position_embeddings: 256, mlp_bias: false, model_type: 'llama', num_attention_heads: o.heads,
    num_hidden_layers: 2, num_key_value_heads: o.kv, ...(v5 ? {} : { pretraining_tp: 1 }), rms_norm_eps: o.eps,
    tie_word_embeddings: o.tie, ...dtypeKey, ...version, use_cache: true, vocab_size: VOCAB,
  });
  switch (v) {
    case 'llama3': // Llama-3.2-1B-like: llama3 rope scaling, tied embeddings, eos list
      return {
        ...llamaCommon({ heads: 4, kv: 2, tie: true, eps: 1e-5, bos: 250, eos: [251, 252, 253], headDim: 16 }),
        ...rope(500000.0, { factor: 8.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 64, rope_type: 'llama3' }),
      };
    case 'llama31': // Llama-3.1-8B-like: llama3 rope scaling, untied head, one eos id
      return {
        ...llamaCommon({ heads: 4, kv: 1, tie: false, eps: 1e-5, bos: 250, eos: 251, headDim: 16 }),
        ...rope(500000.0, { factor: 8.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 32, rope_type: 'llama3' }),
      };
    case 'smollm': // SmolLM2-like: tied, theta 1e5, MHA
      return { ...llamaCommon({ heads: 4, kv: 4, tie: true, eps: 1e-5, bos: 1, eos: 2, headDim: 16 }), ...rope(100000.0, null) };
    case 'tinyllama': { // TinyLlama (transformers 4.3x): no head_dim / mlp_bias keys, untied
      const c = { ...llamaCommon({ heads: 8, kv: 2, tie: false, eps: 1e-5, bos: 1, eos: 2, headDim: null }), ...rope(10000.0, null) };
      delete c['mlp_bias'];
      return { ...c, transformers_version: '4.35.0' };
    }
    case 'mistral': // head_dim 32 != hidden/heads (Mistral-Nemo-like), sliding_window far above the sequences
      return {
        architectures: ['MistralForCausalLM'], attention_dropout: 0.0, bos_token_id: 1, eos_token_id: 2, head_dim: 32, hidden_act: 'silu',
        hidden_size: 64, initializer_range: 0.02, intermediate_size: 96, ...(v5 ? { layer_types: ['full_attention', 'full_attention'] } : {}),
        max_position_embeddings: 32768, model_type: 'mistral', num_attention_heads: 4, num_hidden_layers: 2, num_key_value_heads: 2,
        rms_norm_eps: 1e-5, ...rope(1000000.0, null), sliding_window: 4096, tie_word_embeddings: false, ...dtypeKey, ...version,
        use_cache: true, vocab_size: VOCAB,
      };
    case 'qwen2': // Qwen2.5-0.5B-like: q/k/v bias, tied
      return {
        architectures: ['Qwen2ForCausalLM'], attention_dropout: 0.0, bos_token_id: 250, eos_token_id: 251, hidden_act: 'silu', hidden_size: 64,
        initializer_range: 0.02, intermediate_size: 96, ...(v5 ? { layer_types: ['full_attention', 'full_attention'] } : {}),
        max_position_embeddings: 32768, max_window_layers: 21, model_type: 'qwen2', num_attention_heads: 4, num_hidden_layers: 2,
        num_key_value_heads: 2, rms_norm_eps: 1e-6, ...rope(1000000.0, null), sliding_window: v5 ? null : 32768, tie_word_embeddings: true,
        ...dtypeKey, ...version, use_cache: true, use_sliding_window: false, vocab_size: VOCAB,
      };
    case 'gpt2': case 'gpt2-old': case 'gpt2-untied': // tie_word_embeddings is written only when it is not the default (true)
      return {
        ...(v === 'gpt2-untied' ? { tie_word_embeddings: false } : {}),
        activation_function: 'gelu_new', ...(v5 ? { add_cross_attention: false } : {}), architectures: ['GPT2LMHeadModel'],
        attn_pdrop: 0.0, bos_token_id: 255, embd_pdrop: 0.0, eos_token_id: 255, initializer_range: 0.02, layer_norm_epsilon: 1e-5,
        model_type: 'gpt2', n_ctx: v === 'gpt2-old' ? 128 : undefined, n_embd: 64, n_head: 4, n_inner: null, n_layer: 2, n_positions: 128,
        reorder_and_upcast_attn: false, resid_pdrop: 0.0, scale_attn_by_inverse_layer_idx: false, scale_attn_weights: true,
        summary_activation: null, summary_first_dropout: 0.1, summary_proj_to_labels: true, summary_type: 'cls_index', summary_use_proj: true,
        ...dtypeKey, ...(v === 'gpt2-old' ? { transformers_version: '4.26.1' } : version), use_cache: true, vocab_size: VOCAB,
      };
  }
}

interface Plan { name: string; shape: number[]; init: 'w' | 'norm' | 'bias' | 'zero' | 'mask' }

function llamaPlan(c: Record<string, unknown>): { plan: Plan[]; linears: HfModel['linears'] } {
  const H = c['hidden_size'] as number;
  const heads = c['num_attention_heads'] as number;
  const D = (c['head_dim'] as number | undefined) ?? H / heads;
  const q = heads * D;
  const kv = (c['num_key_value_heads'] as number) * D;
  const I = c['intermediate_size'] as number;
  const qkvBias = c['model_type'] === 'qwen2';
  const plan: Plan[] = [{ name: 'model.embed_tokens.weight', shape: [VOCAB, H], init: 'w' }];
  const linears: HfModel['linears'] = [];
  for (let i = 0; i < (c['num_hidden_layers'] as number); i++) {
    const p = `model.layers.${i}`;
    const lin = (n: string, inF: number, outF: number, bias: boolean): void => {
      plan.push({ name: `${p}.${n}.weight`, shape: [outF, inF], init: 'w' });
      if (bias) plan.push({ name: `${p}.${n}.bias`, shape: [outF], init: 'bias' });
      linears.push({ name: `${p}.${n}`, in: inF, out: outF });
    };
    lin('self_attn.q_proj', H, q, qkvBias);
    lin('self_attn.k_proj', H, kv, qkvBias);
    lin('self_attn.v_proj', H, kv, qkvBias);
    lin('self_attn.o_proj', q, H, false);
    lin('mlp.gate_proj', H, I, false);
    lin('mlp.up_proj', H, I, false);
    lin('mlp.down_proj', I, H, false);
    plan.push({ name: `${p}.input_layernorm.weight`, shape: [H], init: 'norm' }, { name: `${p}.post_attention_layernorm.weight`, shape: [H], init: 'norm' });
  }
  plan.push({ name: 'model.norm.weight', shape: [H], init: 'norm' });
  if (c['tie_word_embeddings'] === false) plan.push({ name: 'lm_head.weight', shape: [VOCAB, H], init: 'w' });
  linears.push({ name: 'lm_head', in: H, out: VOCAB }); // a Linear PEFT can target, tied or not
  return { plan, linears };
}

function gpt2Plan(c: Record<string, unknown>, old: boolean): { plan: Plan[]; linears: HfModel['linears'] } {
  const H = c['n_embd'] as number;
  const P = c['n_positions'] as number;
  const plan: Plan[] = [{ name: 'transformer.wte.weight', shape: [VOCAB, H], init: 'w' }, { name: 'transformer.wpe.weight', shape: [P, H], init: 'w' }];
  const linears: HfModel['linears'] = [];
  for (let i = 0; i < (c['n_layer'] as number); i++) {
    const p = `transformer.h.${i}`;
    const conv = (n: string, inF: number, outF: number): void => {
      plan.push({ name: `${p}.${n}.weight`, shape: [inF, outF], init: 'w' }, { name: `${p}.${n}.bias`, shape: [outF], init: 'bias' });
      linears.push({ name: `${p}.${n}`, in: inF, out: outF });
    };
    plan.push({ name: `${p}.ln_1.weight`, shape: [H], init: 'norm' }, { name: `${p}.ln_1.bias`, shape: [H], init: 'bias' });
    conv('attn.c_attn', H, 3 * H);
    conv('attn.c_proj', H, H);
    plan.push({ name: `${p}.ln_2.weight`, shape: [H], init: 'norm' }, { name: `${p}.ln_2.bias`, shape: [H], init: 'bias' });
    conv('mlp.c_fc', H, 4 * H);
    conv('mlp.c_proj', 4 * H, H);
    // transformers < 4.31 saved the causal-mask buffers (persistent): attn.bias [1,1,P,P] and attn.masked_bias.
    if (old) plan.push({ name: `${p}.attn.bias`, shape: [1, 1, P, P], init: 'mask' }, { name: `${p}.attn.masked_bias`, shape: [], init: 'zero' });
  }
  plan.push({ name: 'transformer.ln_f.weight', shape: [H], init: 'norm' }, { name: 'transformer.ln_f.bias', shape: [H], init: 'bias' });
  if (c['tie_word_embeddings'] === false) plan.push({ name: 'lm_head.weight', shape: [VOCAB, H], init: 'w' });
  linears.push({ name: 'lm_head', in: H, out: VOCAB });
  return { plan, linears };
}

export interface WriteOptions {
  /** Weights saved after model.to(torch.bfloat16): BF16 tensors and torch_dtype/dtype "bfloat16". */
  bf16?: boolean;
  /** save_pretrained(max_shard_size=...) with two shards: model-0000{1,2}-of-00002.safetensors + the index. */
  sharded?: boolean;
}

/** Writes `dir`/config.json (indent 2, sorted keys, trailing newline as to_json_string) and the safetensors weights. */
export function writeHfModel(dir: string, v: Variant, style: Style, seed: number, opts: WriteOptions = {}): HfModel {
  const config = hfConfig(v, style);
  if (opts.bf16 === true) config[style === '5.x' ? 'dtype' : 'torch_dtype'] = 'bfloat16';
  for (const k of Object.keys(config)) if (config[k] === undefined) delete config[k];
  const isGpt2 = config['model_type'] === 'gpt2';
  const { plan, linears } = isGpt2 ? gpt2Plan(config, v === 'gpt2-old') : llamaPlan(config);
  const rng = new Rng(seed);
  const tensors: TensorToWrite[] = plan.map((p) => {
    const n = p.shape.reduce((a, b) => a * b, 1);
    if (p.init === 'mask') { // bool causal mask, as torch.tril(torch.ones(P, P, dtype=torch.bool))
      const P = p.shape[2]!;
      const u8 = new Uint8Array(n);
      for (let i = 0; i < P; i++) for (let j = 0; j <= i; j++) u8[i * P + j] = 1;
      return { name: p.name, dtype: 'BOOL', shape: p.shape, data: u8 };
    }
    const data = new Float32Array(n);
    if (p.init === 'w') rng.fillNormal(data, 0, 0.1);
    else if (p.init === 'bias') rng.fillNormal(data, 0, 0.05);
    else if (p.init === 'norm') rng.fillNormal(data, 1, 0.1);
    else data.fill(-1e4); // masked_bias
    return opts.bf16 === true ? { name: p.name, dtype: 'BF16' as const, shape: p.shape, data: fromFloat32(data, 'BF16') } : { name: p.name, dtype: 'F32' as const, shape: p.shape, data };
  });
  fs.mkdirSync(dir, { recursive: true });
  const sorted = Object.fromEntries(Object.keys(config).sort().map((k) => [k, config[k]]));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(sorted, null, 2) + '\n');
  if (opts.sharded === true) {
    // transformers fills shards in state-dict order; the index maps every tensor to its shard (sorted keys).
    const half = Math.ceil(tensors.length / 2);
    const shards = [tensors.slice(0, half), tensors.slice(half)];
    const weightMap: Record<string, string> = {};
    let totalSize = 0;
    shards.forEach((ts, i) => {
      const file = `model-0000${i + 1}-of-00002.safetensors`;
      writeSafetensors(path.join(dir, file), ts, { format: 'pt' });
      for (const t of ts) { weightMap[t.name] = file; totalSize += t.data.byteLength; }
    });
    const sortedMap = Object.fromEntries(Object.keys(weightMap).sort().map((k) => [k, weightMap[k]]));
    const index = { metadata: { total_parameters: plan.reduce((a, p) => a + p.shape.reduce((x, y) => x * y, 1), 0), total_size: totalSize }, weight_map: sortedMap };
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify(index, null, 2) + '\n');
  } else {
    writeSafetensors(path.join(dir, 'model.safetensors'), tensors, { format: 'pt' });
  }
  const params = plan.filter((p) => p.init !== 'mask' && p.init !== 'zero');
  return {
    dir, config, tensors: new Map(plan.map((p) => [p.name, p.shape])), linears,
    numParameters: params.reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 1), 0),
  };
}

export type PeftStyle = '0.13' | '0.20';

/** adapter_config.json as LoraConfig.save_pretrained writes it (sort_keys, indent 2, inference_mode true). */
export function peftConfig(style: PeftStyle, o: { base: string; r: number; alpha: number; targets: string[]; fanInFanOut?: boolean }): Record<string, unknown> {
  const common: Record<string, unknown> = {
    alpha_pattern: {}, auto_mapping: null, base_model_name_or_path: o.base, bias: 'none', fan_in_fan_out: o.fanInFanOut ?? false,
    inference_mode: true, init_lora_weights: true, layer_replication: null, layers_pattern: null, layers_to_transform: null, loftq_config: {},
    lora_alpha: o.alpha, lora_dropout: 0.0, megatron_config: null, megatron_core: 'megatron.core', modules_to_save: null, peft_type: 'LORA',
    r: o.r, rank_pattern: {}, revision: null, target_modules: o.targets, task_type: 'CAUSAL_LM', use_dora: false, use_rslora: false,
  };
  if (style === '0.20') {
    Object.assign(common, {
      alora_invocation_tokens: null, arrow_config: null, corda_config: null, ensure_weight_tying: false, eva_config: null, exclude_modules: null,
      lora_bias: false, lora_ga_config: null, monteclora_config: null, peft_version: '0.20.0', qalora_group_size: 16, target_parameters: null,
      trainable_token_indices: null, use_bdlora: null, use_qalora: false, velora_config: null,
    });
  }
  return Object.fromEntries(Object.keys(common).sort().map((k) => [k, common[k]]));
}

/**
 * A PEFT-initialised adapter folder (init_lora_weights=True: A ~ kaiming_uniform(a=√5) = U(±1/√in), B = 0), or with
 * `bStd` > 0 a trained-looking B; keys `base_model.model.<module>.lora_{A,B}.weight`, F32, {"format":"pt"}.
 */
export function writePeftAdapter(dir: string, cfg: Record<string, unknown>, mods: HfModel['linears'], r: number, seed: number, bStd = 0): Map<string, [number, number]> {
  const rng = new Rng(seed);
  const shapes = new Map<string, [number, number]>();
  const tensors: TensorToWrite[] = [];
  for (const m of mods) {
    const key = `base_model.model.${m.name}`;
    const a = new Float32Array(r * m.in);
    const bound = 1 / Math.sqrt(m.in);
    for (let i = 0; i < a.length; i++) a[i] = (rng.uniform() * 2 - 1) * bound;
    const b = new Float32Array(m.out * r);
    if (bStd > 0) rng.fillNormal(b, 0, bStd);
    tensors.push({ name: `${key}.lora_A.weight`, dtype: 'F32', shape: [r, m.in], data: a }, { name: `${key}.lora_B.weight`, dtype: 'F32', shape: [m.out, r], data: b });
    shapes.set(`${key}.lora_A.weight`, [r, m.in]);
    shapes.set(`${key}.lora_B.weight`, [m.out, r]);
  }
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify(cfg, null, 2));
  writeSafetensors(path.join(dir, 'adapter_model.safetensors'), tensors, { format: 'pt' });
  return shapes;
}

/** Modules a PEFT list target_modules selects (name == entry or endswith "." + entry). */
export function selected(m: HfModel, targets: string[]): HfModel['linears'] {
  return m.linears.filter((l) => targets.some((t) => l.name === t || l.name.endsWith(`.${t}`)));
}
