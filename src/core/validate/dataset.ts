// Lint of a JSONL data set: non-JSON lines, lines not fitting the declared/detected format, empty answers,
// examples longer than max_length (counted with the tokenizer when known), duplicates. Incremental: step() lints a slice.
import { formatKeysText, formatOfKeys, isDataFormat, missingKeys, type DataFormat } from '../train/data/formats';
import type { LintSeverities } from './lint/kinds';
import { DataSafetyLint } from './lint/safety';
import { problem } from './text';
import type { Problem, Range, TokenCounter } from './types';
import { errorMessage } from '../errors';

/** The data formats of CONTRACTS.md §1 (one definition, the trainer's). */
export type DatasetFormat = DataFormat;

export interface DatasetLintOptions {
  /** 'auto' or a DatasetFormat (as dataset.format in the recipe). */
  format?: string;
  maxLength?: number;
  trainOnPrompt?: boolean;
  tokenizer?: TokenCounter | null;
  /** At most this many diagnostics per code (the rest are summarised); default 100. */
  maxPerCode?: number;
  /** Severities of the data-safety lint (dataset.lint in the recipe); defaults when absent. */
  lint?: LintSeverities;
  /** The training set, when this file is the recipe's eval set (train/eval leakage). */
  reference?: { file: string; text: string } | null;
}

/** The format an example's keys suggest, or null: the trainer's rule, so the lint and `format: auto` agree. */
export const detectFormat: (o: Record<string, unknown>) => DatasetFormat | null = formatOfKeys;

export class DatasetLinter {
  private offset = 0;
  private line = 0;
  private format: DatasetFormat | null;
  private readonly safety: DataSafetyLint;
  /** Every line was read (the set-wide checks may still be running). */
  private textDone = false;
  private readonly counts = new Map<string, number>();
  private readonly out: Problem[] = [];
  private tooLong = 0;
  private tokensCut = 0;
  private examples = 0;
  private done = false;
  private readonly maxLength: number;
  private readonly maxPerCode: number;

  constructor(private readonly text: string, private readonly opts: DatasetLintOptions = {}) {
    const f = opts.format ?? 'auto';
    this.format = isDataFormat(f) ? f : null;
    this.maxLength = opts.maxLength ?? 512;
    this.maxPerCode = opts.maxPerCode ?? 100;
    this.safety = new DataSafetyLint({ ...(opts.lint !== undefined ? { severities: opts.lint } : {}), reference: opts.reference ?? null }, () => this.format);
  }

  get finished(): boolean {
    return this.done;
  }

  /** Lines linted so far. */
  get linesDone(): number {
    return this.line;
  }

  /** Lints until `lines` more lines are done or `ms` elapsed; returns true when the whole text is done. */
  step(budget: { lines?: number; ms?: number } = {}): boolean {
    const maxLines = budget.lines ?? Infinity;
    const deadline = budget.ms !== undefined ? performance.now() + budget.ms : Infinity;
    // Leakage: the training set is indexed first, within the same time budget.
    if (!this.safety.indexReference(deadline)) return false;
    let n = 0;
    while (!this.textDone && n < maxLines) {
      if ((n & 7) === 0 && n > 0 && performance.now() > deadline) break;
      const nl = this.text.indexOf('\n', this.offset);
      const end = nl < 0 ? this.text.length : nl;
      let raw = this.text.slice(this.offset, end);
      if (raw.endsWith('\r')) raw = raw.slice(0, -1);
      this.lintLine(raw, this.line);
      this.line++;
      n++;
      if (nl < 0) this.textDone = true;
      else this.offset = nl + 1;
    }
    // Set-wide checks after the last line, in the same time slices.
    if (this.textDone && !this.done) this.done = this.safety.finish(this.text, (p) => this.addProblem(p), deadline);
    return this.done;
  }

