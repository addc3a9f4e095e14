// Seeded, reproducible random numbers for weight init, data shuffling and dropout masks.
// xoshiro128** 1.1 (Blackman & Vigna, https://prng.di.unimi.it/xoshiro128starstar.c) seeded by splitmix32.

const TWO_POW_MINUS_32 = 1 / 4294967296;
const TWO_POW_MINUS_24 = 1 / 16777216;

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/**
 * splitmix32 step (a 32-bit variant of Vigna's splitmix64, as used to seed xoshiro from one number).
 * Returns [output, nextState].
 */
function splitmix32(state: number): [number, number] {
  const next = (state + 0x9e3779b9) >>> 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  z = (z ^ (z >>> 16)) >>> 0;
  return [z, next];
}

/**
 * A seeded PRNG: xoshiro128** (period 2^128 - 1, passes BigCrush), 4 x 32-bit words of state.
 * The whole state is `getState()` (4 numbers); `Rng.fromState` resumes the exact stream, so a
 * resumed training run draws the same numbers as one that never stopped.
 */
export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;

  /** Any integer seed (negative and > 2^32 values are folded into 32 bits, fractions truncated). */
  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new RangeError(`Rng seed must be a finite number, got ${seed}`);
    const hi = Math.floor(Math.trunc(seed) / 4294967296) >>> 0;
    let sm = (Math.trunc(seed) >>> 0) ^ Math.imul(hi, 0x27d4eb2d);
    const words: number[] = [];
    for (let i = 0; i < 4; i++) {
      const [z, next] = splitmix32(sm);
      sm = next;
      words.push(z);
    }
    [this.s0, this.s1, this.s2, this.s3] = words as [number, number, number, number];
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // the all-zero state is a fixed point
  }

  /** The next 32 random bits as an unsigned integer in [0, 2^32). */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 = (this.s2 ^ this.s0) >>> 0;
    this.s3 = (this.s3 ^ this.s1) >>> 0;
    this.s1 = (this.s1 ^ this.s2) >>> 0;
    this.s0 = (this.s0 ^ this.s3) >>> 0;
    this.s2 = (this.s2 ^ t) >>> 0;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  uniform(): number {
    return this.nextUint32() * TWO_POW_MINUS_32;
  }

  /** Uniform integer in [0, n) (n ≤ 2^32), without modulo bias (Lemire-style rejection). */
  int(n: number): number {
    if (!(n >= 1 && n <= 4294967296) || !Number.isInteger(n)) throw new RangeError(`Rng.int bound must be an integer in [1, 2^32], got ${n}`);
    const limit = 4294967296 - (4294967296 % n);
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % n;
    }
  }

  /** One normal sample (Box-Muller; uses two uniforms and discards the second variate, so state stays 4 words). */
  normal(mean = 0, std = 1): number {
    const u1 = 1 - this.uniform(); // (0, 1]: log is finite
    const u2 = this.uniform();
    return mean + std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /**
   * Fill with uniform values in [lo, hi). Uses 24-bit uniforms so that the float32 result never rounds up to hi
   * for |lo|, |hi| of similar magnitude (as torch's uniform_ on float32).
   */
  fillUniform(arr: Float32Array | Float64Array, lo: number, hi: number): void {
    const span = hi - lo;
    for (let i = 0; i < arr.length; i++) {
      const v = lo + span * ((this.nextUint32() >>> 8) * TWO_POW_MINUS_24);
      arr[i] = v;
      if (arr[i]! >= hi && hi > lo) arr[i] = lo; // float32 rounding guard: stay in [lo, hi)
    }
  }

  /** Fill with N(mean, std²) samples; Box-Muller pairs (both variates used), deterministic for a given length. */
  fillNormal(arr: Float32Array | Float64Array, mean = 0, std = 1): void {
    const n = arr.length;
    let i = 0;
    for (; i + 1 < n; i += 2) {
      const r = Math.sqrt(-2 * Math.log(1 - this.uniform()));
      const theta = 2 * Math.PI * this.uniform();
      arr[i] = mean + std * r * Math.cos(theta);
      arr[i + 1] = mean + std * r * Math.sin(theta);
    }
    if (i < n) arr[i] = this.normal(mean, std);
  }

  /** Fisher-Yates shuffle in place; returns the same array. */
  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = a[i]!;
      a[i] = a[j]!;
      a[j] = tmp;
    }
    return a;
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): number[] {
    return this.shuffle(Array.from({ length: n }, (_, i) => i));
  }

  /**
   * Advances the state by 2^64 draws (the reference `jump()`): splits one seed into non-overlapping streams,
   * e.g. `const dropoutRng = rng.split()` for a separate purpose that does not disturb the data order.
   */
  jump(): void {
    let t0 = 0;
    let t1 = 0;
    let t2 = 0;
    let t3 = 0;
    for (const word of [0x8764000b, 0xf542d2d3, 0x6fa035c3, 0x77f2db5b]) {
      for (let b = 0; b < 32; b++) {
        if ((word >>> b) & 1) {
          t0 ^= this.s0;
          t1 ^= this.s1;
          t2 ^= this.s2;
          t3 ^= this.s3;
        }
        this.nextUint32();
      }
    }
    this.s0 = t0 >>> 0;
    this.s1 = t1 >>> 0;
    this.s2 = t2 >>> 0;
    this.s3 = t3 >>> 0;
  }

  /** A generator for an independent stream: a copy of this one, jumped ahead 2^64 draws; this one is then jumped too. */
  split(): Rng {
    const child = Rng.fromState(this.getState());
    child.jump();
    this.jump();
    this.jump();
    return child;
  }

  /** The full generator state (4 unsigned 32-bit words); JSON-safe. */
  getState(): number[] {
    return [this.s0, this.s1, this.s2, this.s3];
  }

  /** Restore a generator saved with getState(): it continues the exact same stream. */
  static fromState(s: number[]): Rng {
    if (s.length !== 4 || s.some((w) => !Number.isInteger(w) || w < 0 || w > 0xffffffff)) {
      throw new RangeError(`Rng state must be 4 unsigned 32-bit integers, got ${JSON.stringify(s)}`);
    }
    if (s.every((w) => w === 0)) throw new RangeError('Rng state must not be all zeros');
    const r = new Rng(0);
    [r.s0, r.s1, r.s2, r.s3] = s as [number, number, number, number];
    return r;
  }
}
