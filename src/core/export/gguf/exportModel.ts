// `export gguf`: a Hugging Face model folder (optionally with a LoRA merged in) → one GGUF v3 file llama.cpp loads,
// tensor by tensor; and `export gguf-adapter`: a PEFT LoRA → a llama.cpp LoRA adapter GGUF for the same base.
import * as path from 'node:path';
import { InputError } from '../../errors';
import { loadModel } from '../../hf/loadModel';
import type { ModelInventory } from '../../hf/types';
import { readTensorAsFloat32 } from '../../safetensors/read';
import { loadAdapter, readLoraFactors, unmergeableLoraBias, type LoadedAdapter } from '../adapterWeights';
import { mergedModel, untiedHead } from '../merge';
import { applyTransform, archMetadata, ggufArchOf, ggufTensorFor, permuteRows, ropeFactorTensors, type GgufArch } from './arch';
import { encodeGgml, ggmlTypeFor, LLAMA_FTYPE, type GgufFileType } from './quant';
import { llamaCppModelName, tokenizerMetadata } from './tokenizer';
import { writeGguf, type GgufKv, type GgufTensor } from './writer';

export interface GgufExportResult {
  file: string;
  arch: GgufArch;
  tensors: number;
  bytes: number;
  warnings: string[];
  /** Tokenizer facts an Ollama Modelfile needs (model export only). */
  chatTemplate?: string | null;
  eosToken?: string | null;
}

function loadBase(modelDir: string): { inv: ModelInventory; arch: GgufArch } {
  const inv = loadModel(modelDir);
  if (inv.source !== 'safetensors') throw new InputError('gguf-no-weights', 'the model folder has no safetensors weights', { file: inv.dir });
  return { inv, arch: ggufArchOf(inv.spec, path.join(inv.dir, 'config.json')) };
}

function generalKvs(arch: GgufArch, name: string, type: 'model' | 'adapter'): GgufKv[] {
  return [
    { key: 'general.architecture', type: 'string', value: arch },
    { key: 'general.type', type: 'string', value: type },
    { key: 'general.name', type: 'string', value: name },
  ];
}

export interface ExportModelOptions {
  modelDir: string;
  out: string;
  type?: GgufFileType;
  /** A LoRA adapter folder to merge into the weights before conversion. */
  adapterDir?: string;
  name?: string;
}

/** Writes the base model (or base + merged LoRA) as GGUF with llama.cpp's names, layouts and metadata. */
export function exportGgufModel(opts: ExportModelOptions): GgufExportResult {
  const { inv, arch } = loadBase(opts.modelDir);
  const fileType = opts.type ?? 'f16';
  const adapter: LoadedAdapter | null = opts.adapterDir !== undefined ? loadAdapter(opts.adapterDir, inv, { copies: true, embeddings: true }) : null;
  const lost = adapter !== null ? unmergeableLoraBias(adapter) : undefined;
  if (lost !== undefined) throw new InputError('adapter-unsupported', `lora_bias on ${lost.module.name}, which has no bias in the base model, cannot be merged`, { file: adapter!.dir });
  const spec = inv.spec;
  const tok = tokenizerMetadata(inv.dir, spec.vocabSize);
  const tokens = tok.kvs.find((kv) => kv.key === 'tokenizer.ggml.tokens')?.value as string[] | undefined;
  const named = llamaCppModelName(opts.name ?? path.basename(inv.dir), tokens ?? []);
  if (named.warning !== null) tok.warnings.push(named.warning);
  const kvs: GgufKv[] = [
    ...generalKvs(arch, named.name, 'model'),
    { key: 'general.file_type', type: 'u32', value: LLAMA_FTYPE[fileType] },
    ...(fileType === 'q8_0' ? [{ key: 'general.quantization_version', type: 'u32', value: 2 } as GgufKv] : []),
    ...archMetadata(spec, arch),
    ...tok.kvs,
  ];
  const tensors: GgufTensor[] = [];
  for (const f of ropeFactorTensors(spec)) tensors.push({ name: f.name, shape: [f.data.length], type: 'F32', data: () => encodeGgml(f.data, 'F32') });
  // The same merged numbers as `merge` (LoRA, DoRA, biases, modules_to_save copies, trainable tokens, embedding LoRA).
  const untied = untiedHead(inv, adapter) !== undefined;
  for (const { name: hfName, entry, merged } of mergedModel(inv, adapter)) {
    const target = ggufTensorFor(hfName, spec, arch);
    if (target === null) {
      if (untied && hfName === 'lm_head.weight') {
        throw new InputError('gguf-config', `llama.cpp's ${arch} graph reads the output head from the embedding, but this adapter gives the head weights of its own (a modules_to_save copy of lm_head, or of the embedding alone)`, {
          file: adapter!.dir, hint: 'Merge to a Hugging Face folder instead (peft-studio merge), or train without that copy',
        });
      }
      continue;
    }
    const shape = target.transform.kind === 'transpose' ? [entry.shape[1]!, entry.shape[0]!] : [...entry.shape];
    const type = ggmlTypeFor(fileType, shape);
    tensors.push({
      name: target.name, shape, type,
      data: () => encodeGgml(applyTransform(target.transform, merged?.() ?? readTensorAsFloat32(entry), entry.shape).data, type),
    });
  }
  const { bytes } = writeGguf(opts.out, kvs, tensors);
  return { file: path.resolve(opts.out), arch, tensors: tensors.length, bytes, warnings: tok.warnings, chatTemplate: tok.chatTemplate, eosToken: tok.eosToken };
}