  /** Problems so far, with the summaries (too long, capped codes) when finished. */
  problems(): Problem[] {
    if (!this.done) return [...this.out];
    const extra: Problem[] = [];
    const top: Range = { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };
    if (this.tooLong > 0) {
      const how = this.opts.tokenizer ? 'tokens' : 'tokens (estimated at 4 characters a token; no tokenizer)';
      extra.push(problem(top, 'warning', 'too-long-summary', `${this.tooLong} of ${this.examples} examples are longer than max_length ${this.maxLength}: ${this.tokensCut} ${how} will be cut`, undefined, { examples: this.tooLong, tokensCut: this.tokensCut }));
    }
    for (const [code, c] of this.counts) {
      if (c > this.maxPerCode) extra.push(problem(top, 'info', code + '-more', `${c - this.maxPerCode} more "${code}" problems not shown (${c} in all)`));
    }
    if (this.examples === 0) extra.push(problem(top, 'error', 'empty-dataset', 'The data set has no examples (one JSON object a line)'));
    return [...this.out, ...extra];
  }

  private add(range: Range, severity: Problem['severity'], code: string, message: string, data?: Record<string, unknown>): void {
    this.addProblem(problem(range, severity, code, message, undefined, data));
  }

  private addProblem(p: Problem): void {
    const c = (this.counts.get(p.code) ?? 0) + 1;
    this.counts.set(p.code, c);
    if (c <= this.maxPerCode) this.out.push(p);
  }

  private lintLine(raw: string, line: number): void {
    if (raw.trim() === '') return;
    const whole: Range = { start: { line, character: 0 }, end: { line, character: raw.length } };
    const keyAt = (key: string): Range => {
      const i = raw.indexOf(JSON.stringify(key));
      return i < 0 ? whole : { start: { line, character: i }, end: { line, character: i + key.length + 2 } };
    };
    let v: unknown;
    try {
      v = JSON.parse(raw);
    } catch (e) {
      this.add(whole, 'error', 'not-json', `Line ${line + 1} is not valid JSON: ${errorMessage(e)}`);
      return;
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      this.add(whole, 'error', 'not-object', `Line ${line + 1} must be a JSON object (one example), got ${Array.isArray(v) ? 'a list' : typeof v}`);
      return;
    }
    const o = v as Record<string, unknown>;
    this.examples++;
    if (this.format === null) {
      this.format = detectFormat(o);
      if (this.format === null) {
        this.add(whole, 'error', 'unknown-format', `Cannot tell the format from line ${line + 1}: expected the keys of one format: ${formatKeysText()}`);
        return;
      }
    }
    const fmt = this.format;
    const missing = missingKeys(fmt, o);
    if (missing.length > 0) {
      const other = detectFormat(o);
      this.add(whole, 'error', 'format-mismatch', `Line ${line + 1} is not a "${fmt}" example: missing ${missing.map((k) => `"${k}"`).join(', ')}${other !== null && other !== fmt ? ` (it looks like "${other}")` : ''}`);
      return;
    }
    const tokens = this.checkFields(fmt, o, keyAt);
    if (tokens === null) return;
    if (tokens > this.maxLength) {
      this.tooLong++;
      this.tokensCut += tokens - this.maxLength;
      this.add(whole, 'info', 'too-long', `Example is ${this.opts.tokenizer || fmt === 'tokenized' ? '' : '~'}${tokens} tokens, longer than max_length ${this.maxLength}: ${tokens - this.maxLength} will be cut`, { tokens });
    }
    this.safety.line(raw, line, o, (p) => this.addProblem(p));
  }

  private count(s: string): number {
    if (this.opts.tokenizer) {
      try {
        return this.opts.tokenizer.count(s);
      } catch {
        // fall through to the estimate
      }
    }
    return Math.ceil(s.length / 4);
  }

