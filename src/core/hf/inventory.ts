// Module and parameter inventory of a supported causal LM, named as transformers' *ForCausalLM names them
// (`model.named_modules()` / `named_parameters()`), derived from the ModelSpec and optionally checked against headers.
import { InputError } from '../errors';
import type { Checkpoint, TensorEntry } from '../safetensors/types';
import { weightShape } from '../arch/layout';
import { archOf } from '../arch/registry';
import type { Layout } from '../arch/types';
import type { ModelInventory, ModelSpec, ModuleInfo, ParameterInfo } from './types';

export { weightShape };

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
  return archOf(spec).basePrefix;
}

function layoutOf(spec: ModelSpec): Layout {
  return archOf(spec).layout(spec);
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
