// Prompt-injection-like text in completions: the adapter would learn to say it. Instructions to ignore earlier
// rules, persona jailbreaks, chat control tokens inside content, pipe-to-shell commands, links that exfiltrate data.
import type { PatternRule } from './patterns';

export const INJECTION_RULES: readonly PatternRule[] = [
  {
    name: 'ignore-instructions', what: 'an instruction to ignore earlier instructions',
    re: /\b(?:ignore|disregard|forget|override)\s{1,3}(?:all\s{1,3}|any\s{1,3})?(?:of\s{1,3})?(?:the\s{1,3}|your\s{1,3}|my\s{1,3})?(?:previous|prior|above|earlier|preceding|system)\s{1,3}(?:instructions|prompts?|rules|messages|directions)/gi,
  },
  { name: 'jailbreak-persona', what: 'a jailbreak persona', re: /\byou\s{1,3}are\s{1,3}now\s{1,3}(?:DAN\b|in\s{1,3}developer\s{1,3}mode|an?\s{1,3}unrestricted|jailbroken)/gi },
  { name: 'reveal-system-prompt', what: 'a request to reveal the system prompt', re: /\b(?:reveal|print|show|repeat|output)\s{1,3}(?:your|the)\s{1,3}(?:system\s{1,3}prompt|hidden\s{1,3}instructions|initial\s{1,3}instructions)/gi },
  { name: 'control-token', what: 'a chat control token inside the content', re: /<\|(?:im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id|end_header_id)\|>|\[\/?INST\]|<<\/?SYS>>/g, hints: ['<|', 'INST]', 'SYS>>'] },
  { name: 'pipe-to-shell', what: 'a download piped into a shell', re: /\b(?:curl|wget)\s[^|\n]{1,300}\|\s{0,3}(?:sudo\s{1,3})?(?:ba|z)?sh\b/g, hints: ['curl', 'wget'] },
  {
    // A markdown image whose query carries data-like parameters (badges' ?style=, ?logo=, ?branch= are not).
    name: 'exfiltration-link', what: 'a markdown image that sends data in its URL',
    re: /!\[[^\]\n]{0,200}\]\(https?:\/\/[^)\s?]{1,300}\?(?:[^)\s]{0,300}[?&])?(?:data|secret|password|passwd|pwd|info|content|conversation|chat|history|prompt|msg|message|memory|leak|exfil|creds?|credentials|cookie|session)=/gi,
    hints: ['!['],
  },
].map((r) => ({ ...r, mask: '' }));
