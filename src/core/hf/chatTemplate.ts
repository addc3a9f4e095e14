// Chat templates: finds a model's Jinja chat template (chat_template.jinja or tokenizer_config.json) and renders it
// with @huggingface/jinja the way transformers' apply_chat_template does (messages, special tokens, add_generation_prompt).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { Template } from '@huggingface/jinja';
import { InputError, errorMessage } from '../errors';
import { TemplateLimitError, withTemplateBudget } from './templateBudget';

/** One chat turn. `content` is usually a string; extra keys (name, tool_calls, ...) reach the template unchanged. */
export interface ChatMessage {
  role: string;
  content: string;
  [key: string]: unknown;
}

export interface ChatTemplateSource {
  template: string;
  /** The file it came from (chat_template.jinja or tokenizer_config.json). */
  file: string;
}

/**
 * The chat template of a model folder, as transformers resolves it: `chat_template.jinja` first, else the
 * `chat_template` field of tokenizer_config.json (a string, or a list of {name, template} where "default" is used).
 * Null when there is none.
 */
export function findChatTemplate(dir: string, tokenizerConfig: Record<string, unknown>): ChatTemplateSource | null {
  const jinjaFile = path.join(dir, 'chat_template.jinja');
  if (fs.existsSync(jinjaFile)) return { template: fs.readFileSync(jinjaFile, 'utf8'), file: jinjaFile };
  const configFile = path.join(dir, 'tokenizer_config.json');
  const t = tokenizerConfig['chat_template'];
  if (typeof t === 'string') return { template: t, file: configFile };
  if (Array.isArray(t)) {
    const named = t.filter((x): x is { name: string; template: string } =>
      typeof x === 'object' && x !== null && typeof (x as Record<string, unknown>)['name'] === 'string' && typeof (x as Record<string, unknown>)['template'] === 'string');
    const chosen = named.find((x) => x.name === 'default') ?? (named.length === 1 ? named[0] : undefined);
    if (chosen !== undefined) return { template: chosen.template, file: configFile };
    if (named.length > 0) {
      throw new InputError('tokenizer-chat-template-choice', `chat_template lists ${named.map((x) => `"${x.name}"`).join(', ')} but no "default"`, { file: configFile });
    }
  }
  return null;
}

const compiled = new Map<string, Template>();

function compile(source: ChatTemplateSource): Template {
  let t = compiled.get(source.template);
  if (t === undefined) {
    try {
      t = new Template(source.template);
    } catch (e) {
      throw new InputError('tokenizer-chat-template-syntax', `chat template does not parse: ${errorMessage(e)}`, { file: source.file });
    }
    compiled.set(source.template, t);
  }
  return t;
}

export interface RenderChatOptions {
  addGenerationPrompt?: boolean;
  /** bos_token, eos_token, pad_token, unk_token strings (as transformers passes its special_tokens_map). */
  specialTokens?: Record<string, string>;
  /** More template variables (tools, documents, date_string, enable_thinking, ...). */
  extra?: Record<string, unknown>;
}

function checkMessages(messages: unknown, file: string): asserts messages is ChatMessage[] {
  if (!Array.isArray(messages)) throw new InputError('tokenizer-chat-messages', 'messages must be a list of {role, content}', { file });
  messages.forEach((m, i) => {
    if (typeof m !== 'object' || m === null || typeof (m as Record<string, unknown>)['role'] !== 'string') {
      throw new InputError('tokenizer-chat-messages', `message ${i} must be an object with a string "role"`, { file });
    }
  });
}

/** Renders `messages` with the template; template errors (raise_exception included) become InputErrors naming the file. */
export function renderChatTemplate(source: ChatTemplateSource, messages: readonly ChatMessage[], opts: RenderChatOptions = {}): string {
  checkMessages(messages, source.file);
  const template = compile(source);
  try {
    return withTemplateBudget(() => template.render({
      ...(opts.specialTokens ?? {}),
      ...(opts.extra ?? {}),
      messages,
      add_generation_prompt: opts.addGenerationPrompt ?? false,
    }));
  } catch (e) {
    if (e instanceof TemplateLimitError) {
      throw new InputError('tokenizer-chat-template-limit', `chat template rendering was stopped: ${e.message}`, { file: source.file, hint: 'Fix the chat template' });
    }
    throw new InputError('tokenizer-chat-template-render', `chat template failed to render: ${errorMessage(e)}`, { file: source.file });
  }
}
