// Test helpers for the validator: config-only model folders (real config.json files in a temp dir) and
// a finder for the problems of one code.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Problem } from '../../../src/core/validate';

export function tempDir(prefix = 'peft-validate-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A Llama config.json (no weights) with `layers` layers in `dir/name`; returns the folder. */
export function llamaConfigModel(dir: string, layers = 4, extra: Record<string, unknown> = {}, name = 'model'): string {
  const m = path.join(dir, name);
  fs.mkdirSync(m, { recursive: true });
  fs.writeFileSync(path.join(m, 'config.json'), JSON.stringify({
    architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: 1000, hidden_size: 64, intermediate_size: 128,
    num_hidden_layers: layers, num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 256, rms_norm_eps: 1e-6,
    tie_word_embeddings: false, torch_dtype: 'float32', ...extra,
  }));
  return m;
}

export function gpt2ConfigModel(dir: string, layers = 2, name = 'gpt2'): string {
  const m = path.join(dir, name);
  fs.mkdirSync(m, { recursive: true });
  fs.writeFileSync(path.join(m, 'config.json'), JSON.stringify({
    architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', vocab_size: 500, n_embd: 32, n_layer: layers, n_head: 4, n_positions: 128,
  }));
  return m;
}

export const byCode = (ps: Problem[], code: string): Problem[] => ps.filter((p) => p.code === code);

export function one(ps: Problem[], code: string): Problem {
  const found = byCode(ps, code);
  if (found.length !== 1) throw new Error(`expected exactly one "${code}" problem, got ${found.length}: ${JSON.stringify(ps.map((p) => `${p.code}: ${p.message}`))}`);
  return found[0]!;
}

/** [line, character, endLine, endCharacter] of a problem (0-based). */
export const at = (p: Problem): number[] => [p.range.start.line, p.range.start.character, p.range.end.line, p.range.end.character];
