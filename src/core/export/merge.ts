// `merge`: base model + LoRA adapter → a plain Hugging Face model folder (W' = W + s·B·A), written tensor by tensor
// (peak memory ≈ one tensor), with config.json's torch_dtype, tokenizer files, generation_config.json and a model card.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../errors';
import { loadModel } from '../hf/loadModel';
import type { ModelInventory } from '../hf/types';
import { openCheckpoint } from '../safetensors/checkpoint';
import { readTensorAsFloat32 } from '../safetensors/read';
import { fromFloat32 } from '../safetensors/write';
import { tensorChunks, writeCheckpointStreamed, type StreamedTensor } from '../safetensors/writeStream';
import type { SafetensorsDtype, TensorEntry } from '../safetensors/types';
import { loadAdapter, mergeLoraBias, mergeModule, unmergeableLoraBias, type LoadedAdapter } from './adapterWeights';
import { tiedEmbeddingParam } from '../models/savedCopies';
import { modelCard } from './modelCard';
import { readJsonObject } from '../util/safeJson';

export type MergeDtype = 'float32' | 'float16' | 'bfloat16';
const ST_DTYPE: Record<MergeDtype, 'F32' | 'F16' | 'BF16'> = { float32: 'F32', float16: 'F16', bfloat16: 'BF16' };
const FLOAT_DTYPES = new Set<SafetensorsDtype>(['F32', 'F16', 'BF16', 'F64']);

/** Files copied beside the weights when present (tokenizer in every form transformers saves, generation settings). */
export const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.json', 'merges.txt', 'tokenizer.model', 'added_tokens.json', 'chat_template.jinja'];

export interface MergeOptions {
  modelDir: string;
  adapterDir: string;
  outDir: string;
  /** Default: the base config's torch_dtype, else float32. */
  dtype?: MergeDtype;
  /** Default 5 GB (transformers' save_pretrained default). */
  maxShardBytes?: number;
  /** Name of the base for the model card (a hub id when the model was given as one). */
  baseName?: string;
  onTensor?: (name: string, index: number, total: number) => void;
}

export interface MergeResult {
  outDir: string;
  dtype: MergeDtype;
  files: string[];
  mergedModules: number;
  tensors: number;
  totalSize: number;
}

function dtypeOf(inv: ModelInventory, requested: MergeDtype | undefined): MergeDtype {
  if (requested !== undefined) return requested;
  const t = inv.spec.torchDtype;
  return t === 'float16' || t === 'bfloat16' || t === 'float32' ? t : 'float32';
}

/** One tensor of the merged model: its base checkpoint entry (shape, dtype) and, when the adapter changes it, its values. */
export interface MergedTensor {
  name: string;
  entry: TensorEntry;
  /** The merged values in float32; undefined when the tensor is the base's, unchanged. */
  merged: (() => Float32Array) | undefined;
}

/**
 * The merged model as float32 views, in checkpoint order (then an untied head's own lm_head.weight): each adapted
 * weight W + s·B·A (DoRA: times m / ||W + s·B·A||), trained biases in place of the base ones (+ s·lora_B.bias),
 * modules_to_save copies in place of their base tensors, trainable-token rows written into their layer, embedding
 * LoRA added. What `merge` writes as safetensors and `export gguf --merge` converts, so both hold the same numbers.
 */
export function mergedModel(inv: ModelInventory, adapter: LoadedAdapter | null): MergedTensor[] {
  const ckpt = openCheckpoint(inv.dir);
  const out: MergedTensor[] = [];
  // modules_to_save: the trained copy replaces the base tensor (merge_and_unload keeps modules_to_save[adapter]).
  const copies = new Map((adapter?.copies ?? []).filter((c) => !c.untiesHead && c.param.tokens === undefined).map((c) => [c.param.source, c.entry]));
  // trainable_token_indices: W.index_copy(0, idx, delta) (TrainableTokensLayer.merge); a tied head shares the result.
  const tokenRows = new Map((adapter?.copies ?? []).filter((c) => c.param.tokens !== undefined).map((c) => [c.param.source, c]));
  for (const [name, entry] of ckpt.tensors) {
    const copy = copies.get(name);
    const m = adapter?.byWeight.get(name);
    const lb = adapter?.byBias.get(name);
    // bias lora_only / all: the trained bias replaces the base one (merge_and_unload keeps the trained base_layer.bias).
    const src = copy ?? adapter?.biases.get(name) ?? entry;
    const tok = tokenRows.get(name);
    const changed = src !== entry || m !== undefined || lb !== undefined || tok !== undefined;
    out.push({
      name, entry,
      merged: !changed ? undefined : () => {
        const w = readTensorAsFloat32(src); // a fresh array: merged in place
        if (m !== undefined) mergeModule(w, m);
        if (lb !== undefined) mergeLoraBias(w, lb);
        if (tok !== undefined) {
          const delta = readTensorAsFloat32(tok.entry);
          const dim = tok.param.shape[1]!;
          tok.param.tokens!.rows.forEach((r, j) => w.set(delta.subarray(j * dim, (j + 1) * dim), r * dim));
        }
        return w;
      },
    });
  }
  // An untied head becomes its own lm_head.weight (config.json then unties the embeddings: mergeToHfFolder).
  const head = untiedHead(inv, adapter);
  if (head !== undefined) out.push({ name: 'lm_head.weight', entry: head, merged: () => readTensorAsFloat32(head) });
  return out;
}

