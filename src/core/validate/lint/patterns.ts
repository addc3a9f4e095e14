// The shared shape of the data-safety patterns: a linear-time regex (no nested or overlapping quantifiers), cheap
// literal hints that must occur before the regex runs, and a check that rejects placeholders and failed checksums.

export interface PatternRule {
  /** Stable name, shown in the message ("aws-access-key"). */
  name: string;
  /** What it is, for the message ("an AWS access key id"). */
  what: string;
  /** Global regex; group 1, when present, is the part that is checked and masked. */
  re: RegExp;
  /** The regex runs only when the text contains one of these (case-sensitive) literals. */
  hints?: readonly string[];
  /** Rejects a match (placeholder, checksum failure); gets the whole match and group 1. */
  accept?: (match: string, group: string | undefined) => boolean;
  /** When the regex over-matches (an IBAN running into following capitals): the length to keep. */
  length?: (match: string) => number;
  /** Replacement text of the "Mask" quick fix. */
  mask: string;
}

export interface Finding {
  rule: PatternRule;
  /** Offsets in the scanned string of the part to report and mask. */
  start: number;
  end: number;
  text: string;
}

/** Every accepted match of every rule in `text`, in rule order, overlapping matches of later rules dropped. */
export function scan(text: string, rules: readonly PatternRule[]): Finding[] {
  const out: Finding[] = [];
  for (const rule of rules) {
    if (rule.hints !== undefined && !rule.hints.some((h) => text.includes(h))) continue;
    rule.re.lastIndex = 0;
    for (const m of text.matchAll(rule.re)) {
      const g = m[1];
      if (rule.accept !== undefined && !rule.accept(m[0], g)) continue;
      const part = g ?? (rule.length !== undefined ? m[0].slice(0, rule.length(m[0])) : m[0]);
      const start = g !== undefined ? m.index + m[0].indexOf(g) : m.index;
      const end = start + part.length;
      if (out.some((f) => start < f.end && f.start < end)) continue;
      out.push({ rule, start, end, text: part });
    }
  }
  return out;
}

const PLACEHOLDER = /example|sample|dummy|placeholder|your|xxxx|\*\*\*|redacted|changeme|<|>|\.\.\.|\$\{|\{\{|fake|test1234|abcdef/i;

/**
 * A value that looks like documentation rather than a credential: placeholder words, repeated characters, or a
 * near-constant string (Shannon entropy under 3 bits a character over 16+ characters).
 */
export function isPlaceholder(s: string): boolean {
  if (PLACEHOLDER.test(s)) return true;
  const counts = new Map<string, number>();
  for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
  if (counts.size <= 3) return true;
  if (s.length < 16) return false;
  let h = 0;
  for (const n of counts.values()) h -= (n / s.length) * Math.log2(n / s.length);
  return h < 3;
}

/** Letters and digits both occur (real keys mix them; prose and identifiers rarely do at this length). */
export const mixed = (s: string): boolean => /[A-Za-z]/.test(s) && /\d/.test(s);
