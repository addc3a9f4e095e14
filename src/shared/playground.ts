// The Playground's messages: the extension host ↔ generation worker protocol (dist/genWorker.js) and the host ↔
// Playground webview protocol, plus the saved comparison file. One definition for the worker, host and webview.

export interface ChatTurn {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** Sampling settings of one column (the shared settings, or a column's own). */
export interface PgSampling {
  temperature: number;
  topK: number;
  topP: number;
  repetitionPenalty: number;
  maxNewTokens: number;
  seed: number;
}

export const DEFAULT_SAMPLING: PgSampling = { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, maxNewTokens: 64, seed: 0 };

/** One column's request: its adapter (null: the base model), its settings, and a prompt or chat messages. */
export interface PgColumnRequest {
  adapter: string | null;
  sampling: PgSampling;
  prompt?: string;
  messages?: ChatTurn[];
}

/** A loaded adapter (or one that failed to load: `error`, a message for its column). */
export interface PgAdapterInfo {
  dir: string;
  sha256?: string;
  error?: string;
}

export interface PgColumnResult {
  tokenIds: number[];
  text: string;
  finishReason: string;
  promptTokens: number;
  ttftMs: number;
  tokensPerS: number;
}

/** Host → generation worker. `id` numbers a generation; `cancel` ends it before its next token. */
export type HostToGen =
  | { type: 'open'; model: string; adapters: string[]; device?: string; threads?: number; prepack?: boolean }
  | { type: 'generate'; id: number; columns: PgColumnRequest[] }
  | { type: 'cancel'; id: number };

/** Generation worker → host. Errors are messages (InputError text), never stack traces. */
export type GenToHost =
  | { type: 'opened'; model: string; adapters: PgAdapterInfo[]; maxLength: number; tokenizer: boolean; chatTemplate: boolean }
  | { type: 'openError'; message: string }
  | { type: 'token'; id: number; column: number; token: number; text: string }
  | { type: 'columnDone'; id: number; column: number; result: PgColumnResult }
  | { type: 'columnError'; id: number; column: number; message: string }
  | { type: 'done'; id: number };

export function isHostToGen(m: unknown): m is HostToGen {
  const t = (m as { type?: unknown } | null)?.type;
  return t === 'open' || t === 'generate' || t === 'cancel';
}

export function isGenToHost(m: unknown): m is GenToHost {
  const t = (m as { type?: unknown } | null)?.type;
  return t === 'opened' || t === 'openError' || t === 'token' || t === 'columnDone' || t === 'columnError' || t === 'done';
}

/** What the host tells the webview about the loaded model and columns. */
export interface PgSetup {
  model?: string;
  /** The columns' adapters (null: the base model), in column order. */
  columns: (string | null)[];
  adapters: PgAdapterInfo[];
  status: 'empty' | 'loading' | 'ready' | 'error';
  message?: string;
  chatTemplate?: boolean;
  /** Run folder where a comparison is saved (the first adapter's run), when known. */
  runDir?: string;
}

/** A saved comparison: `<run>/playground/comparison-*.json`. */
export interface PgComparison {
  kind: 'peft-studio.playground-comparison';
  version: 1;
  saved_at: string;
  model: string;
  mode: 'prompt' | 'chat';
  prompt?: string;
  messages?: ChatTurn[];
  same_seed: boolean;
  columns: {
    adapter: string | null; adapter_sha256?: string; sampling: PgSampling; output: string; token_ids: number[];
    /** The text of each token as streamed (for the divergence highlight when reopened). */
    pieces?: string[]; result?: PgColumnResult; error?: string; history?: ChatTurn[];
  }[];
}

export type HostToPlayground =
  | { type: 'setup'; setup: PgSetup }
  | { type: 'token'; id: number; column: number; token: number; text: string }
  | { type: 'columnDone'; id: number; column: number; result: PgColumnResult }
  | { type: 'columnError'; id: number; column: number; message: string }
  | { type: 'done'; id: number }
  | { type: 'comparison'; comparison: PgComparison; file: string }
  | { type: 'saved'; file: string };

export type PlaygroundToHost =
  | { type: 'ready'; setup?: { model?: string; columns: (string | null)[] } }
  | { type: 'chooseModel' }
  | { type: 'addColumn' }
  | { type: 'removeColumn'; column: number }
  | { type: 'generate'; id: number; columns: PgColumnRequest[] }
  | { type: 'cancel'; id: number }
  | { type: 'save'; comparison: PgComparison }
  | { type: 'openComparison' };

export function isPlaygroundToHost(m: unknown): m is PlaygroundToHost {
  const t = (m as { type?: unknown } | null)?.type;
  return t === 'ready' || t === 'chooseModel' || t === 'addColumn' || t === 'removeColumn' || t === 'generate' || t === 'cancel' || t === 'save' || t === 'openComparison';
}
