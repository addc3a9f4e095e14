// llama.cpp tokenizer metadata from a Hugging Face tokenizer.json (byte-level BPE: tokens padded to vocab_size, token
// types, merges "a b", the pre-tokenizer name) or tokenizer.model (SentencePiece), special ids, add_bos, chat template.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../../errors';
import { findChatTemplate } from '../../hf/chatTemplate';
import { readSentencePieceModel, sentencePieceVocab } from './sentencepiece';
import type { GgufKv } from './writer';
import { readJsonObject } from '../../util/safeJson';

/** llama.cpp token types (gguf-py TokenType). */
export const TOKEN_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

/** Split regexes of known pre-tokenizers → llama.cpp's `tokenizer.ggml.pre` name. */
const KNOWN_SPLITS: Record<string, string> = {
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+": 'llama-bpe',
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+": 'qwen2',
};

type Json = Record<string, unknown>;

function readJson(file: string): Json {
  return readJsonObject(file, { what: path.basename(file), code: 'gguf-tokenizer-json', readCode: 'gguf-tokenizer-json' });
}

/** The llama.cpp pre-tokenizer matching tokenizer.json's pre_tokenizer ("default" when none is recognised). */
export function preTokenizerName(pre: unknown): { name: string; recognised: boolean } {
  const p = (typeof pre === 'object' && pre !== null ? pre : {}) as Json;
  if (p['type'] === 'ByteLevel' && p['use_regex'] !== false) return { name: 'gpt-2', recognised: true };
  const parts = p['type'] === 'Sequence' && Array.isArray(p['pretokenizers']) ? (p['pretokenizers'] as Json[]) : [p];
  // SmolLM: single digits split off, then GPT-2's ByteLevel regex (llama.cpp's "smollm").
  if (parts.length === 2 && parts[0]!['type'] === 'Digits' && parts[0]!['individual_digits'] === true && parts[1]!['type'] === 'ByteLevel' && parts[1]!['use_regex'] !== false) {
    return { name: 'smollm', recognised: true };
  }
  for (const part of parts) {
    const pattern = part['type'] === 'Split' ? ((part['pattern'] as Json | undefined)?.['Regex'] as string | undefined) : undefined;
    if (pattern !== undefined && KNOWN_SPLITS[pattern] !== undefined) return { name: KNOWN_SPLITS[pattern], recognised: true };
  }
  return { name: 'default', recognised: false };
}

function tokenContent(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null && typeof (v as Json)['content'] === 'string') return (v as Json)['content'] as string;
  return null;
}

export interface TokenizerMetadata {
  kvs: GgufKv[];
  warnings: string[];
  bosToken: string | null;
  eosToken: string | null;
  chatTemplate: string | null;
}

/**
 * `tokenizer.ggml.*` and `tokenizer.chat_template` for the model folder `dir`, with tokens padded to `vocabSize`:
 * a SentencePiece tokenizer.model when the folder has one (as llama.cpp's converter prefers), else tokenizer.json.
 */
