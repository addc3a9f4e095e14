// Near-duplicate search: MinHash signatures over word 3-grams and locality-sensitive hashing by bands
// (Broder 1997; Leskovec, Rajaraman & Ullman, "Mining of Massive Datasets" §3.4). 64 values in 8 bands of 8 rows
// put the LSH threshold near Jaccard 0.77; candidates are confirmed by their estimated similarity. The 64 values come
// from one hash per 3-gram (one-permutation hashing, Li, Owen & Zhang 2012, with the rotation densification of
// Shrivastava & Li 2014 for empty bins), 64 times cheaper than 64 hash functions.

const PERMS = 64;
const BANDS = 8;
const ROWS = PERMS / BANDS;
const WORD = /[\p{L}\p{N}]+/gu;
const BUCKET_CAP = 32;

/** murmur3's 32-bit finaliser: a cheap, well-mixed hash of a 32-bit value. */
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** FNV-1a over UTF-16 code units. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** The lower-cased words of a text (letters and digits). */
export function words(text: string): string[] {
  return text.toLowerCase().match(WORD) ?? [];
}

const EMPTY = 0xffffffff;
/** Added per bin of distance when an empty bin borrows a neighbour's value (densification), larger than any value. */
const ROTATE = 1 << 26;

/** MinHash signature of the word 3-grams of `text`, or null when it has fewer than 5 words (too short to compare). */
export function signature(text: string): Uint32Array | null {
  return signatureOfWords(words(text));
}

/** The same from the words already split (see `words`). */
export function signatureOfWords(w: readonly string[]): Uint32Array | null {
  if (w.length < 5) return null;
  const wh = w.map(fnv1a);
  const sig = new Uint32Array(PERMS).fill(EMPTY);
  for (let i = 0; i + 2 < wh.length; i++) {
    const h = fmix((wh[i]! ^ ((wh[i + 1]! << 11) | (wh[i + 1]! >>> 21)) ^ ((wh[i + 2]! << 22) | (wh[i + 2]! >>> 10))) >>> 0);
    // The top 6 bits pick the bin, the low 26 bits are the value kept as that bin's minimum.
    const bin = h >>> 26;
    const v = h & (ROTATE - 1);
    if (v < sig[bin]!) sig[bin] = v;
  }
  // Densification: an empty bin takes the value of the next non-empty bin to its right (circularly), offset by distance.
  for (let b = 0; b < PERMS; b++) {
    if (sig[b] !== EMPTY) continue;
    for (let d = 1; d < PERMS; d++) {
      const v = sig[(b + d) % PERMS]!;
      if (v !== EMPTY && v < ROTATE) {
        sig[b] = v + d * ROTATE;
        break;
      }
    }
  }
  return sig;
}

/** Share of equal signature entries: an unbiased estimate of the Jaccard similarity of the 3-gram sets. */
export function similarity(a: Uint32Array, b: Uint32Array): number {
  let same = 0;
  for (let i = 0; i < PERMS; i++) if (a[i] === b[i]) same++;
  return same / PERMS;
}

function bandKey(sig: Uint32Array, band: number): number {
  let h = band;
  for (let r = band * ROWS; r < (band + 1) * ROWS; r++) h = fmix(h ^ sig[r]!) ^ Math.imul(h, 31);
  // 30 bits: small-integer keys keep the Map fast (V8 boxes larger numbers).
  return h & 0x3fffffff;
}

/** An LSH index of signatures, keyed by an id (a line). */
export class MinHashIndex {
  private readonly bands = Array.from({ length: BANDS }, () => new Map<number, number[]>());
  private readonly sigs = new Map<number, Uint32Array>();

  get size(): number {
    return this.sigs.size;
  }

  add(id: number, sig: Uint32Array): void {
    this.sigs.set(id, sig);
    for (let b = 0; b < BANDS; b++) {
      const k = bandKey(sig, b);
      const list = this.bands[b]!.get(k);
      if (list === undefined) this.bands[b]!.set(k, [id]);
      // A bucket of many near-copies needs only its first members to be found again: capping keeps queries O(1).
      else if (list.length < BUCKET_CAP) list.push(id);
    }
  }

  /** The most similar indexed id with estimated Jaccard ≥ threshold (earliest on ties), or null. */
  best(sig: Uint32Array, threshold: number): { id: number; similarity: number } | null {
    let best: { id: number; similarity: number } | null = null;
    const seen: number[] = [];
    for (let b = 0; b < BANDS; b++) {
      for (const id of this.bands[b]!.get(bandKey(sig, b)) ?? []) {
        if (seen.includes(id)) continue;
        seen.push(id);
        const s = similarity(sig, this.sigs.get(id)!);
        if (s >= threshold && (best === null || s > best.similarity || (s === best.similarity && id < best.id))) best = { id, similarity: s };
      }
    }
    return best;
  }
}
