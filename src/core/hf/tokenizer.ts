// Loads a Hugging Face tokenizer folder (tokenizer.json + tokenizer_config.json) with @huggingface/tokenizers,
// resolves the special-token ids, and applies the model's chat template; errors name the file at fault.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { InputError, errorMessage } from '../errors';
import { checkTokenizerJson } from './tokenizerCheck';
import { findChatTemplate, renderChatTemplate, type ChatMessage, type ChatTemplateSource } from './chatTemplate';
import { parseJsonText } from '../util/safeJson';

export type { ChatMessage } from './chatTemplate';
import type { DataTokenizer } from '../train/data/formats';

export interface HfTokenizer {
  dir: string;
  /** len(tokenizer) in transformers: the base vocabulary plus added tokens (highest id + 1). */
  vocabSize: number;
  bosToken: string | null;
  eosToken: string | null;
  padToken: string | null;
  bosTokenId: number | null;
  eosTokenId: number | null;
  padTokenId: number | null;
  /** Ids of all special added tokens (bos, eos, <|im_start|>, ...). */
  specialTokenIds: number[];
  /** The raw chat template, or null when the model has none. */
  chatTemplate: string | null;
  /** The file the chat template came from (tokenizer_config.json or chat_template.jinja), or null. */
  chatTemplateFile: string | null;
  /** Token ids of `text`; addSpecialTokens (default true, as HF) runs the post-processor (e.g. a leading BOS). */
  encode(text: string, opts?: { addSpecialTokens?: boolean }): number[];
  /** Text of `ids` ('' for none); special tokens are kept unless skipSpecialTokens. */
  decode(ids: readonly number[], opts?: { skipSpecialTokens?: boolean }): string;
  tokenToId(token: string): number | undefined;
  idToToken(id: number): string | undefined;
  /** The chat rendered as text (tokenize it with encode(text, {addSpecialTokens: false}), as transformers does). */
  applyChatTemplate(messages: readonly ChatMessage[], opts?: { addGenerationPrompt?: boolean; extra?: Record<string, unknown> }): string;
}

function readJsonObject(file: string, what: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError('tokenizer-read', `cannot read ${what} (${(e as NodeJS.ErrnoException).code ?? 'error'})`, { file });
  }
  const value = parseJsonText(text, file, what, 0, 'tokenizer-json');
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InputError('tokenizer-json', `${what} must be a JSON object`, { file });
  return value as Record<string, unknown>;
}

/** A special token as tokenizer_config.json spells it: a string, an AddedToken dict {content, ...}, or null. */
function tokenString(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null && typeof (v as Record<string, unknown>)['content'] === 'string') return (v as Record<string, string>)['content']!;
  return null;
}

function idFromConfig(config: Record<string, unknown>, key: string): number | null {
  const v = config[key];
  if (typeof v === 'number') return v;
  if (Array.isArray(v) && typeof v[0] === 'number') return v[0];
  return null;
}

