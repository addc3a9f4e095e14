// Test helpers for the generation suites: a PEFT adapter folder for a fixture model, and greedy generation by the
// PyTorch reference (test/reference/torch_ref.py, mode "generate": full recomputation, no KV cache).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ModelInventory } from '../../../src/core/hf/types';
import type { LoraTarget } from '../../../src/core/train/engineApi';
import { PYTHON, REFERENCE, randomState, targetsFor, writeAdapter } from '../train/engineHelpers';

export interface AdapterFolder {
  dir: string;
  targets: LoraTarget[];
  /** modules_to_save tensors of the adapter: PEFT key and the HF parameter they replace. */
  copies?: { key: string; param: string }[];
  /** trainable_token_indices deltas: PEFT key, the wrapped module and its token rows. */
  tokens?: { key: string; module: string; rows: number[] }[];
}

/** adapter_config.json + adapter_model.safetensors with non-zero A and B on modules ending with `suffixes`. */
export function writeAdapterFolder(dir: string, inv: ModelInventory, suffixes: string[], r = 4, alpha = 8, seed = 3): AdapterFolder {
  fs.mkdirSync(dir, { recursive: true });
  const targets = targetsFor(inv, suffixes, r, alpha);
  writeAdapter(path.join(dir, 'adapter_model.safetensors'), randomState(targets, seed));
  fs.writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify({
    peft_type: 'LORA', task_type: 'CAUSAL_LM', r, lora_alpha: alpha, target_modules: suffixes, base_model_name_or_path: inv.dir,
  }));
  return { dir, targets };
}

export interface RefGeneration {
  token_ids: number[];
  logprobs: number[];
}

/** Greedy generations of the reference: for each adapter (null = base), for each prompt. */
export function referenceGenerate(inv: ModelInventory, prompts: number[][], maxNewTokens: number, adapters: (AdapterFolder | null)[], work: string): RefGeneration[] {
  const job = path.join(work, 'gen-job.json');
  const out = path.join(work, 'gen-out.json');
  fs.writeFileSync(job, JSON.stringify({
    mode: 'generate', model_dir: inv.dir, dtype: 'float32', threads: 1, prompts, max_new_tokens: maxNewTokens,
    adapters: adapters.map((a) => (a === null ? null : {
      path: path.join(a.dir, 'adapter_model.safetensors'), modules: a.targets.map((t) => ({ name: t.module.name, scaling: t.scaling })), copies: a.copies ?? [], tokens: a.tokens ?? [],
    })),
  }));
  const res = spawnSync(PYTHON, [REFERENCE, job, out], { encoding: 'utf8', timeout: 120_000 });
  if (res.status !== 0) throw new Error(`torch_ref.py failed (${res.status}): ${res.stderr || res.error?.message}`);
  return (JSON.parse(fs.readFileSync(out, 'utf8')) as { generations: RefGeneration[] }).generations;
}
