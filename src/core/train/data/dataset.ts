// Loading a training or evaluation data set end to end: JSONL → format (given or detected) → tokens with
// masked prompts → truncated or packed sequences, with the counts the trainer reports.
import { InputError } from '../../errors';
import { prepareSequences, countLabelTokens, type Sequence } from './collate';
import { checkFormat, detectFormat, tokenizeRecord, type DataFormat, type DataTokenizer, type TokenizedExample } from './formats';
import { readJsonl, type JsonlRecord } from './jsonl';

export interface DatasetOptions {
  file: string;
  format: 'auto' | DataFormat;
  maxLength: number;
  packing: boolean;
  trainOnPrompt: boolean;
  tokenizer: DataTokenizer;
  /** When known, token ids of `tokenized` data must be below it. */
  vocabSize?: number;
}

export interface LoadedDataset {
  file: string;
  format: DataFormat;
  /** JSONL examples read. */
  examples: number;
  sequences: Sequence[];
  /** Examples cut to max_length. */
  truncated: number;
  /** Lines of examples dropped because no label token was left. */
  dropped: number[];
  /** Label tokens (loss positions) over all sequences. */
  labelTokens: number;
}

/**
 * A data set as the trainer builds it, before the label checks that make an unusable set an error: the tokenized
 * examples (file order, before truncation) beside the sequences made from them. The dataset inspector reads this.
 */
export interface PreparedDataset extends LoadedDataset {
  tokenized: TokenizedExample[];
  /** Lines of examples with no label token as written (the trainer refuses these). */
  unlabeled: number[];
}

/** Tokenizes, truncates or packs every record, as the trainer does, without refusing unlabeled examples. */
export function prepareDataset(records: readonly JsonlRecord[], opts: DatasetOptions): PreparedDataset {
  const file = opts.file;
  if (records.length === 0) throw new InputError('data-empty', 'the data set is empty (no JSON lines)', { file });
  const format = opts.format === 'auto' ? detectFormat(records, file) : opts.format;
  if (opts.format !== 'auto') checkFormat(records, format, file);
  const examples = records.map((r) => tokenizeRecord(r, format, opts.tokenizer, opts.trainOnPrompt, file));
  if (opts.vocabSize !== undefined) {
    for (const e of examples) {
      const bad = e.inputIds.find((id) => id >= opts.vocabSize!);
      if (bad !== undefined) {
        throw new InputError('data-token', `token id ${bad} is outside the model's vocabulary`, {
          file,
          line: e.line,
          expected: `< ${opts.vocabSize}`,
          actual: String(bad),
        });
      }
    }
  }
  const prepared = prepareSequences(examples, opts.maxLength, opts.packing);
  return {
    file,
    format,
    examples: examples.length,
    sequences: prepared.sequences,
    truncated: prepared.truncated,
    dropped: prepared.dropped,
    labelTokens: prepared.sequences.reduce((s, q) => s + countLabelTokens(q.labels), 0),
    tokenized: examples,
    unlabeled: prepared.unlabeled,
  };
}

export function buildDataset(records: readonly JsonlRecord[], opts: DatasetOptions): LoadedDataset {
  const file = opts.file;
  const { tokenized, unlabeled, ...prepared } = prepareDataset(records, opts);
  if (unlabeled.length > 0) {
    const n = unlabeled.length;
    const more = n > 1 ? ` (and ${n - 1} more: lines ${unlabeled.slice(1, 6).join(', ')}${n > 6 ? ', ...' : ''})` : '';
    throw new InputError('data-no-labels', `this example has no label token to learn from${more}`, {
      file,
      line: unlabeled[0]!,
      hint: 'Give it an answer (or labels that are not all -100; the first token is never predicted), set dataset.train_on_prompt: true, or remove it',
    });
  }
  if (prepared.sequences.length === 0) {
    throw new InputError('data-no-labels', `none of the ${tokenized.length} examples has a token to learn from after masking and truncation`, {
      file,
      line: prepared.dropped[0]!,
      hint: 'Raise dataset.max_length, set dataset.train_on_prompt: true, or check that examples have an answer',
    });
  }
  return prepared;
}

export function loadDataset(opts: DatasetOptions): LoadedDataset {
  return buildDataset(readJsonl(opts.file), opts);
}

/** Human-readable notes about a loaded data set (truncation, drops), for `log` events. */
export function datasetNotes(d: LoadedDataset, maxLength: number, role: 'train' | 'eval'): { level: 'info' | 'warning'; message: string }[] {
  const notes: { level: 'info' | 'warning'; message: string }[] = [
    {
      level: 'info',
      message: `${role} data: ${d.examples} examples (${d.format}) → ${d.sequences.length} sequences, ${d.labelTokens} label tokens`,
    },
  ];
  if (d.truncated > 0) {
    notes.push({ level: 'warning', message: `${role} data: ${d.truncated} of ${d.examples} examples were longer than max_length ${maxLength} and were truncated` });
  }
  if (d.dropped.length > 0) {
    const lines = d.dropped.slice(0, 5).join(', ') + (d.dropped.length > 5 ? ', ...' : '');
    notes.push({
      level: 'warning',
      message: `${role} data: ${d.dropped.length} examples had no label token left (answer masked or truncated away) and were skipped (lines ${lines} of ${d.file})`,
    });
  }
  return notes;
}
