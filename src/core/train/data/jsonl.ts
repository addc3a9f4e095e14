// Reading JSONL data sets: one JSON object per non-empty line, each remembered with its 1-based line number
// so that every later error (format, masking, empty labels) can point at the line that caused it.
import { readFileSync } from 'node:fs';
import { InputError, errorMessage } from '../../errors';
import { assertJsonDepth, jsonErrorMessage } from '../../util/safeJson';

export interface JsonlRecord {
  /** 1-based line number in the file. */
  line: number;
  value: Record<string, unknown>;
}

/** Longest JSONL line accepted (characters): far above any max_length, small enough to tokenize without gigabytes. */
export const MAX_JSONL_LINE = 4_000_000;

/** Parses JSONL text; blank lines are skipped, a malformed or non-object line is an InputError naming file and line. */
export function parseJsonl(text: string, file: string): JsonlRecord[] {
  const out: JsonlRecord[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.replace(/\r$/, '');
    if (raw.trim() === '') continue;
    if (raw.length > MAX_JSONL_LINE) {
      throw new InputError('data-line-too-long', `the line is ${(raw.length / 1e6).toFixed(1)} M characters long, more than the ${MAX_JSONL_LINE / 1e6} M accepted`, {
        file, line: i + 1, hint: 'Split the example into several lines (one example per line)',
      });
    }
    assertJsonDepth(raw, file, 'the line', i);
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (e) {
      throw new InputError('data-json', `malformed JSON: ${jsonErrorMessage(e, raw)}`, {
        file,
        line: i + 1,
        hint: 'Each line of a JSONL file must be one complete JSON object',
      });
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new InputError('data-json', 'each line must be a JSON object', {
        file,
        line: i + 1,
        actual: Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'null' : typeof value,
      });
    }
    out.push({ line: i + 1, value: value as Record<string, unknown> });
  }
  return out;
}

export function readJsonl(file: string): JsonlRecord[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError('data-missing', `cannot read the data set: ${errorMessage(e)}`, { file });
  }
  const records = parseJsonl(text, file);
  if (records.length === 0) {
    throw new InputError('data-empty', 'the data set is empty (no JSON lines)', { file });
  }
  return records;
}