  /** Checks the fields of one example; returns its length in tokens, or null when it is unusable. */
  private checkFields(fmt: DatasetFormat, o: Record<string, unknown>, keyAt: (k: string) => Range): number | null {
    const str = (k: string, optional = false): string | null => {
      const val = o[k];
      if (optional && (val === undefined || val === null)) return '';
      if (typeof val !== 'string') {
        this.add(keyAt(k), 'error', 'bad-field', `"${k}" must be a string, got ${val === null ? 'null' : Array.isArray(val) ? 'a list' : typeof val}`);
        return null;
      }
      return val;
    };
    const answer = (k: string, s: string): void => {
      if (!this.opts.trainOnPrompt && s.trim() === '') this.add(keyAt(k), 'warning', 'empty-answer', `Empty "${k}": the example adds nothing to the loss`);
    };
    switch (fmt) {
      case 'text': {
        const t = str('text');
        if (t === null) return null;
        if (t.trim() === '') this.add(keyAt('text'), 'warning', 'empty-answer', 'Empty "text": the example adds nothing to the loss');
        return this.count(t);
      }
      case 'alpaca': {
        const [i, inp, out] = [str('instruction'), str('input', true), str('output')];
        if (i === null || inp === null || out === null) return null;
        answer('output', out);
        return this.count(`${i}\n${inp}\n${out}`);
      }
      case 'prompt_completion': {
        const [p, c] = [str('prompt'), str('completion')];
        if (p === null || c === null) return null;
        answer('completion', c);
        return this.count(p + c);
      }
      case 'tokenized': {
        const ids = o['input_ids'];
        if (!Array.isArray(ids) || !ids.every((x) => Number.isInteger(x) && (x as number) >= 0)) {
          this.add(keyAt('input_ids'), 'error', 'bad-field', '"input_ids" must be a list of non-negative integers');
          return null;
        }
        const labels = o['labels'];
        if (labels !== undefined) {
          if (!Array.isArray(labels) || labels.length !== ids.length || !labels.every((x) => Number.isInteger(x))) {
            this.add(keyAt('labels'), 'error', 'bad-field', `"labels" must be a list of integers as long as input_ids (${ids.length})`);
            return null;
          }
          if (labels.every((x) => x === -100)) this.add(keyAt('labels'), 'warning', 'empty-answer', 'Every label is -100: the example adds nothing to the loss');
        }
        return ids.length;
      }
      case 'messages':
        return this.checkMessages(o['messages'], keyAt);
    }
  }

  private checkMessages(m: unknown, keyAt: (k: string) => Range): number | null {
    if (!Array.isArray(m) || m.length === 0) {
      this.add(keyAt('messages'), 'error', 'bad-field', '"messages" must be a non-empty list of {"role","content"}');
      return null;
    }
    let chars = 0;
    let lastAssistant: string | null = null;
    for (const [i, msg] of m.entries()) {
      const r = (msg as Record<string, unknown> | null)?.['role'];
      const c = (msg as Record<string, unknown> | null)?.['content'];
      if (typeof msg !== 'object' || msg === null || typeof r !== 'string' || typeof c !== 'string') {
        this.add(keyAt('messages'), 'error', 'bad-field', `messages[${i}] must be {"role": string, "content": string}`);
        return null;
      }
      if (!['system', 'user', 'assistant', 'tool'].includes(r)) {
        this.add(keyAt(r), 'warning', 'bad-role', `messages[${i}] has role "${r}"; chat templates know system, user, assistant, tool`);
      }
      if (r === 'assistant') lastAssistant = c;
      chars += c.length;
    }
    if (!this.opts.trainOnPrompt) {
      if (lastAssistant === null) this.add(keyAt('messages'), 'warning', 'empty-answer', 'No "assistant" message: the example adds nothing to the loss');
      else if (lastAssistant.trim() === '') this.add(keyAt('messages'), 'warning', 'empty-answer', 'The assistant message is empty: the example adds nothing to the loss');
    }
    // role markers of a chat template: a few tokens a message
    const contents = m.map((x) => String((x as Record<string, unknown>)['content'])).join('\n');
    return this.opts.tokenizer ? this.count(contents) + 4 * m.length : Math.ceil(chars / 4) + 4 * m.length;
  }
}

/** Lints the whole text at once (CLI, tests); maxLines stops early. */
export function lintDataset(text: string, opts: DatasetLintOptions = {}, maxLines?: number): Problem[] {
  const l = new DatasetLinter(text, opts);
  l.step(maxLines !== undefined ? { lines: maxLines } : {});
  if (!l.finished) {
    const ps = l.problems();
    ps.push(problem({ start: { line: l.linesDone, character: 0 }, end: { line: l.linesDone, character: 0 } }, 'info', 'lint-truncated', `Lint stopped after ${l.linesDone} lines`));
    return ps;
  }
  return l.problems();
}
