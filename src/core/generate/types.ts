// The Generator's request, event and result types: what the CLI, the Playground and an OpenAI-style server
// give and get (field meanings as docs/CONTRACTS.md's `generate` records).
import type { ChatMessage } from '../hf/tokenizer';
import type { SamplingOptions } from './sampling';

/** What to generate from: exactly one of inputIds, prompt (tokenized as is) or messages (the chat template). */
export interface GenerateRequest extends SamplingOptions {
  inputIds?: readonly number[];
  prompt?: string;
  messages?: readonly ChatMessage[];
  /** An id from addAdapter / adapterIds, or null/undefined for the base model. */
  adapter?: string | null;
  maxNewTokens?: number;
  /** Seed of the sampling Rng (default 0): the same seed and settings give the same tokens. */
  seed?: number;
  /** Generation stops once the new text contains one of these (it is kept in the text, as transformers). */
  stop?: readonly string[];
  /** Extra ids that end generation, besides generation_config.json's eos_token_id. */
  eosTokenIds?: readonly number[];
  /** Generate max_new_tokens even past an EOS token (benchmarks, parity tests). */
  ignoreEos?: boolean;
  /** Ends this row only (a batch's other rows go on), as the controls' signal ends them all. */
  signal?: AbortSignal;
}

export interface TokenEvent {
  event: 'token';
  id: number;
  /** The text this token completes ('' while a multi-byte character is still incomplete; absent without a tokenizer). */
  text?: string;
  /** log_softmax of the raw logits at this token (before penalty, temperature, top-k, top-p). */
  logprob: number;
  /** Row of the batch (generateBatch); 0 for generate. */
  row: number;
}

export type FinishReason = 'eos' | 'length' | 'stop' | 'abort';

export interface GenerateResult {
  /** New token ids only. */
  tokenIds: number[];
  logprobs: number[];
  /** Decoded new text (special tokens skipped); absent without a tokenizer. */
  text?: string;
  promptTokens: number;
  finishReason: FinishReason;
  /** Time from the call to the first new token. */
  ttftMs: number;
  /** Decode speed: (n − 1) tokens over the time from the first to the last token (n / total time when n < 2). */
  tokensPerS: number;
}

export interface GenerateControls {
  /** Aborting ends generation before the next token; the result holds what was generated (finishReason 'abort'). */
  signal?: AbortSignal;
  onToken?: (t: TokenEvent) => void;
}
