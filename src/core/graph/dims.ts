// Symbolic dimensions of the tensor IR: a dim is a number or a product of named symbols ('B', 'T', 'B*T', '4*T').
// Shape inference multiplies, divides and broadcasts these; ONNX writes them as dim_value / dim_param.

/** A dimension: a known size, or a monomial of symbols such as 'B', 'T', 'B*T' or '2*T'. */
export type Dim = number | string;
export type Shape = readonly Dim[];

interface Monomial {
  coef: number;
  syms: string[];
}

function parse(d: Dim): Monomial {
  if (typeof d === 'number') return { coef: d, syms: [] };
  let coef = 1;
  const syms: string[] = [];
  for (const part of d.split('*')) {
    const p = part.trim();
    if (p === '') throw new Error(`bad symbolic dim "${d}"`);
    if (/^\d+$/.test(p)) coef *= Number(p);
    else syms.push(p);
  }
  syms.sort();
  return { coef, syms };
}

function format(m: Monomial): Dim {
  if (m.syms.length === 0) return m.coef;
  const s = m.syms.join('*');
  return m.coef === 1 ? s : `${m.coef}*${s}`;
}

/** Canonical form of a dim ('T*B' → 'B*T', '1*T' → 'T'). */
export function normDim(d: Dim): Dim {
  return format(parse(d));
}

export function dimEq(a: Dim, b: Dim): boolean {
  return normDim(a) === normDim(b);
}

export function shapeEq(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => dimEq(d, b[i] as Dim));
}

export function isStatic(s: Shape): s is readonly number[] {
  return s.every((d) => typeof d === 'number');
}

export function mulDims(...ds: Dim[]): Dim {
  const out: Monomial = { coef: 1, syms: [] };
  for (const d of ds) {
    const m = parse(d);
    out.coef *= m.coef;
    out.syms.push(...m.syms);
  }
  out.syms.sort();
  return format(out);
}

/** a / b when it is exact (symbols cancel, coefficients divide); undefined otherwise. */
export function divDims(a: Dim, b: Dim): Dim | undefined {
  const ma = parse(a);
  const mb = parse(b);
  if (mb.coef === 0 || ma.coef % mb.coef !== 0) return undefined;
  const syms = [...ma.syms];
  for (const s of mb.syms) {
    const i = syms.indexOf(s);
    if (i < 0) return undefined;
    syms.splice(i, 1);
  }
  return format({ coef: ma.coef / mb.coef, syms });
}

export function numel(s: Shape): Dim {
  return mulDims(...s);
}

export function shapeStr(s: Shape): string {
  return `[${s.join(', ')}]`;
}

/** numpy broadcasting of two shapes; undefined when they do not broadcast. */
export function broadcastShapes(a: Shape, b: Shape): Dim[] | undefined {
  const n = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const da = i < n - a.length ? 1 : (a[i - (n - a.length)] as Dim);
    const db = i < n - b.length ? 1 : (b[i - (n - b.length)] as Dim);
    if (dimEq(da, db)) out.push(normDim(da));
    else if (da === 1) out.push(normDim(db));
    else if (db === 1) out.push(normDim(da));
    else return undefined;
  }
  return out;
}

/** Normalizes a possibly negative axis against a rank; undefined when out of range. */
export function normAxis(axis: number, rank: number): number | undefined {
  const a = axis < 0 ? axis + rank : axis;
  return a >= 0 && a < rank ? a : undefined;
}
