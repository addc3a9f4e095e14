// Personal-data patterns: e-mail addresses (not documentation domains), phone numbers (international or
// North-American layout), card numbers that pass the Luhn check with a card-network prefix, IBANs that pass mod 97.
import type { PatternRule } from './patterns';

const DOC_DOMAINS = /@(?:[a-z0-9-]+\.)?(?:example\.(?:com|org|net)|test|invalid|localhost|domain\.com|email\.com)$/i;
const NOT_PEOPLE = /^(?:git|noreply|no-reply|donotreply|do-not-reply)@/i;
/** `icon@2x.png`, `module@1.0.js`: file names, not addresses. */
const FILE_EXT = /\.(?:png|jpe?g|gif|svg|webp|ico|js|mjs|cjs|ts|tsx|jsx|py|css|scss|json|ya?ml|md|txt|html?|lock|zip|gz|tar|whl|so|dll|exe)$/i;

/** Luhn (ISO/IEC 7812) checksum over a digit string. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

/** Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay prefixes with their lengths. */
function cardNetwork(d: string): boolean {
  const n = d.length;
  if (/^4/.test(d)) return n === 13 || n === 16 || n === 19;
  if (/^(?:5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720))/.test(d)) return n === 16;
  if (/^3[47]/.test(d)) return n === 15;
  if (/^(?:6011|65|64[4-9])/.test(d)) return n >= 16 && n <= 19;
  if (/^35(?:2[89]|[3-8])/.test(d)) return n >= 16 && n <= 19;
  if (/^3(?:0[0-5]|[689])/.test(d)) return n === 14;
  if (/^62/.test(d)) return n >= 16 && n <= 19;
  return false;
}

function cardAccept(m: string): boolean {
  if (/[ -]{2}/.test(m)) return false;
  const seps = new Set(m.replace(/\d/g, ''));
  if (seps.size > 1) return false;
  const d = m.replace(/\D/g, '');
  return d.length >= 13 && d.length <= 19 && !/^(\d)\1+$/.test(d) && cardNetwork(d) && luhnValid(d);
}

/** IBAN lengths by country (ISO 13616 registry). */
const IBAN_LENGTH: Record<string, number> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BR: 29, BY: 28, CH: 21, CR: 22, CY: 28, CZ: 24,
  DE: 22, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18, FO: 18, FR: 27, GB: 22, GE: 22, GI: 23, GL: 18, GR: 27, GT: 28,
  HR: 21, HU: 28, IE: 22, IL: 23, IQ: 23, IS: 26, IT: 27, JO: 30, KW: 30, KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20, LU: 20,
  LV: 21, MC: 27, MD: 24, ME: 22, MK: 19, MR: 27, MT: 31, MU: 30, NL: 18, NO: 15, PK: 24, PL: 28, PS: 29, PT: 25, QA: 29,
  RO: 24, RS: 22, SA: 24, SC: 31, SE: 24, SI: 19, SK: 24, SM: 27, ST: 25, SV: 28, TL: 23, TN: 24, TR: 26, UA: 29, VA: 22,
  VG: 24, XK: 20,
};

/** ISO 13616 check: move the first four characters to the end, letters → 10..35, the number mod 97 must be 1. */
export function ibanValid(compact: string): boolean {
  const s = compact.slice(4) + compact.slice(0, 4);
  let r = 0;
  for (const c of s) {
    const v = c >= 'A' && c <= 'Z' ? c.charCodeAt(0) - 55 : c.charCodeAt(0) - 48;
    if (v < 0 || v > 35) return false;
    r = v > 9 ? (r * 100 + v) % 97 : (r * 10 + v) % 97;
  }
  return r === 1;
}

/** The IBAN at the start of a loose match (it may run on into following capitals): its length in the match, or 0. */
export function ibanPrefix(m: string): number {
  const len = IBAN_LENGTH[m.slice(0, 2)];
  if (len === undefined) return 0;
  let compact = '';
  let i = 0;
  for (; i < m.length && compact.length < len; i++) if (m[i] !== ' ') compact += m[i];
  if (compact.length < len || !ibanValid(compact)) return 0;
  // The IBAN must end at a boundary (not inside a longer alphanumeric run).
  if (i < m.length && /[A-Z0-9]/.test(m[i]!)) return 0;
  return i;
}

function phoneAccept(m: string): boolean {
  const d = m.replace(/\D/g, '');
  if (d.length < 8 || d.length > 15 || /^(\d)\1+$/.test(d)) return false;
  if ((m.match(/\(/g) ?? []).length !== (m.match(/\)/g) ?? []).length || /[ .()-]{3}/.test(m)) return false;
  return true;
}

export const PII_RULES: readonly PatternRule[] = [
  {
    name: 'email', what: 'an e-mail address',
    re: /[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9][A-Za-z0-9.-]{0,252}\.[A-Za-z]{2,24}\b/g, hints: ['@'],
    accept: (m) => !DOC_DOMAINS.test(m) && !NOT_PEOPLE.test(m) && !FILE_EXT.test(m) && !/^[._-]/.test(m), mask: '[EMAIL]',
  },
  { name: 'card-number', what: 'a payment card number (passes the Luhn check)', re: /(?<![\d.-])\d[\d -]{11,22}\d(?![\d-]|\.\d)/g, accept: cardAccept, mask: '[CARD]' },
  { name: 'iban', what: 'an IBAN (passes the mod-97 check)', re: /\b[A-Z]{2}\d{2}[A-Z0-9 ]{11,40}/g, accept: (m) => ibanPrefix(m) > 0, length: ibanPrefix, mask: '[IBAN]' },
  { name: 'phone', what: 'a phone number', re: /(?<![\w+.])\+[1-9][\d .()-]{6,20}\d(?![\d])/g, hints: ['+'], accept: phoneAccept, mask: '[PHONE]' },
  { name: 'phone', what: 'a phone number', re: /(?<![\w.-])(?:\(\d{3}\) ?|\d{3}[.-])\d{3}[.-]\d{4}(?![\w-]|\.\d)/g, accept: phoneAccept, mask: '[PHONE]' },
];
