// Finds regular expressions that a backtracking engine (JavaScript's RegExp) can take exponential time on: a repeated
// group whose body itself repeats or alternates, as `(a+)+`, `(.*.*)*` or `(a|aa)+`. Used for tokenizer.json patterns.

interface Frame {
  /** The body holds a quantifier that repeats (max > 1) or one of its groups does. */
  repeats: boolean;
  /** The body has a top-level `|`. */
  alternates: boolean;
}

/** Parses a `{n}`, `{n,}` or `{n,m}` quantifier at `i`; returns its max (Infinity for open) and length, or null. */
function braceQuantifier(src: string, i: number): { max: number; len: number } | null {
  const m = /^\{(\d+)(,(\d*))?\}/.exec(src.slice(i, i + 24));
  if (m === null) return null;
  const max = m[2] === undefined ? Number(m[1]) : m[3] === '' || m[3] === undefined ? Infinity : Number(m[3]);
  return { max, len: m[0].length };
}

/**
 * Why `src` risks catastrophic backtracking (one sentence), or null. Conservative: a repeated group may contain
 * single characters, classes and optional (`?`) atoms, but no repeated atom and no alternation.
 */
export function regexHazard(src: string): string | null {
  const stack: Frame[] = [{ repeats: false, alternates: false }];
  let lastGroup: Frame | null = null; // the group that closed just before i (the atom a quantifier applies to)
  let i = 0;
  while (i < src.length) {
    const c = src[i] as string;
    let atomGroup: Frame | null = null;
    if (c === '\\') {
      i += 2;
    } else if (c === '[') {
      i++;
      if (src[i] === '^') i++;
      if (src[i] === ']') i++;
      while (i < src.length && src[i] !== ']') i += src[i] === '\\' ? 2 : 1;
      i++;
    } else if (c === '(') {
      stack.push({ repeats: false, alternates: false });
      i++;
      if (src[i] === '?') {
        // (?:  (?i:  (?<name>  (?=  (?!  (?<=  (?<!  (?P<name>
        const close = /^\?(P?<[A-Za-z_]\w*>|<[=!]|[=!:]|[a-zA-Z-]+:|[a-zA-Z-]+\))/.exec(src.slice(i));
        if (close !== null) {
          if (close[0].endsWith(')')) stack.pop(); // an inline flag group (?i) is not a group
          i += close[0].length;
        }
      }
      continue;
    } else if (c === ')') {
      const f = stack.length > 1 ? (stack.pop() as Frame) : { repeats: false, alternates: false };
      const parent = stack[stack.length - 1] as Frame;
      if (f.repeats) parent.repeats = true;
      atomGroup = f;
      i++;
    } else if (c === '|') {
      (stack[stack.length - 1] as Frame).alternates = true;
      i++;
      lastGroup = null;
      continue;
    } else if (c === '*' || c === '+' || c === '?' || c === '{') {
      const q = c === '{' ? braceQuantifier(src, i) : { max: c === '?' ? 1 : Infinity, len: 1 };
      if (q === null) { i++; lastGroup = null; continue; } // a literal "{"
      i += q.len;
      if (src[i] === '?' || src[i] === '+') i++; // lazy / possessive
      if (q.max > 1) {
        if (lastGroup !== null && (lastGroup.repeats || lastGroup.alternates)) {
          return `a repeated group contains ${lastGroup.repeats ? 'another repetition' : 'alternatives'}, which can take exponential time to match`;
        }
        (stack[stack.length - 1] as Frame).repeats = true;
      }
      lastGroup = null;
      continue;
    } else {
      i++;
    }
    lastGroup = atomGroup;
  }
  return null;
}