/** Loads the tokenizer of a model folder. */
export async function loadTokenizer(dir: string): Promise<HfTokenizer> {
  const abs = path.resolve(dir);
  const tokenizerFile = path.join(abs, 'tokenizer.json');
  if (!fs.existsSync(tokenizerFile)) {
    const present = fs.existsSync(abs) ? fs.readdirSync(abs) : [];
    const hint = present.includes('tokenizer.model') || present.includes('vocab.json')
      ? 'Only a slow tokenizer (tokenizer.model / vocab.json + merges.txt) is present: save the fast tokenizer with AutoTokenizer.from_pretrained(...).save_pretrained(dir)'
      : 'The model folder needs the tokenizer.json written by save_pretrained()';
    throw new InputError('tokenizer-missing', 'no tokenizer.json in the model folder', { file: abs, hint });
  }
  const tokenizerJson = readJsonObject(tokenizerFile, 'tokenizer.json');
  checkTokenizerJson(tokenizerJson, tokenizerFile);
  const configFile = path.join(abs, 'tokenizer_config.json');
  const tokenizerConfig = fs.existsSync(configFile) ? readJsonObject(configFile, 'tokenizer_config.json') : {};
  const modelConfigFile = path.join(abs, 'config.json');
  const modelConfig = fs.existsSync(modelConfigFile) ? readJsonObject(modelConfigFile, 'config.json') : {};

  let tok: Tokenizer;
  try {
    tok = new Tokenizer(tokenizerJson, tokenizerConfig);
  } catch (e) {
    throw new InputError('tokenizer-load', `cannot build the tokenizer: ${errorMessage(e)}`, { file: tokenizerFile });
  }

  const vocab = tok.get_vocab(true);
  let maxId = -1;
  for (const id of vocab.values()) if (id > maxId) maxId = id;
  const special = (key: string): { token: string | null; id: number | null } => {
    const token = tokenString(tokenizerConfig[key]);
    if (token !== null) {
      const id = tok.token_to_id(token);
      if (id === undefined) throw new InputError('tokenizer-special-token', `${key} "${token}" is not in the vocabulary`, { file: configFile });
      return { token, id };
    }
    // Explicitly null in tokenizer_config.json (Qwen2's bos_token) means none; absent means fall back to config.json.
    if (key in tokenizerConfig) return { token: null, id: null };
    const id = idFromConfig(modelConfig, `${key}_id`);
    return { token: id !== null ? (tok.id_to_token(id) ?? null) : null, id };
  };
  const bos = special('bos_token');
  const eos = special('eos_token');
  const pad = special('pad_token');
  const specialTokenIds = [...tok.get_added_tokens_decoder()].filter(([, t]) => t.special).map(([id]) => id).sort((a, b) => a - b);

  const templateSource: ChatTemplateSource | null = findChatTemplate(abs, tokenizerConfig);
  const specialTokens: Record<string, string> = {};
  for (const key of ['bos_token', 'eos_token', 'pad_token', 'unk_token']) {
    const s = tokenString(tokenizerConfig[key]);
    if (s !== null) specialTokens[key] = s;
  }
  const cleanUp = tokenizerConfig['clean_up_tokenization_spaces'] === true;

  return {
    dir: abs,
    vocabSize: maxId + 1,
    bosToken: bos.token,
    eosToken: eos.token,
    padToken: pad.token,
    bosTokenId: bos.id,
    eosTokenId: eos.id,
    padTokenId: pad.id,
    specialTokenIds,
    chatTemplate: templateSource?.template ?? null,
    chatTemplateFile: templateSource?.file ?? null,
    encode: (text, opts = {}) => tok.encode(text, { add_special_tokens: opts.addSpecialTokens ?? true }).ids,
    decode: (ids, opts = {}) => (ids.length === 0 ? '' : tok.decode([...ids], { skip_special_tokens: opts.skipSpecialTokens ?? false, clean_up_tokenization_spaces: cleanUp })),
    tokenToId: (token) => tok.token_to_id(token),
    idToToken: (id) => tok.id_to_token(id),
    applyChatTemplate: (messages, opts = {}) => {
      if (templateSource === null) {
        throw new InputError('tokenizer-no-chat-template', 'the tokenizer has no chat template, so "messages" data cannot be rendered', {
          file: configFile, hint: 'Add "chat_template" to tokenizer_config.json (or a chat_template.jinja file), or use the text, alpaca or prompt_completion format',
        });
      }
      return renderChatTemplate(templateSource, messages, {
        specialTokens,
        ...(opts.addGenerationPrompt !== undefined ? { addGenerationPrompt: opts.addGenerationPrompt } : {}),
        ...(opts.extra !== undefined ? { extra: opts.extra } : {}),
      });
    },
  };
}

/** The data pipeline's view of an HF tokenizer (train/data/formats.ts's DataTokenizer). */
export function dataTokenizer(t: HfTokenizer): DataTokenizer {
  return {
    encode: (text, addSpecialTokens) => t.encode(text, { addSpecialTokens }),
    applyChatTemplate: (messages, addGenerationPrompt) => t.applyChatTemplate(messages.map((m) => ({ role: m.role, content: m.content })), { addGenerationPrompt }),
    eosTokenId: t.eosTokenId,
    padTokenId: t.padTokenId,
    decode: (ids) => t.decode(ids),
    idToToken: (id) => t.idToToken(id),
    specialTokenIds: t.specialTokenIds,
  };
}
