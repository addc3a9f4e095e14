// Number and time formatting for the dashboard's labels, tables and axes (pure, no DOM).
// Keeps units explicit: bytes in KiB/MiB/GiB, parameter counts in K/M/B, durations in s/m/h.
export { formatDuration } from '../../../src/core/runs/runState';

export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const a = Math.abs(n);
  if (a >= 1e9) return `${trim(n / 1e9)}B`;
  if (a >= 1e6) return `${trim(n / 1e6)}M`;
  if (a >= 1e3) return `${trim(n / 1e3)}K`;
  return String(n);
}

export function formatInteger(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',') : String(n);
}

export function formatBytes(b: number): string {
  if (!Number.isFinite(b)) return String(b);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = b;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : trim(v)} ${units[i] ?? 'B'}`;
}

export function formatPercent(p: number): string {
  if (!Number.isFinite(p)) return String(p);
  if (p === 0) return '0%';
  if (Math.abs(p) < 0.01) return `${p.toExponential(1)}%`;
  return `${p < 1 ? p.toFixed(3) : p.toFixed(2)}%`;
}

/** A compact number for axis ticks and tables: 2.315, 0.0002 → 2e-4, 0.000105 → 1.05e-4, 12,345. */
export function formatValue(x: number | undefined): string {
  if (x === undefined) return '–';
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a === 0) return '0';
  if (a < 1e-3 || a >= 1e6) return x.toExponential(2).replace(/\.?0+e/, 'e').replace('e+', 'e');
  if (a >= 1000) return formatInteger(x);
  return Number(x.toPrecision(4)).toString();
}

function trim(v: number): string {
  return Number(v.toFixed(Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2)).toString();
}
