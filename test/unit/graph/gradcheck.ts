// Finite-difference gradient checking through onnxruntime-node: many cases share one graph and one session.
// Each case's loss is Σ f(x)·R (R a fixed random tensor); autodiff gradients are compared with central differences.
import * as G from '../../../src/core/graph';

export type Gen = 'normal' | 'positive' | 'distinct' | number[];

export interface GradCase {
  name: string;
  /** Trainable inputs of the case (the gradient is checked for each). */
  inputs: Record<string, { shape: number[]; gen?: Gen }>;
  f: (x: Record<string, G.Value>, g: G.Graph) => G.Value;
}

export interface GradResult {
  /** max |analytic − numeric| / max |numeric| over all inputs of the case. */
  maxRel: number;
  maxAbs: number;
  /** Elements checked. */
  n: number;
}

/** Deterministic pseudo-random numbers (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function fill(n: number, gen: Gen, r: () => number): number[] {
  if (Array.isArray(gen)) return gen;
  if (gen === 'positive') return Array.from({ length: n }, () => 0.5 + 1.5 * r());
  if (gen === 'distinct') {
    const v = Array.from({ length: n }, (_, i) => (i - n / 2) * 0.37 + 0.11);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [v[i], v[j]] = [v[j]!, v[i]!];
    }
    return v;
  }
  return Array.from({ length: n }, () => 2 * r() - 1);
}

const arr = (dtype: 'float32' | 'float64', xs: number[]): Float32Array | Float64Array =>
  dtype === 'float64' ? Float64Array.from(xs) : Float32Array.from(xs);

/** Runs every case; returns per-case errors. `h` is the central-difference step. */
export async function gradCheck(cases: GradCase[], dtype: 'float32' | 'float64' = 'float64', h = 1e-6): Promise<Map<string, GradResult>> {
  const g = new G.Graph('gradcheck');
  const r = rng(1234);
  const feeds: Record<string, Float32Array | Float64Array> = {};
  const plan: { name: string; loss: string; inputs: { feed: string; grad: string }[] }[] = [];
  cases.forEach((c, k) => {
    const xs: Record<string, G.Value> = {};
    const ins: { feed: string; grad: string }[] = [];
    for (const [name, spec] of Object.entries(c.inputs)) {
      const feed = `c${k}.${name}`;
      xs[name] = g.input(feed, dtype, spec.shape);
      feeds[feed] = arr(dtype, fill(spec.shape.reduce((p, q) => p * q, 1), spec.gen ?? 'normal', r));
    }
    const y = c.f(xs, g);
    const shape = y.shape as number[];
    const R = g.initializer(`c${k}.R`, dtype, shape, arr(dtype, fill(shape.reduce((p, q) => p * q, 1), 'normal', r)));
    const loss = g.output(G.reduceSum(G.mul(y, R), undefined, false), `c${k}.loss`);
    const grads = G.gradients(g, loss, Object.values(xs));
    for (const [name, v] of Object.entries(xs)) {
      const gname = `c${k}.grad.${name}`;
      g.output(grads.get(v)!, gname);
      ins.push({ feed: v.name, grad: gname });
    }
    plan.push({ name: c.name, loss: loss.name, inputs: ins });
  });
  const session = await G.GraphSession.create(g, { graphOptimizationLevel: 'disabled' });
  const results = new Map<string, GradResult>();
  try {
    const base = await session.run(feeds);
    for (const p of plan) {
      let maxAbs = 0;
      let maxNum = 0;
      let n = 0;
      for (const inp of p.inputs) {
        const x = feeds[inp.feed]!;
        const analytic = base[inp.grad]!.data as Float64Array;
        for (let i = 0; i < x.length; i++) {
          const x0 = x[i]!;
          x[i] = x0 + h;
          const lp = Number((await session.run(feeds, [p.loss]))[p.loss]!.data[0]);
          x[i] = x0 - h;
          const lm = Number((await session.run(feeds, [p.loss]))[p.loss]!.data[0]);
          x[i] = x0;
          const num = (lp - lm) / (2 * h);
          maxAbs = Math.max(maxAbs, Math.abs(num - analytic[i]!));
          maxNum = Math.max(maxNum, Math.abs(num));
          n++;
        }
      }
      results.set(p.name, { maxRel: maxAbs / Math.max(maxNum, 1e-12), maxAbs, n });
    }
  } finally {
    await session.release();
  }
  return results;
}
