// Dataset formats (CONTRACTS.md §1: text, alpaca, messages, prompt_completion, tokenized), auto detection by
// keys, and tokenization into HF-style (input_ids, labels) pairs with the prompt masked to -100.
//
// EOS: like TRL's SFTTrainer, `text`, `alpaca` and `prompt_completion` examples get the tokenizer's EOS
// appended (and trained on), so the adapter learns to stop; `messages` rely on the chat template's own
// end-of-turn tokens; `tokenized` examples are used exactly as given.
import { InputError } from '../../errors';
import type { JsonlRecord } from './jsonl';
import { chatLabels } from './chatLabels';

export type DataFormat = 'text' | 'alpaca' | 'messages' | 'prompt_completion' | 'tokenized';

/**
 * The keys of each format, the one table the trainer and the data-set lint read. Listed in detection order:
 * an example is of the first format whose required keys it has (so {"input_ids", "text"} is `tokenized`).
 */
export const DATA_FORMAT_KEYS: Readonly<Record<DataFormat, { readonly required: readonly string[]; readonly optional: readonly string[] }>> = {
  tokenized: { required: ['input_ids'], optional: ['labels'] },
  messages: { required: ['messages'], optional: [] },
  alpaca: { required: ['instruction', 'output'], optional: ['input'] },
  prompt_completion: { required: ['prompt', 'completion'], optional: [] },
  text: { required: ['text'], optional: [] },
};

/** Is `s` one of the formats? */
export function isDataFormat(s: string): s is DataFormat {
  return Object.hasOwn(DATA_FORMAT_KEYS, s);
}

/** The required keys of `format` that the example lacks. */
export function missingKeys(format: DataFormat, value: Record<string, unknown>): string[] {
  return DATA_FORMAT_KEYS[format].required.filter((k) => !(k in value));
}

/** "text", "instruction"+"output", ...: the formats' required keys, for messages. */
export function formatKeysText(): string {
  return Object.values(DATA_FORMAT_KEYS).map((f) => f.required.map((k) => `"${k}"`).join('+')).join(', ');
}

export interface ChatMessage {
  role: string;
  content: string;
}

/** What the data pipeline needs from a tokenizer (core/hf/tokenizer.ts provides it). */
export interface DataTokenizer {
  encode(text: string, addSpecialTokens: boolean): number[];
  /** Renders a conversation with the model's chat template. */
  applyChatTemplate(messages: ChatMessage[], addGenerationPrompt: boolean): string;
  readonly eosTokenId: number | null;
  readonly padTokenId: number | null;
  /** For the dataset inspector (optional: the trainer does not need them). Text of token ids, specials kept. */
  decode?(ids: readonly number[]): string;
  /** The vocabulary entry of one id (e.g. "Ġthe"). */
  idToToken?(id: number): string | undefined;
  /** Ids of the special added tokens (BOS, EOS, chat-template markers). */
  readonly specialTokenIds?: readonly number[];
}

export interface TokenizedExample {
  /** Line of the JSONL file it came from. */
  line: number;
  inputIds: number[];
  /** Same length as inputIds; -100 = no loss at this position. */
  labels: number[];
}

export const IGNORE_INDEX = -100;

/** Stanford Alpaca's prompt templates (tatsu-lab/stanford_alpaca train.py). */
export function alpacaPrompt(instruction: string, input: string): string {
  if (input !== '') {
    return (
      'Below is an instruction that describes a task, paired with an input that provides further context. ' +
      'Write a response that appropriately completes the request.\n\n' +
      `### Instruction:\n${instruction}\n\n### Input:\n${input}\n\n### Response:\n`
    );
  }
  return (
    'Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n' +
    `### Instruction:\n${instruction}\n\n### Response:\n`
  );
}

/** The format one record looks like, from its keys; null when none fits. */
export function formatOfKeys(value: Record<string, unknown>): DataFormat | null {
  for (const f of Object.keys(DATA_FORMAT_KEYS) as DataFormat[]) if (missingKeys(f, value).length === 0) return f;
  return null;
}

/** Auto detection: every line must look like the same format; mixed formats are an InputError. */
export function detectFormat(records: readonly JsonlRecord[], file: string): DataFormat {
  let first: { format: DataFormat; line: number } | null = null;
  for (const r of records) {
    const f = formatOfKeys(r.value);
    if (f === null) {
      throw new InputError('data-format', `cannot tell the data format from the keys ${JSON.stringify(Object.keys(r.value))}`, {
        file,
        line: r.line,
        hint: `Each line needs the keys of one format: ${formatKeysText()}`,
      });
    }
    if (first === null) first = { format: f, line: r.line };
    else if (f !== first.format) {
      throw new InputError('data-mixed', `mixed data formats: this line is "${f}" but line ${first.line} is "${first.format}"`, {
        file,
        line: r.line,
        hint: 'Use one format per file (or set dataset.format explicitly)',
      });
    }
  }
  if (first === null) throw new InputError('data-empty', 'the data set is empty', { file });
  return first.format;
}