export interface ExportAdapterOptions {
  adapterDir: string;
  modelDir: string;
  out: string;
  name?: string;
}

/**
 * A llama.cpp LoRA adapter: `blk.N.<tensor>.weight.lora_a` = PEFT A [r, in] (GGUF dims in×r) and `.lora_b` = B [out, r],
 * `adapter.lora.alpha` = lora_alpha. llama.cpp scales every pair by alpha / r (r from the tensor), so a pair whose PEFT
 * scaling differs (alpha_pattern, rsLoRA) gets the ratio folded into B. Under arch llama, B of q and k is permuted
 * like the base q/k rows.
 */
export function exportGgufAdapter(opts: ExportAdapterOptions): GgufExportResult {
  const { inv, arch } = loadBase(opts.modelDir);
  const adapter = loadAdapter(opts.adapterDir, inv);
  if (adapter.config.use_dora || adapter.biases.size > 0 || adapter.config.lora_bias) {
    throw new InputError('adapter-unsupported', `a GGUF LoRA adapter holds A/B pairs only: this adapter has ${adapter.config.use_dora ? 'DoRA magnitudes' : 'trained biases'}`, {
      file: adapter.dir, hint: 'Export the merged model instead: peft-studio export gguf MODEL_DIR OUT.gguf --adapter DIR --merge',
    });
  }
  const alpha = adapter.config.lora_alpha;
  const kvs: GgufKv[] = [
    ...generalKvs(arch, opts.name ?? path.basename(path.resolve(opts.adapterDir)), 'adapter'),
    { key: 'adapter.type', type: 'string', value: 'lora' },
    { key: 'adapter.lora.alpha', type: 'f32', value: alpha },
  ];
  const tensors: GgufTensor[] = [];
  for (const m of adapter.modules) {
    const target = ggufTensorFor(m.module.weightKey, inv.spec, arch);
    if (target === null) throw new InputError('gguf-adapter-target', 'llama.cpp has no tensor for this adapted module', { tensor: m.module.name });
    const out = m.module.outFeatures;
    const llamaScale = alpha !== 0 ? alpha / m.r : 1;
    const ratio = m.scaling / llamaScale;
    tensors.push({ name: `${target.name}.lora_a`, shape: [m.r, m.module.inFeatures], type: 'F32', data: () => encodeGgml(readLoraFactors(m).a, 'F32') });
    tensors.push({
      name: `${target.name}.lora_b`, shape: [out, m.r], type: 'F32',
      data: () => {
        let b = readLoraFactors(m).b;
        if (ratio !== 1) b = b.map((x) => x * ratio);
        if (target.transform.kind === 'permute') b = permuteRows(b, out, m.r, target.transform.heads);
        // A folded scale multiplies the whole weight, so the LoRA delta too (the added 1 of a Gemma norm is base-only).
        const mul = target.transform.kind === 'affine' ? target.transform.mul : 1;
        if (mul !== 1) b = b.map((x) => x * mul);
        return encodeGgml(b, 'F32');
      },
    });
  }
  const { bytes } = writeGguf(opts.out, kvs, tensors);
  return { file: path.resolve(opts.out), arch, tensors: tensors.length, bytes, warnings: [] };
}