export function tokenizerMetadata(dir: string, vocabSize: number): TokenizerMetadata {
  const spm = path.join(dir, 'tokenizer.model');
  if (fs.existsSync(spm)) return sentencePieceMetadata(dir, spm, vocabSize);
  const file = path.join(dir, 'tokenizer.json');
  if (!fs.existsSync(file)) {
    throw new InputError('gguf-no-tokenizer', 'no tokenizer.json in the model folder (llama.cpp needs the vocabulary inside the GGUF)', { file: dir, hint: 'Save the fast tokenizer into the folder with save_pretrained()' });
  }
  const tj = readJson(file);
  const model = (tj['model'] ?? {}) as Json;
  if (model['type'] !== 'BPE' || model['byte_fallback'] === true) {
    throw new InputError('gguf-tokenizer-kind', `tokenizer model "${String(model['type'])}"${model['byte_fallback'] === true ? ' with byte_fallback (SentencePiece style)' : ''} is not supported for GGUF export`, {
      file, hint: 'GGUF export writes byte-level BPE vocabularies (GPT-2, Llama 3, Qwen2, SmolLM style) from tokenizer.json, and SentencePiece ones from tokenizer.model: put the tokenizer.model the model was released with into the folder',
    });
  }
  const cfgFile = path.join(dir, 'tokenizer_config.json');
  const tc = fs.existsSync(cfgFile) ? readJson(cfgFile) : {};
  const modelCfgFile = path.join(dir, 'config.json');
  const mc = fs.existsSync(modelCfgFile) ? readJson(modelCfgFile) : {};

  const vocab = model['vocab'] ?? {};
  if (typeof vocab !== 'object' || vocab === null || Array.isArray(vocab)) throw new InputError('gguf-tokenizer-json', '"model.vocab" of a BPE model must be an object of token → id', { file });
  const byId = new Map<number, string>();
  for (const [tok, id] of Object.entries(vocab)) {
    if (!Number.isSafeInteger(id) || (id as number) < 0) throw new InputError('gguf-tokenizer-json', `the id of vocabulary entry ${JSON.stringify(tok.slice(0, 40))} must be a non-negative integer`, { file });
    byId.set(id as number, tok);
  }
  const added = new Map<number, { content: string; special: boolean }>();
  for (const a of (Array.isArray(tj['added_tokens']) ? tj['added_tokens'] : []) as Json[]) {
    const id = a['id'];
    if (typeof id === 'number' && Number.isSafeInteger(id) && id >= 0 && typeof a['content'] === 'string') {
      added.set(id, { content: a['content'], special: a['special'] === true });
      byId.set(id, a['content']);
    }
  }
  let maxId = -1;
  for (const id of byId.keys()) maxId = Math.max(maxId, id);
  const warnings: string[] = [];
  let n = vocabSize;
  if (maxId + 1 > vocabSize) {
    warnings.push(`the tokenizer has ${maxId + 1} tokens, more than vocab_size ${vocabSize}; ids from ${vocabSize} on are dropped`);
  }
  n = Math.max(1, n);
  const tokens: string[] = new Array<string>(n);
  const types = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const t = byId.get(i);
    const a = added.get(i);
    if (t === undefined) {
      tokens[i] = `[PAD${i}]`;
      types[i] = TOKEN_TYPE.UNUSED;
    } else {
      tokens[i] = t;
      types[i] = a === undefined ? TOKEN_TYPE.NORMAL : a.special ? TOKEN_TYPE.CONTROL : TOKEN_TYPE.USER_DEFINED;
    }
  }
  const rawMerges = model['merges'] ?? [];
  const merges = Array.isArray(rawMerges) ? rawMerges.map((m) => (typeof m === 'string' ? m : Array.isArray(m) && m.length === 2 && m.every((x) => typeof x === 'string') ? m.join(' ') : null)) : null;
  if (merges === null || merges.includes(null)) throw new InputError('gguf-tokenizer-json', '"model.merges" must be a list of merges ("a b" strings or ["a", "b"] pairs)', { file });
  const pre = preTokenizerName(tj['pre_tokenizer']);
  if (!pre.recognised) warnings.push('the pre-tokenizer is not one llama.cpp names; wrote tokenizer.ggml.pre = "default" (text may split differently from transformers)');

  const kvs: GgufKv[] = [
    { key: 'tokenizer.ggml.model', type: 'string', value: 'gpt2' },
    { key: 'tokenizer.ggml.pre', type: 'string', value: pre.name },
    { key: 'tokenizer.ggml.tokens', type: 'string[]', value: tokens },
    { key: 'tokenizer.ggml.token_type', type: 'i32[]', value: types },
    { key: 'tokenizer.ggml.merges', type: 'string[]', value: merges as string[] },
  ];
  return { ...specialTokens(dir, kvs, byId, n, tc, tj, mc), warnings };
}

/** llama.cpp's "llama" (SentencePiece) vocabulary: pieces, scores and types from tokenizer.model, no merges. */
function sentencePieceMetadata(dir: string, file: string, vocabSize: number): TokenizerMetadata {
  const tc = optionalJson(path.join(dir, 'tokenizer_config.json'));
  const mc = optionalJson(path.join(dir, 'config.json'));
  const model = readSentencePieceModel(file);
  const v = sentencePieceVocab(model, vocabSize, tc);
  const warnings = model.pieces.length > vocabSize ? [`tokenizer.model has ${model.pieces.length} pieces, more than vocab_size ${vocabSize}; ids from ${vocabSize} on are dropped`] : [];
  const kvs: GgufKv[] = [
    { key: 'tokenizer.ggml.model', type: 'string', value: 'llama' },
    { key: 'tokenizer.ggml.pre', type: 'string', value: 'default' },
    { key: 'tokenizer.ggml.tokens', type: 'string[]', value: v.tokens },
    { key: 'tokenizer.ggml.scores', type: 'f32[]', value: v.scores },
    { key: 'tokenizer.ggml.token_type', type: 'i32[]', value: v.types },
    { key: 'tokenizer.ggml.add_space_prefix', type: 'bool', value: v.addSpacePrefix },
  ];
  const byId = new Map(v.tokens.map((t, i) => [i, t] as [number, string]));
  const tjFile = path.join(dir, 'tokenizer.json');
  return { ...specialTokens(dir, kvs, byId, v.tokens.length, tc, fs.existsSync(tjFile) ? readJson(tjFile) : {}, mc), warnings };
}

