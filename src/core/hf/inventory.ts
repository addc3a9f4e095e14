// Module and parameter inventory of a supported causal LM, named as transformers' *ForCausalLM names them
// (`model.named_modules()` / `named_parameters()`), derived from the ModelSpec and optionally checked against headers.
import { InputError } from '../errors';
import type { Checkpoint, TensorEntry } from '../safetensors/types';
import type { ModelInventory, ModelSpec, ModuleInfo, ModuleKind, ParameterInfo } from './types';

/** safetensors dtype for a config.json torch_dtype (config-only inventories). */
export function dtypeFromTorch(torchDtype: string | null): string {
  switch (torchDtype) {
    case 'float16': case 'half': return 'F16';
    case 'bfloat16': return 'BF16';
    case 'float64': case 'double': return 'F64';
    default: return 'F32';
  }
}

/** The module/parameter prefix of the base model inside the *ForCausalLM wrapper. */
export function basePrefix(spec: ModelSpec): string {
  return spec.family === 'gpt2' ? 'transformer.' : 'model.';
}

interface Layout {
  modules: ModuleInfo[];
  /** Parameters in named_parameters() order, with their shapes; checkpointKey is the hub-layout key. */
  parameters: { name: string; shape: number[] }[];
}

function mod(name: string, kind: ModuleKind, inF: number, outF: number, hasBias: boolean, layer: number | null, isOutputHead = false): ModuleInfo {
  return { name, kind, inFeatures: inF, outFeatures: outF, hasBias, layer, isOutputHead, weightKey: `${name}.weight`, biasKey: hasBias ? `${name}.bias` : null };
}

/** Weight shape of a module as stored in the checkpoint: Linear [out, in], Conv1D [in, out], Embedding [num, dim]. */
export function weightShape(m: ModuleInfo): number[] {
  if (m.kind === 'linear') return [m.outFeatures, m.inFeatures];
  if (m.kind === 'conv1d' || m.kind === 'embedding') return [m.inFeatures, m.outFeatures];
  return [m.outFeatures];
}

function llamaLayout(s: ModelSpec): Layout {
  const modules: ModuleInfo[] = [];
  const h = s.hiddenSize;
  const q = s.numHeads * s.headDim;
  const kv = s.numKvHeads * s.headDim;
  modules.push(mod('model.embed_tokens', 'embedding', s.vocabSize, h, false, null));
  for (let i = 0; i < s.numLayers; i++) {
    const p = `model.layers.${i}`;
    modules.push(
      mod(`${p}.self_attn.q_proj`, 'linear', h, q, s.qkvBias, i),
      mod(`${p}.self_attn.k_proj`, 'linear', h, kv, s.qkvBias, i),
      mod(`${p}.self_attn.v_proj`, 'linear', h, kv, s.qkvBias, i),
      mod(`${p}.self_attn.o_proj`, 'linear', q, h, s.oBias, i),
      mod(`${p}.mlp.gate_proj`, 'linear', h, s.intermediateSize, s.mlpBias, i),
      mod(`${p}.mlp.up_proj`, 'linear', h, s.intermediateSize, s.mlpBias, i),
      mod(`${p}.mlp.down_proj`, 'linear', s.intermediateSize, h, s.mlpBias, i),
      mod(`${p}.input_layernorm`, 'rmsnorm', h, h, false, i),
      mod(`${p}.post_attention_layernorm`, 'rmsnorm', h, h, false, i),
    );
  }
  modules.push(mod('model.norm', 'rmsnorm', h, h, false, null));
  modules.push(mod('lm_head', 'linear', h, s.vocabSize, false, null, true));
  return { modules, parameters: parametersOf(modules, s) };
}

function gpt2Layout(s: ModelSpec): Layout {
  const modules: ModuleInfo[] = [];
  const h = s.hiddenSize;
  modules.push(mod('transformer.wte', 'embedding', s.vocabSize, h, false, null));
  modules.push(mod('transformer.wpe', 'embedding', s.maxPositionEmbeddings, h, false, null));
  for (let i = 0; i < s.numLayers; i++) {
    const p = `transformer.h.${i}`;
    modules.push(
      mod(`${p}.ln_1`, 'layernorm', h, h, true, i),
      mod(`${p}.attn.c_attn`, 'conv1d', h, 3 * h, true, i),
      mod(`${p}.attn.c_proj`, 'conv1d', h, h, true, i),
      mod(`${p}.ln_2`, 'layernorm', h, h, true, i),
      mod(`${p}.mlp.c_fc`, 'conv1d', h, s.intermediateSize, true, i),
      mod(`${p}.mlp.c_proj`, 'conv1d', s.intermediateSize, h, true, i),
    );
  }
  modules.push(mod('transformer.ln_f', 'layernorm', h, h, true, null));
  modules.push(mod('lm_head', 'linear', h, s.vocabSize, false, null, true));
  return { modules, parameters: parametersOf(modules, s) };
}