/**
 * The merged model's tensors for safetensors: float tensors cast to `dtype` (the merge itself runs in float32 with a
 * float64 B·A); unchanged tensors of the same dtype are copied byte for byte, other tensors as they are.
 */
export function mergedTensors(inv: ModelInventory, adapter: LoadedAdapter | null, dtype: SafetensorsDtype | null): StreamedTensor[] {
  return mergedModel(inv, adapter).map((t) => {
    const cast = dtype !== null && FLOAT_DTYPES.has(t.entry.dtype) ? dtype : t.entry.dtype;
    const merged = t.merged ?? (cast === t.entry.dtype ? undefined : () => readTensorAsFloat32(t.entry));
    return {
      name: t.name, dtype: cast, shape: [...t.entry.shape],
      data: () => {
        if (merged === undefined) return tensorChunks(t.entry);
        const typed = fromFloat32(merged(), cast as 'F32' | 'F16' | 'BF16' | 'F64');
        return new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
      },
    };
  });
}

/**
 * What the merged model's own lm_head.weight holds when merging unties a tied head: the copy of a tied lm_head
 * (modules_to_save), or the base embedding when only the embedding was copied (PEFT's tied head kept reading the
 * original parameter; left tied, the merged head would read the trained embedding instead). Else undefined.
 */
export function untiedHead(inv: ModelInventory, adapter: LoadedAdapter | null): TensorEntry | undefined {
  const head = adapter?.copies.find((c) => c.untiesHead);
  if (head !== undefined) return head.entry;
  const embedding = tiedEmbeddingParam(inv);
  const copied = adapter?.copies.find((c) => c.param.tokens === undefined && c.param.param === embedding);
  return copied !== undefined ? openCheckpoint(inv.dir).tensors.get(copied.param.source) : undefined;
}

export function mergeToHfFolder(opts: MergeOptions): MergeResult {
  const modelDir = path.resolve(opts.modelDir);
  const outDir = path.resolve(opts.outDir);
  if (outDir === modelDir) throw new InputError('merge-out-is-model', 'OUT is the base model folder; write the merged model to a new folder', { file: outDir });
  if (fs.existsSync(outDir) && fs.readdirSync(outDir).length > 0) {
    throw new InputError('merge-out-not-empty', 'OUT exists and is not empty', { file: outDir, hint: 'Choose a new folder, or remove this one first' });
  }
  const inv = loadModel(modelDir);
  if (inv.source !== 'safetensors') throw new InputError('merge-no-weights', 'the base model folder has no safetensors weights', { file: modelDir });
  const adapter = loadAdapter(opts.adapterDir, inv, { copies: true, embeddings: true });
  const lost = unmergeableLoraBias(adapter);
  if (lost !== undefined) {
    throw new InputError('adapter-unsupported', `lora_bias on ${lost.module.name}, which has no bias in the base model: the merged model would have nowhere to keep it`, {
      file: adapter.dir, hint: 'Keep the adapter unmerged, or train with lora_bias: false',
    });
  }
  const dtype = dtypeOf(inv, opts.dtype);
  const tensors = mergedTensors(inv, adapter, ST_DTYPE[dtype]);
  const total = tensors.length;
  tensors.forEach((t, i) => {
    const produce = t.data;
    t.data = () => {
      opts.onTensor?.(t.name, i, total);
      return produce();
    };
  });
  fs.mkdirSync(outDir, { recursive: true });
  const written = writeCheckpointStreamed(outDir, tensors, opts.maxShardBytes ?? 5e9);

  const config = readJsonObject(path.join(modelDir, 'config.json'), { what: 'config.json' });
  config['torch_dtype'] = dtype;
  if (untiedHead(inv, adapter) !== undefined) config['tie_word_embeddings'] = false;
  if ('dtype' in config) config['dtype'] = dtype;
  const files = [...written.files];
  const writeJson = (name: string, value: unknown): void => {
    fs.writeFileSync(path.join(outDir, name), JSON.stringify(value, null, 2) + '\n');
    files.push(path.join(outDir, name));
  };
  writeJson('config.json', config);
  const genFile = path.join(modelDir, 'generation_config.json');
  if (fs.existsSync(genFile)) {
    fs.copyFileSync(genFile, path.join(outDir, 'generation_config.json'));
    files.push(path.join(outDir, 'generation_config.json'));
  } else {
    const gen: Record<string, unknown> = { _from_model_config: true };
    for (const k of ['bos_token_id', 'eos_token_id', 'pad_token_id']) if (config[k] !== undefined && config[k] !== null) gen[k] = config[k];
    writeJson('generation_config.json', gen);
  }
  for (const f of TOKENIZER_FILES) {
    const src = path.join(modelDir, f);
    if (fs.existsSync(src)) {
      fs.copyFileSync(src, path.join(outDir, f));
      files.push(path.join(outDir, f));
    }
  }
  fs.writeFileSync(path.join(outDir, 'README.md'), modelCard({ baseName: opts.baseName ?? modelDir, adapter, dtype, inv }));
  files.push(path.join(outDir, 'README.md'));
  return { outDir, dtype, files, mergedModules: adapter.modules.length, tensors: total, totalSize: written.totalSize };
}
