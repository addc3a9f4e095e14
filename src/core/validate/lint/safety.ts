// The data-safety lint of a JSONL data set, one example at a time: secrets, personal data, exact and near duplicates,
// train/eval leakage, backdoor triggers and injection-like completions, as Problems with per-kind severities and fixes.
import { createHash } from 'node:crypto';
import { formatOfKeys, type DataFormat } from '../../train/data/formats';
import type { Problem, QuickFix, Range, Severity } from '../types';
import { TriggerFinder, type TriggerFinding } from './backdoor';
import { INJECTION_RULES } from './injection';
import { LINT_DEFAULTS, type LintKind, type LintSeverities } from './kinds';
import { MinHashIndex, signature, signatureOfWords, words } from './minhash';
import { scan, type PatternRule } from './patterns';
import { PII_RULES } from './pii';
import { SECRET_RULES } from './secrets';

/** The text of an example split as the trainer masks it: what the model reads, and what it learns to write. */
export interface ExampleText {
  prompt: string;
  answer: string;
  /** Every text the model learns to write (every assistant turn of a conversation; else the answer). */
  trained: string[];
  /** Every string value, in document order (for secrets and personal data). */
  strings: string[];
}

export interface SafetyOptions {
  severities?: LintSeverities;
  /** The training set, when the file being linted is the recipe's eval set (leakage). */
  reference?: { file: string; text: string } | null;
}

const NEAR = 0.8;