function parametersOf(modules: ModuleInfo[], s: ModelSpec): { name: string; shape: number[] }[] {
  const out: { name: string; shape: number[] }[] = [];
  for (const m of modules) {
    if (m.isOutputHead && s.tieWordEmbeddings) continue; // tied: the embedding's weight, listed once
    out.push({ name: `${m.name}.weight`, shape: weightShape(m) });
    if (m.hasBias) out.push({ name: `${m.name}.bias`, shape: [m.outFeatures] });
  }
  return out;
}

function layoutOf(spec: ModelSpec): Layout {
  return spec.family === 'gpt2' ? gpt2Layout(spec) : llamaLayout(spec);
}

function numel(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function embeddingModule(modules: ModuleInfo[]): ModuleInfo {
  return modules[0] as ModuleInfo; // model.embed_tokens / transformer.wte come first
}

function tieHead(modules: ModuleInfo[], spec: ModelSpec): void {
  if (!spec.tieWordEmbeddings) return;
  const head = modules[modules.length - 1] as ModuleInfo;
  head.weightKey = embeddingModule(modules).weightKey;
}

/** Buffers some checkpoints carry that are not parameters: gpt2 attn.bias / attn.masked_bias, rotary inv_freq. */
export function isKnownBuffer(key: string): boolean {
  return /(^|\.)attn\.(bias|masked_bias)$/.test(key) || key.endsWith('.rotary_emb.inv_freq');
}

/** The inventory from config.json alone (source 'config'): same modules and parameters, no checkpoint keys. */
export function inventoryFromConfig(spec: ModelSpec, dir: string): ModelInventory {
  const { modules, parameters } = layoutOf(spec);
  tieHead(modules, spec);
  const dtype = dtypeFromTorch(spec.torchDtype);
  const params: ParameterInfo[] = parameters.map((p) => ({ name: p.name, shape: p.shape, dtype, checkpointKey: null }));
  return { spec, dir, source: 'config', modules, parameters: params, totalParameters: params.reduce((a, p) => a + numel(p.shape), 0) };
}

/**
 * The inventory checked against a checkpoint's headers (source 'safetensors'). Handles checkpoints saved without
 * the base prefix (hub gpt2: `h.0.attn.c_attn.weight`), ignores buffers (attn.bias, attn.masked_bias,
 * rotary_emb.inv_freq), and raises InputError naming the tensor when a weight is missing or has the wrong shape.
 */
export function inventoryFromCheckpoint(spec: ModelSpec, checkpoint: Checkpoint, configFile?: string): ModelInventory {
  const { modules, parameters } = layoutOf(spec);
  const tensors = checkpoint.tensors;
  const prefix = basePrefix(spec);
  const embedName = embeddingModule(modules).weightKey;
  // Hub layout without the base prefix (GPT2LMHeadModel saved as GPT2Model, e.g. openai-community/gpt2).
  const stripped = !tensors.has(embedName) && tensors.has(embedName.slice(prefix.length));
  const keyOf = (name: string): string => (stripped && name.startsWith(prefix) ? name.slice(prefix.length) : name);
  const where = (t: TensorEntry | undefined): string => (t !== undefined ? t.file : checkpoint.dir);
  const params: ParameterInfo[] = [];
  for (const p of parameters) {
    const key = keyOf(p.name);
    const entry = tensors.get(key);
    if (entry === undefined) {
      const isHead = p.name === 'lm_head.weight';
      throw new InputError('model-missing-tensor', `the checkpoint has no tensor "${key}"`, {
        file: checkpoint.dir, tensor: key, expected: `shape [${p.shape.join(', ')}]`,
        hint: isHead
          ? 'config.json says tie_word_embeddings is false, so the model needs its own lm_head.weight; set "tie_word_embeddings": true if the head is tied to the embeddings'
          : `Does config.json${configFile !== undefined ? ` (${configFile})` : ''} describe this checkpoint?`,
      });
    }
    if (entry.shape.length !== p.shape.length || entry.shape.some((d, i) => d !== p.shape[i])) {
      throw new InputError('model-shape-mismatch', 'tensor shape disagrees with config.json', {
        file: where(entry), tensor: key, expected: `[${p.shape.join(', ')}] from config.json`, actual: `[${entry.shape.join(', ')}]`,
      });
    }
    params.push({ name: p.name, shape: p.shape, dtype: entry.dtype, checkpointKey: key });
  }
  for (const m of modules) {
    m.weightKey = keyOf(m.weightKey);
    if (m.biasKey !== null) m.biasKey = keyOf(m.biasKey);
  }
  tieHead(modules, spec);
  const used = new Set(params.map((p) => p.checkpointKey));
  const unused = [...tensors.keys()].filter((k) => !used.has(k) && !isKnownBuffer(k) && !(spec.tieWordEmbeddings && k === 'lm_head.weight'));
  return {
    spec, dir: checkpoint.dir, source: 'safetensors', modules, parameters: params, totalParameters: params.reduce((a, p) => a + numel(p.shape), 0),
    unusedCheckpointKeys: unused,
  };
}
