// The model folder's generation defaults: EOS ids and sampling settings from generation_config.json (as
// transformers' GenerationConfig reads them), falling back to config.json's eos_token_id.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError, errorMessage } from '../errors';
import type { SamplingOptions } from './sampling';

export interface GenerationDefaults {
  /** Token ids that end generation (eos_token_id: an int or a list). */
  eosTokenIds: number[];
  /** Sampling settings when do_sample is true (transformers' defaults: temperature 1, top_k 50, top_p 1); greedy otherwise. */
  sampling: SamplingOptions;
  maxNewTokens?: number;
}

function readJson(file: string): Record<string, unknown> | undefined {
  if (!fs.existsSync(file)) return undefined;
  try {
    const v: unknown = JSON.parse(fs.readFileSync(file, 'utf8'));
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch (e) {
    throw new InputError('generate-config-json', `not valid JSON: ${errorMessage(e)}`, { file });
  }
  throw new InputError('generate-config-json', 'must be a JSON object', { file });
}

const ids = (v: unknown): number[] => (typeof v === 'number' ? [v] : Array.isArray(v) ? v.filter((x): x is number => typeof x === 'number') : []);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

export function readGenerationDefaults(modelDir: string): GenerationDefaults {
  const gen = readJson(path.join(modelDir, 'generation_config.json')) ?? {};
  const cfg = readJson(path.join(modelDir, 'config.json')) ?? {};
  const eos = ids(gen['eos_token_id']);
  const out: GenerationDefaults = { eosTokenIds: eos.length > 0 ? eos : ids(cfg['eos_token_id']), sampling: { temperature: 0 } };
  const rp = num(gen['repetition_penalty']);
  if (rp !== undefined) out.sampling.repetitionPenalty = rp;
  if (gen['do_sample'] === true) {
    out.sampling.temperature = num(gen['temperature']) ?? 1;
    out.sampling.topK = num(gen['top_k']) ?? 50;
    out.sampling.topP = num(gen['top_p']) ?? 1;
  }
  const mnt = num(gen['max_new_tokens']);
  if (mnt !== undefined) out.maxNewTokens = mnt;
  return out;
}