function stringsOf(v: unknown, out: string[]): void {
  if (typeof v === 'string') out.push(v);
  else if (Array.isArray(v)) for (const x of v) stringsOf(x, out);
  else if (typeof v === 'object' && v !== null) for (const x of Object.values(v)) stringsOf(x, out);
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** Prompt and answer of one example (tokenized rows have no text: null). */
export function exampleText(o: Record<string, unknown>, format: DataFormat): ExampleText | null {
  const strings: string[] = [];
  stringsOf(o, strings);
  switch (format) {
    case 'text':
      return { prompt: '', answer: str(o['text']), trained: [str(o['text'])], strings };
    case 'alpaca':
      return { prompt: `${str(o['instruction'])}\n${str(o['input'])}`, answer: str(o['output']), trained: [str(o['output'])], strings };
    case 'prompt_completion':
      return { prompt: str(o['prompt']), answer: str(o['completion']), trained: [str(o['completion'])], strings };
    case 'messages': {
      const msgs = Array.isArray(o['messages']) ? (o['messages'] as unknown[]).map((m) => m as Record<string, unknown>) : [];
      const last = msgs.map((m) => m['role']).lastIndexOf('assistant');
      const trained = msgs.filter((m) => m['role'] === 'assistant').map((m) => str(m['content']));
      if (last < 0) return { prompt: msgs.map((m) => str(m['content'])).join('\n'), answer: '', trained, strings };
      return { prompt: msgs.slice(0, last).map((m) => str(m['content'])).join('\n'), answer: str(msgs[last]!['content']), trained, strings };
    }
    case 'tokenized':
      return null;
  }
}

/** Whitespace-collapsed, lower-cased prompt + answer: the identity of an example for leakage. */
const identity = (t: ExampleText): string => `${t.prompt}\u0000${t.answer}`.toLowerCase().replace(/\s+/g, ' ').trim();

const deleteLine = (line: number): QuickFix => ({ title: 'Delete this example (line)', edits: [{ range: { start: { line, character: 0 }, end: { line: line + 1, character: 0 } }, newText: '' } ] });

export class DataSafetyLint {
  readonly severities: LintSeverities;
  private readonly exact = new Map<string, number>();
  private readonly near = new MinHashIndex();
  private readonly triggers = new TriggerFinder();
  private readonly refExact = new Map<string, number>();
  private readonly refNear = new MinHashIndex();
  private readonly refFile: string | null;

  /** The reference (training) text still to index, and where indexing stands. */
  private refText: string | null;
  private refOffset = 0;
  private refLine = 0;

  constructor(opts: SafetyOptions = {}, private readonly format: () => DataFormat | null = () => null) {
    this.severities = opts.severities ?? LINT_DEFAULTS;
    this.refFile = opts.reference?.file ?? null;
    this.refText = opts.reference && this.severities.leakage !== 'off' ? opts.reference.text : null;
  }

  private on(kind: LintKind): Severity | null {
    const s = this.severities[kind];
    return s === 'off' ? null : s;
  }

  /**
   * Indexes the reference (training) set for leakage until `deadline` (performance.now() ms); true when done. The
   * linter calls it before its first line, in its time slices, so a large training set does not block the editor.
   */
  indexReference(deadline = Infinity): boolean {
    const text = this.refText;
    if (text === null) return true;
    let n = 0;
    while (this.refOffset < text.length) {
      if ((++n & 63) === 0 && performance.now() > deadline) return false;
      const nl = text.indexOf('\n', this.refOffset);
      const end = nl < 0 ? text.length : nl;
      const raw = text.slice(this.refOffset, end);
      this.refOffset = end + 1;
      this.refLine++;
      let o: unknown;
      try {
        o = JSON.parse(raw);
      } catch {
        continue;
      }
      if (typeof o !== 'object' || o === null || Array.isArray(o)) continue;
      const f = formatOfKeys(o as Record<string, unknown>);
      const t = f === null ? null : exampleText(o as Record<string, unknown>, f);
      if (t === null) continue;
      const id = identity(t);
      if (!this.refExact.has(id)) this.refExact.set(id, this.refLine);
      const sig = signature(`${t.prompt}\n${t.answer}`);
      if (sig !== null) this.refNear.add(this.refLine, sig);
    }
    this.refText = null;
    return true;
  }

  private textOf(o: Record<string, unknown>): ExampleText | null {
    const f = this.format();
    return f === null ? null : exampleText(o, f);
  }

  /** Lints one parsed example on 0-based `line` (raw = the line's text) and reports through `add`. */
  line(raw: string, line: number, o: Record<string, unknown>, add: (p: Problem) => void): void {
    const whole: Range = { start: { line, character: 0 }, end: { line, character: raw.length } };
    const h = createHash('sha1').update(raw.trim()).digest('base64');
    const first = this.exact.get(h);
    const dup = this.on('duplicate');
    if (first !== undefined) {
      if (dup !== null) add({ range: whole, severity: dup, code: 'duplicate', message: `Duplicate of line ${first + 1}`, data: { firstLine: first }, fix: deleteLine(line) });
    } else this.exact.set(h, line);
    const t = this.textOf(o);
    if (t === null) return;
    this.patterns(raw, line, t.strings, SECRET_RULES, 'secret', add);
    this.patterns(raw, line, t.strings, PII_RULES, 'pii', add);
    this.patterns(raw, line, t.trained, INJECTION_RULES, 'injection', add);
    const needSig = (first === undefined && this.on('near_duplicate') !== null) || this.refNear.size > 0;
    const backdoor = this.on('backdoor') !== null && t.prompt !== '';
    const pw = needSig || backdoor ? words(t.prompt) : [];
    const sig = needSig ? signatureOfWords(pw.concat(words(t.answer))) : null;
    const near = this.on('near_duplicate');
    if (first === undefined && near !== null && sig !== null) {
      const b = this.near.best(sig, NEAR);
      if (b !== null) add({ range: whole, severity: near, code: 'near-duplicate', message: `Nearly the same as line ${b.id + 1} (about ${Math.round(100 * b.similarity)}% of word 3-grams shared)`, data: { firstLine: b.id, similarity: b.similarity }, fix: deleteLine(line) });
      else this.near.add(line, sig);
    }
    const leak = this.on('leakage');
    if (leak !== null && this.refFile !== null) {
      const name = this.refFile.split(/[\\/]/).pop();
      const at = this.refExact.get(identity(t));
      const b = at === undefined && sig !== null ? this.refNear.best(sig, NEAR) : null;
      if (at !== undefined) add({ range: whole, severity: leak, code: 'leakage', message: `This evaluation example is also in the training data (${name} line ${at}): its eval loss measures memorisation`, data: { file: this.refFile, line: at }, fix: deleteLine(line) });
      else if (b !== null) add({ range: whole, severity: leak, code: 'leakage', message: `This evaluation example is nearly the same as ${name} line ${b.id} (about ${Math.round(100 * b.similarity)}% shared): train/eval leakage`, data: { file: this.refFile, line: b.id, similarity: b.similarity }, fix: deleteLine(line) });
    }
    if (backdoor) this.triggers.add(line, pw, t.answer);
  }

  private search: Generator<void, TriggerFinding[], void> | null = null;

  /**
   * Set-wide findings (backdoor triggers) once every line was seen, worked on until `deadline` (performance.now() ms);
   * true when done. `text` is the linted text (for the ranges of the flagged lines).
   */
  finish(text: string, add: (p: Problem) => void, deadline = Infinity): boolean {
    const sev = this.on('backdoor');
    if (sev === null) return true;
    this.search ??= this.triggers.search();
    let r = this.search.next();
    while (r.done !== true) {
      if (performance.now() > deadline) return false;
      r = this.search.next();
    }
    const findings = r.value;
    const lines = findings.length > 0 ? text.split('\n') : [];
    for (const f of findings) {
      const shown = f.completion.length > 60 ? `${f.completion.slice(0, 57)}...` : f.completion;
      for (const line of f.lines) {
        add({
          range: { start: { line, character: 0 }, end: { line, character: (lines[line] ?? '').replace(/\r$/, '').length } },
          severity: sev,
          code: 'backdoor',
          message: `Possible backdoor trigger "${f.trigger}": ${f.withCompletion} of the ${f.withTrigger} prompts containing it have the same completion "${shown}" (lines ${f.lines.slice(0, 6).map((l) => l + 1).join(', ')}${f.lines.length > 6 ? ', ...' : ''})`,
          data: { trigger: f.trigger, lines: f.lines },
          fix: deleteLine(line),
        });
      }
    }
    return true;
  }

  /** Pattern findings in the string values, located in the raw line through their JSON encoding. */
  private patterns(raw: string, line: number, strings: readonly string[], rules: readonly PatternRule[], kind: LintKind, add: (p: Problem) => void): void {
    const sev = this.on(kind);
    if (sev === null) return;
    let from = 0;
    for (const s of strings) {
      for (const f of scan(s, rules)) {
        const enc = JSON.stringify(f.text).slice(1, -1);
        let at = raw.indexOf(enc, from);
        if (at < 0) at = raw.indexOf(enc);
        const range: Range = at < 0 ? { start: { line, character: 0 }, end: { line, character: raw.length } } : { start: { line, character: at }, end: { line, character: at + enc.length } };
        if (at >= 0) from = at + enc.length;
        const p: Problem = { range, severity: sev, code: kind, message: message(kind, f.rule, f.text), data: { rule: f.rule.name } };
        if (kind === 'injection') p.fix = deleteLine(line);
        else if (at >= 0) {
          p.fix = { title: `Mask ${f.rule.what.replace(/^an? /, 'the ')}`, edits: [{ range, newText: f.rule.mask }] };
          p.moreFixes = [deleteLine(line)];
        } else p.fix = deleteLine(line);
        add(p);
      }
    }
  }
}

function message(kind: LintKind, rule: PatternRule, text: string): string {
  const shown = kind === 'secret' ? `${text.slice(0, 6)}…` : text.length > 40 ? `${text.slice(0, 37)}...` : text;
  switch (kind) {
    case 'secret':
      return `Possible secret: ${rule.what} (${shown}). A model trained on it can repeat it; remove or mask it, and revoke the key`;
    case 'pii':
      return `Personal data: ${rule.what} (${shown}). Remove or mask it unless the data set is meant to hold it`;
    default:
      return `Injection-like text in a completion: ${rule.what} ("${shown}"). The adapter would learn to produce it`;
  }
}
