// The OpenAI wire format of the server: request bodies of /v1/completions and /v1/chat/completions checked and
// turned into GenerateRequests, and results turned into OpenAI's response and stream-chunk objects.
import { InputError } from '../errors';
import type { GenerateRequest, GenerateResult } from '../generate/types';
import type { ChatMessage } from '../hf/tokenizer';

export type Endpoint = 'completions' | 'chat';

export interface ParsedRequest {
  model: string | undefined;
  stream: boolean;
  includeUsage: boolean;
  returnTokenIds: boolean;
  /** The Generator request without its adapter (the server resolves `model` to one). */
  gen: GenerateRequest;
  /** OpenAI's stop strings (cut from the text, unlike the Generator, which keeps them). */
  stop: string[];
}

export interface Caps {
  maxTokens: number;
}

function bad(field: string, message: string, expected?: string): InputError {
  return new InputError('serve-request', `"${field}": ${message}`, expected !== undefined ? { expected } : {});
}

function num(body: Record<string, unknown>, field: string, lo: number, hi: number, integer = false): number | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v)) || v < lo || v > hi) {
    throw bad(field, `must be ${integer ? 'an integer' : 'a number'} in [${lo}, ${hi}]`, undefined);
  }
  return v;
}

function messagesOf(v: unknown): ChatMessage[] {
  if (!Array.isArray(v) || v.length === 0) throw bad('messages', 'must be a non-empty list of {"role", "content"}');
  return v.map((m, i) => {
    if (typeof m !== 'object' || m === null) throw bad(`messages[${i}]`, 'must be an object');
    const { role, content } = m as Record<string, unknown>;
    let text: string | undefined;
    if (typeof content === 'string') text = content;
    else if (Array.isArray(content) && content.every((p) => typeof p === 'object' && p !== null && (p as Record<string, unknown>)['type'] === 'text' && typeof (p as Record<string, unknown>)['text'] === 'string')) {
      text = content.map((p) => (p as { text: string }).text).join('');
    }
    if (typeof role !== 'string' || text === undefined) throw bad(`messages[${i}]`, 'needs a string "role" and a text "content"');
    return { role, content: text };
  });
}

/** Checks a request body and turns it into a Generator request (the sampling values in the Generator's ranges). */
export function parseBody(body: unknown, endpoint: Endpoint, caps: Caps): ParsedRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new InputError('serve-request', 'the body must be a JSON object');
  const b = body as Record<string, unknown>;
  if (b['model'] !== undefined && typeof b['model'] !== 'string') throw bad('model', 'must be a string');
  if (b['n'] !== undefined && b['n'] !== 1) throw bad('n', 'only n = 1 is supported');
  const gen: GenerateRequest = {};
  if (endpoint === 'chat') gen.messages = messagesOf(b['messages']);
  else {
    let p = b['prompt'];
    if (Array.isArray(p) && p.length === 1 && (typeof p[0] === 'string' || Array.isArray(p[0]))) p = p[0];
    if (typeof p === 'string') gen.prompt = p;
    else if (Array.isArray(p) && p.length > 0 && p.every((x) => Number.isInteger(x))) gen.inputIds = p as number[];
    else throw bad('prompt', 'must be a string or a list of token ids (one prompt per request)');
  }
  const maxTokens = num(b, endpoint === 'chat' && b['max_completion_tokens'] !== undefined ? 'max_completion_tokens' : 'max_tokens', 0, caps.maxTokens, true);
  gen.maxNewTokens = maxTokens ?? Math.min(256, caps.maxTokens);
  const t = num(b, 'temperature', 0, 2);
  const tp = num(b, 'top_p', 0, 1);
  const tk = num(b, 'top_k', -1, 1e6, true);
  const rp = num(b, 'repetition_penalty', 0.01, 10);
  const seed = num(b, 'seed', -(2 ** 53), 2 ** 53, true);
  if (t !== undefined) gen.temperature = t;
  if (tp !== undefined) {
    if (tp === 0) throw bad('top_p', 'must be > 0');
    gen.topP = tp;
  }
  if (tk !== undefined) gen.topK = tk < 0 ? 0 : tk;
  if (rp !== undefined) gen.repetitionPenalty = rp;
  if (seed !== undefined) gen.seed = Math.abs(seed) % 2 ** 32;
  if (b['ignore_eos'] !== undefined) {
    if (typeof b['ignore_eos'] !== 'boolean') throw bad('ignore_eos', 'must be true or false');
    gen.ignoreEos = b['ignore_eos'];
  }
  const s = b['stop'];
  const stop = s === undefined || s === null ? [] : typeof s === 'string' ? [s] : s;
  if (!Array.isArray(stop) || stop.length > 4 || stop.some((x) => typeof x !== 'string' || x === '')) throw bad('stop', 'must be a non-empty string or a list of up to 4 of them');
  if (stop.length > 0) gen.stop = stop as string[];
  if (b['stream'] !== undefined && typeof b['stream'] !== 'boolean') throw bad('stream', 'must be true or false');
  const so = b['stream_options'];
  return {
    model: b['model'] as string | undefined, stream: b['stream'] === true, gen, stop: stop as string[],
    includeUsage: typeof so === 'object' && so !== null && (so as Record<string, unknown>)['include_usage'] === true,
    returnTokenIds: b['return_token_ids'] === true,
  };
}

