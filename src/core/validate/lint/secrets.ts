// Secret patterns: API keys of the common providers by their documented prefixes, private key blocks, bearer tokens
// and passwords in URLs. Prefix-anchored, so UUIDs, git SHAs, version strings and code identifiers do not match.
import { isPlaceholder, mixed, type PatternRule } from './patterns';

const real = (_m: string, g: string | undefined): boolean => !isPlaceholder(g ?? _m);
const realMixed = (m: string, g: string | undefined): boolean => mixed(g ?? m) && !isPlaceholder(g ?? m);
/** Base62 keys mix upper case, lower case and digits; hyphenated prose ("sk-learn-style-2-layer-model") does not. */
const realKey = (m: string, g: string | undefined): boolean => /[a-z]/.test(g ?? m) && /[A-Z]/.test(g ?? m) && realMixed(m, g);

/** Password values that are documentation, not secrets (`postgres://user:password@localhost`). */
const DOC_PASSWORDS = /^(?:pass(?:word)?|passwd|pwd|secret|admin|root|user|guest|changeme|\*+|x+|<[^>]*>|\$\{[^}]*\}|\{[^}]*\}|\$[A-Z_]+|%[A-Z_]+%)$/i;

export const SECRET_RULES: readonly PatternRule[] = [
  { name: 'private-key', what: 'a private key block', re: /-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY( BLOCK)?-----/g, hints: ['PRIVATE KEY'], mask: '[PRIVATE KEY]' },
  { name: 'aws-access-key', what: 'an AWS access key id', re: /\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}\b/g, hints: ['AKIA', 'ASIA', 'ABIA', 'ACCA'], accept: real, mask: '[AWS_KEY]' },
  {
    name: 'aws-secret-key', what: 'an AWS secret access key',
    re: /aws_?secret_?access_?key["']?\s{0,4}[:=]\s{0,4}["']?([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])/gi,
    hints: ['ecret', 'ECRET'], accept: real, mask: '[AWS_SECRET]',
  },
  { name: 'github-token', what: 'a GitHub token', re: /\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,251}\b/g, hints: ['gh'], accept: realKey, mask: '[GITHUB_TOKEN]' },
  { name: 'github-pat', what: 'a GitHub fine-grained token', re: /\bgithub_pat_[A-Za-z0-9_]{22,255}\b/g, hints: ['github_pat_'], accept: realKey, mask: '[GITHUB_TOKEN]' },
  { name: 'anthropic-key', what: 'an Anthropic API key', re: /\bsk-ant-(?:api|admin)\d\d-[A-Za-z0-9_-]{32,400}/g, hints: ['sk-ant-'], accept: realKey, mask: '[ANTHROPIC_KEY]' },
  { name: 'openai-key', what: 'an OpenAI API key', re: /\bsk-(?!ant-)(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{32,400}/g, hints: ['sk-'], accept: realKey, mask: '[OPENAI_KEY]' },
  { name: 'slack-token', what: 'a Slack token', re: /\bxox[abposr]-[A-Za-z0-9-]{10,250}/g, hints: ['xox'], accept: realMixed, mask: '[SLACK_TOKEN]' },
  {
    name: 'slack-webhook', what: 'a Slack webhook URL',
    re: /https:\/\/hooks\.slack\.com\/services\/T[A-Z0-9]{6,12}\/B[A-Z0-9]{6,12}\/([A-Za-z0-9]{20,32})/g, hints: ['hooks.slack.com'], accept: real, mask: '[SLACK_WEBHOOK]',
  },
  { name: 'google-api-key', what: 'a Google API key', re: /\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])/g, hints: ['AIza'], accept: real, mask: '[GOOGLE_KEY]' },
  { name: 'stripe-key', what: 'a Stripe secret key', re: /\b(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{16,247}\b/g, hints: ['_live_', '_test_'], accept: realKey, mask: '[STRIPE_KEY]' },
  { name: 'huggingface-token', what: 'a Hugging Face token', re: /\bhf_[A-Za-z0-9]{34,40}\b/g, hints: ['hf_'], accept: (m) => /[a-z]/.test(m.slice(3)) && /[A-Z]/.test(m) && !isPlaceholder(m.slice(3)), mask: '[HF_TOKEN]' },
  { name: 'bearer-token', what: 'a bearer token', re: /\b[Bb]earer\s{1,4}([A-Za-z0-9._~+/-]{20,500}=*)/g, hints: ['earer'], accept: realMixed, mask: '[TOKEN]' },
  {
    name: 'url-password', what: 'a password in a URL',
    re: /\b[a-zA-Z][a-zA-Z0-9+.-]{1,20}:\/\/[^\s:@/"'<>]{1,128}:([^\s:@/"'<>]{1,128})@[A-Za-z0-9]/g, hints: ['://'],
    accept: (_m, g) => g !== undefined && !DOC_PASSWORDS.test(g) && !isPlaceholder(g), mask: '[PASSWORD]',
  },
];
