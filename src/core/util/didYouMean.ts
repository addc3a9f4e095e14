// "Did you mean ...?" suggestions for misspelt keys and names (Damerau-Levenshtein distance).
// Used by config parsing, the validator and the CLI.

/** Optimal string alignment distance (insert, delete, substitute, swap adjacent). */
export function editDistance(a: string, b: string): number {
  const m = a.length;
  const n = b.length;
  const d: number[][] = Array.from({ length: m + 1 }, (_, i) => Array.from({ length: n + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= m; i++) {
    for (let j = 1; j <= n; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[m]![n]!;
}

/** The closest candidates to `word`, best first; none when nothing is reasonably close. */
export function suggest(word: string, candidates: readonly string[], max = 3): string[] {
  const w = word.toLowerCase();
  const limit = Math.max(2, Math.floor(w.length / 3));
  return candidates
    .map((c) => ({ c, d: editDistance(w, c.toLowerCase()) }))
    .filter((x) => x.d <= limit || (w.length >= 4 && x.c.toLowerCase().includes(w)))
    .sort((x, y) => x.d - y.d || x.c.localeCompare(y.c))
    .slice(0, max)
    .map((x) => x.c);
}

/** " Did you mean "x"?" or "" — ready to append to a message. */
export function didYouMean(word: string, candidates: readonly string[]): string {
  const s = suggest(word, candidates, 1);
  return s.length > 0 ? ` Did you mean "${s[0]}"?` : '';
}