function optionalJson(file: string): Json {
  return fs.existsSync(file) ? readJson(file) : {};
}

/** Special token ids (tokenizer_config.json's tokens, else config.json's ids), add_bos/add_eos and the chat template. */
function specialTokens(dir: string, kvs: GgufKv[], byId: ReadonlyMap<number, string>, n: number, tc: Json, tj: Json, mc: Json): Omit<TokenizerMetadata, 'warnings'> {
  const idOf = (key: string): { token: string | null; id: number | null } => {
    const token = tokenContent(tc[key]);
    if (token !== null) {
      for (const [id, t] of byId) if (t === token && id < n) return { token, id };
      return { token, id: null };
    }
    const v = mc[`${key}_id`];
    const id = typeof v === 'number' ? v : Array.isArray(v) && typeof v[0] === 'number' ? v[0] : null;
    return { token: id !== null ? byId.get(id) ?? null : null, id };
  };
  const bos = idOf('bos_token');
  const eos = idOf('eos_token');
  const pad = idOf('pad_token');
  const unk = idOf('unk_token');
  if (bos.id !== null) kvs.push({ key: 'tokenizer.ggml.bos_token_id', type: 'u32', value: bos.id });
  if (eos.id !== null) kvs.push({ key: 'tokenizer.ggml.eos_token_id', type: 'u32', value: eos.id });
  if (unk.id !== null) kvs.push({ key: 'tokenizer.ggml.unknown_token_id', type: 'u32', value: unk.id });
  if (pad.id !== null) kvs.push({ key: 'tokenizer.ggml.padding_token_id', type: 'u32', value: pad.id });
  kvs.push({ key: 'tokenizer.ggml.add_bos_token', type: 'bool', value: addBos(tc, tj, bos.token) });
  if (typeof tc['add_eos_token'] === 'boolean') kvs.push({ key: 'tokenizer.ggml.add_eos_token', type: 'bool', value: tc['add_eos_token'] });
  const template = findChatTemplate(dir, tc);
  if (template !== null) kvs.push({ key: 'tokenizer.chat_template', type: 'string', value: template.template });
  return { kvs, bosToken: bos.token, eosToken: eos.token, chatTemplate: template?.template ?? null };
}

/** add_bos_token from tokenizer_config.json, else whether the post-processor puts the BOS token first. */
function addBos(tc: Json, tj: Json, bos: string | null): boolean {
  if (typeof tc['add_bos_token'] === 'boolean') return tc['add_bos_token'];
  const post = tj['post_processor'] as Json | null | undefined;
  const single = post?.['type'] === 'TemplateProcessing' && Array.isArray(post['single']) ? (post['single'] as Json[]) : [];
  const first = single[0]?.['SpecialToken'] as Json | undefined;
  return bos !== null && first?.['id'] === bos;
}

/** Tokens llama.cpp's vocabulary loader looks up (token_to_id.at) when general.name contains "phi-3" or "phi3". */
const PHI3_NAME_TOKENS = ['</s>', '<unk>', '<s>', '<|endoftext|>'];

/**
 * general.name as llama.cpp can load it. Its vocabulary loader keys Phi-3's special-token whitespace rules on the
 * name ("phi-3" / "phi3", any case) and aborts (`_Map_base::at`) when one of those rules' tokens is missing, as in a
 * byte-level BPE vocabulary; such a name is written with "phi 3" instead, and a warning says so.
 */
export function llamaCppModelName(name: string, tokens: readonly string[]): { name: string; warning: string | null } {
  if (!/phi-?3/i.test(name)) return { name, warning: null };
  const have = new Set(tokens);
  const missing = PHI3_NAME_TOKENS.filter((t) => !have.has(t));
  if (missing.length === 0) return { name, warning: null };
  const safe = name.replace(/phi-?3/gi, (m) => `${m.slice(0, 3)} 3`);
  return { name: safe, warning: `general.name "${name}" became "${safe}": llama.cpp applies Phi-3 tokenizer rules to names containing "phi3"/"phi-3" and fails to load a vocabulary without ${missing.join(', ')}` };
}