/**
 * The text as OpenAI returns it: cut before the first stop string. While streaming, `safe` holds back the tail that
 * could still be the start of a stop string.
 */
export class StopCutter {
  private text = '';
  private sent = 0;
  private readonly hold: number;

  constructor(private readonly stop: readonly string[]) {
    this.hold = Math.max(0, ...stop.map((x) => x.length - 1));
  }

  /** Adds a piece; returns the new text that is safe to send now. */
  push(piece: string): string {
    this.text += piece;
    const cut = this.cutIndex();
    const upto = cut >= 0 ? cut : Math.max(this.sent, this.text.length - this.hold);
    return this.take(upto);
  }

  /** At the end: whatever is left before the stop string (`whole`: the final text, held-back characters included). */
  finish(whole?: string): string {
    if (whole !== undefined && whole.startsWith(this.text)) this.text = whole;
    const cut = this.cutIndex();
    return this.take(cut >= 0 ? cut : this.text.length);
  }

  get full(): string {
    const cut = this.cutIndex();
    return cut >= 0 ? this.text.slice(0, cut) : this.text;
  }

  private cutIndex(): number {
    const found = this.stop.map((x) => this.text.indexOf(x)).filter((i) => i >= 0);
    return found.length > 0 ? Math.min(...found) : -1;
  }

  private take(upto: number): string {
    if (upto <= this.sent) return '';
    const out = this.text.slice(this.sent, upto);
    this.sent = upto;
    return out;
  }
}

export function finishReason(r: GenerateResult): 'stop' | 'length' {
  return r.finishReason === 'length' ? 'length' : 'stop';
}

export function usage(r: GenerateResult): Record<string, number> {
  return { prompt_tokens: r.promptTokens, completion_tokens: r.tokenIds.length, total_tokens: r.promptTokens + r.tokenIds.length };
}

/** The non-streamed response object. */
export function responseObject(endpoint: Endpoint, id: string, created: number, model: string, r: GenerateResult, text: string, tokenIds: boolean): Record<string, unknown> {
  const extra = tokenIds ? { token_ids: r.tokenIds } : {};
  const choice = endpoint === 'chat'
    ? { index: 0, message: { role: 'assistant', content: text }, logprobs: null, finish_reason: finishReason(r), ...extra }
    : { index: 0, text, logprobs: null, finish_reason: finishReason(r), ...extra };
  return { id, object: endpoint === 'chat' ? 'chat.completion' : 'text_completion', created, model, choices: [choice], usage: usage(r) };
}

/** One stream chunk: a text delta (finish null) or the last chunk (finish set, empty delta). */
export function chunkObject(endpoint: Endpoint, id: string, created: number, model: string, delta: { text?: string; role?: boolean; tokenIds?: number[] }, finish: string | null): Record<string, unknown> {
  const ids = delta.tokenIds !== undefined ? { token_ids: delta.tokenIds } : {};
  const choice = endpoint === 'chat'
    ? { index: 0, delta: { ...(delta.role === true ? { role: 'assistant' } : {}), ...(delta.text !== undefined ? { content: delta.text } : {}) }, logprobs: null, finish_reason: finish, ...ids }
    : { index: 0, text: delta.text ?? '', logprobs: null, finish_reason: finish, ...ids };
  return { id, object: endpoint === 'chat' ? 'chat.completion.chunk' : 'text_completion', created, model, choices: [choice] };
}
