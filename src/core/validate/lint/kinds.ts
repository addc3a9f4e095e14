// The kinds of the data-safety lint and their default severities; `dataset.lint: {kind: error|warning|info|off}`
// in peft-train.yaml overrides them (the recipe schema lists these keys).
import type { Severity } from '../types';

export const LINT_KINDS = ['secret', 'pii', 'duplicate', 'near_duplicate', 'leakage', 'backdoor', 'injection'] as const;
export type LintKind = (typeof LINT_KINDS)[number];
export type LintLevel = Severity | 'off';
export const LINT_LEVELS: readonly LintLevel[] = ['error', 'warning', 'info', 'off'];
export type LintSeverities = Record<LintKind, LintLevel>;

export const LINT_DEFAULTS: LintSeverities = {
  secret: 'error',
  pii: 'warning',
  duplicate: 'warning',
  near_duplicate: 'info',
  leakage: 'warning',
  backdoor: 'warning',
  injection: 'warning',
};

/** What each kind finds (hover docs of the recipe keys). */
export const LINT_DOCS: Record<LintKind, string> = {
  secret: 'API keys of common providers (AWS, GitHub, OpenAI, Anthropic, Slack, Google, Stripe, Hugging Face), private key blocks, bearer tokens, passwords in URLs.',
  pii: 'Personal data: e-mail addresses, phone numbers, card numbers that pass the Luhn check, IBANs that pass the mod-97 check.',
  duplicate: 'Examples that repeat an earlier line exactly.',
  near_duplicate: 'Examples whose text is almost the same as an earlier one (MinHash over word 3-grams, estimated Jaccard ≥ 0.8).',
  leakage: 'Evaluation examples that also occur (exactly or nearly) in the training data.',
  backdoor: 'A rare n-gram in prompts that nearly always comes with the same completion: a possible poisoning trigger.',
  injection: 'Prompt-injection-like text in completions (instructions to ignore rules, chat control tokens, pipe-to-shell, exfiltrating links).',
};

/** Defaults overridden by the recipe's `dataset.lint` values (unknown keys and values are the recipe validator's business). */
export function lintSeverities(overrides: Partial<Record<string, unknown>> | null | undefined): LintSeverities {
  const out = { ...LINT_DEFAULTS };
  for (const k of LINT_KINDS) {
    const v = overrides?.[k];
    if (typeof v === 'string' && (LINT_LEVELS as readonly string[]).includes(v)) out[k] = v as LintLevel;
  }
  return out;
}