function str(r: JsonlRecord, key: string, file: string, optional = false): string {
  const v = r.value[key];
  if (v === undefined || v === null) {
    if (optional) return '';
    throw new InputError('data-field', `missing "${key}"`, { file, line: r.line });
  }
  if (typeof v !== 'string') {
    throw new InputError('data-field', `"${key}" must be a string`, { file, line: r.line, actual: typeof v });
  }
  return v;
}

function intArray(r: JsonlRecord, key: string, file: string, allowIgnore: boolean): number[] {
  const v = r.value[key];
  if (!Array.isArray(v)) throw new InputError('data-field', `"${key}" must be an array of token ids`, { file, line: r.line });
  return v.map((x: unknown, i) => {
    if (typeof x !== 'number' || !Number.isInteger(x) || (x < 0 && !(allowIgnore && x === IGNORE_INDEX))) {
      throw new InputError('data-field', `"${key}"[${i}] is not a token id`, { file, line: r.line, actual: JSON.stringify(x) });
    }
    return x;
  });
}

function messagesOf(r: JsonlRecord, file: string): ChatMessage[] {
  const v = r.value['messages'];
  if (!Array.isArray(v) || v.length === 0) {
    throw new InputError('data-field', '"messages" must be a non-empty array of {role, content}', { file, line: r.line });
  }
  return v.map((m: unknown, i) => {
    const o = m as { role?: unknown; content?: unknown } | null;
    if (typeof o !== 'object' || o === null || typeof o.role !== 'string' || typeof o.content !== 'string') {
      throw new InputError('data-field', `messages[${i}] must be {"role": string, "content": string}`, { file, line: r.line });
    }
    return { role: o.role, content: o.content };
  });
}

function withEos(ids: number[], tok: DataTokenizer): number[] {
  if (tok.eosTokenId !== null && ids[ids.length - 1] !== tok.eosTokenId) ids.push(tok.eosTokenId);
  return ids;
}

function promptAnswer(line: number, prompt: number[], answer: number[], trainOnPrompt: boolean): TokenizedExample {
  return {
    line,
    inputIds: [...prompt, ...answer],
    labels: [...(trainOnPrompt ? prompt : prompt.map(() => IGNORE_INDEX)), ...answer],
  };
}

/**
 * Tokenizes one record. Only assistant turns of `messages` are trained (unless trainOnPrompt): the boundaries
 * come from rendering the conversation prefix with add_generation_prompt and counting its tokens.
 */
export function tokenizeRecord(
  r: JsonlRecord,
  format: DataFormat,
  tok: DataTokenizer,
  trainOnPrompt: boolean,
  file: string,
): TokenizedExample {
  switch (format) {
    case 'text': {
      const ids = withEos(tok.encode(str(r, 'text', file), true), tok);
      return { line: r.line, inputIds: ids, labels: [...ids] };
    }
    case 'alpaca': {
      const prompt = tok.encode(alpacaPrompt(str(r, 'instruction', file), str(r, 'input', file, true)), true);
      const answer = withEos(tok.encode(str(r, 'output', file), false), tok);
      return promptAnswer(r.line, prompt, answer, trainOnPrompt);
    }
    case 'prompt_completion': {
      const prompt = tok.encode(str(r, 'prompt', file), true);
      const answer = withEos(tok.encode(str(r, 'completion', file), false), tok);
      return promptAnswer(r.line, prompt, answer, trainOnPrompt);
    }
    case 'messages': {
      const msgs = messagesOf(r, file);
      if (trainOnPrompt) {
        const ids = tok.encode(tok.applyChatTemplate(msgs, false), false);
        return { line: r.line, inputIds: ids, labels: [...ids] };
      }
      const { ids, labels } = chatLabels(msgs, tok);
      return { line: r.line, inputIds: ids, labels };
    }
    case 'tokenized': {
      const ids = intArray(r, 'input_ids', file, false);
      if (!('labels' in r.value) || r.value['labels'] === null) return { line: r.line, inputIds: ids, labels: [...ids] };
      const labels = intArray(r, 'labels', file, true);
      if (labels.length !== ids.length) {
        throw new InputError('data-field', '"labels" must have the same length as "input_ids"', {
          file,
          line: r.line,
          expected: String(ids.length),
          actual: String(labels.length),
        });
      }
      return { line: r.line, inputIds: ids, labels };
    }
  }
}

/** Checks that an explicitly chosen format fits every line (so the error names the first line that does not). */
export function checkFormat(records: readonly JsonlRecord[], format: DataFormat, file: string): void {
  for (const r of records) {
    const missing = missingKeys(format, r.value);
    if (missing.length > 0) {
      throw new InputError('data-format', `dataset.format is "${format}" but this line has no ${missing.map((k) => `"${k}"`).join(', ')}`, {
        file,
        line: r.line,
        hint: `Its keys are ${JSON.stringify(Object.keys(r.value))}`,
      });
    }
  }
}
