// Pure parts of the training bench: FLOPs per token of a LoRA step (the formula printed with the results),
// the summary of an onnxruntime profile (time per op type), and the result table.
import type { ModelInventory } from '../src/core/hf/types';

export interface FlopsBreakdown {
  /** Base parameters the tokens pass through as matmuls: decoder-layer linears + the output head (not the embedding lookup). */
  baseMatmulParams: number;
  /** 4·N: forward 2N + activation gradients 2N (frozen base: no weight gradients). */
  base: number;
  /** 12·L·T·d: forward QKᵀ and P·V (2·2·T·d per token per layer), backward twice the forward. */
  attention: number;
  /** Adapted modules: 6·r·(in + out) per token (forward, activation and weight gradients); not in `total`. */
  lora: number;
  /** base + attention: what "effective GFLOP/s" counts. */
  total: number;
}

export const FLOPS_FORMULA = 'FLOPs/token = 4·N + 12·L·T·d  (N = base matmul params: layer linears + lm_head; L layers, T = seq, d = heads·head_dim; '
  + 'attention fwd 2·2·T·d per token per layer, bwd 2× fwd; LoRA 6·r·(in+out) per module listed apart, not counted)';

/** FLOPs per trained token of one LoRA step at sequence length `seq` (full T×T attention, as eager computes it). */
export function flopsPerToken(inv: ModelInventory, seq: number, lora: { r: number; inFeatures: number; outFeatures: number }[]): FlopsBreakdown {
  const spec = inv.spec;
  let n = 0;
  for (const m of inv.modules) {
    if ((m.kind === 'linear' || m.kind === 'conv1d') && (m.layer !== null || m.isOutputHead)) n += m.inFeatures * m.outFeatures;
  }
  // A tied head has no module of its own in some inventories: count the vocab projection once.
  if (!inv.modules.some((m) => m.isOutputHead)) n += spec.vocabSize * spec.hiddenSize;
  const d = spec.numHeads * spec.headDim;
  const attention = 12 * spec.numLayers * seq * d;
  const loraFlops = lora.reduce((s, t) => s + 6 * t.r * (t.inFeatures + t.outFeatures), 0);
  return { baseMatmulParams: n, base: 4 * n, attention, lora: loraFlops, total: 4 * n + attention };
}

/** One event of ORT's profile (Chrome trace format). */
export interface OrtProfileEvent {
  cat: string;
  name: string;
  ts: number;
  dur: number;
  args?: { op_name?: string; provider?: string; [k: string]: unknown };
}

export interface OpSummary {
  op: string;
  provider: string;
  /** Milliseconds per run (kernel time summed over the op's nodes). */
  msPerRun: number;
  /** Share of all kernel time. */
  share: number;
  nodesPerRun: number;
}

export interface ProfileSummary {
  runs: number;
  /** Mean wall time of one model_run (ms). */
  runMs: number;
  /** Sum of kernel times per run (ms); below runMs when threads idle or the host copies. */
  kernelMs: number;
  ops: OpSummary[];
  topNodes: { node: string; op: string; msPerRun: number }[];
}

/**
 * Kernel time per op type over the profiled session's runs, leaving out the first `skipRuns` model_run events
 * (warm-up: allocation and first-touch costs).
 */
export function summariseOrtProfile(events: OrtProfileEvent[], skipRuns = 1): ProfileSummary {
  const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').sort((a, b) => a.ts - b.ts);
  const kept = runs.slice(skipRuns);
  const inKept = (e: OrtProfileEvent): boolean => kept.some((r) => e.ts >= r.ts && e.ts <= r.ts + r.dur);
  const byOp = new Map<string, { provider: string; us: number; nodes: number }>();
  const byNode = new Map<string, { op: string; us: number }>();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time') || !inKept(e)) continue;
    const op = e.args?.op_name ?? '?';
    const o = byOp.get(op) ?? { provider: String(e.args?.provider ?? ''), us: 0, nodes: 0 };
    o.us += e.dur;
    o.nodes += 1;
    byOp.set(op, o);
    const node = e.name.slice(0, -'_kernel_time'.length);
    const nd = byNode.get(node) ?? { op, us: 0 };
    nd.us += e.dur;
    byNode.set(node, nd);
  }
  const n = Math.max(kept.length, 1);
  const kernelUs = [...byOp.values()].reduce((s, o) => s + o.us, 0);
  const ops = [...byOp].map(([op, o]) => ({ op, provider: o.provider, msPerRun: o.us / n / 1000, share: kernelUs > 0 ? o.us / kernelUs : 0, nodesPerRun: o.nodes / n }))
    .sort((a, b) => b.msPerRun - a.msPerRun);
  const topNodes = [...byNode].map(([node, v]) => ({ node, op: v.op, msPerRun: v.us / n / 1000 })).sort((a, b) => b.msPerRun - a.msPerRun).slice(0, 15);
  return { runs: kept.length, runMs: kept.reduce((s, r) => s + r.dur, 0) / n / 1000, kernelMs: kernelUs / n / 1000, ops, topNodes };
}

export interface SideResult {
  tokensPerS: number;
  medianStepS: number;
  peakRssBytes: number;
}

export interface BenchRow {
  device: string;
  ours: SideResult;
  /** null when the reference did not run (no torch for that device). */
  torch: SideResult | null;
  flops: FlopsBreakdown;
  /** With --peak-tflops on a GPU device: our effective FLOP/s over the matrix peak. */
  peakFraction: number | null;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const mib = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`;
const ratio = (a: number, b: number | undefined): string => (b === undefined || !(b > 0) ? 'n/a' : `${(a / b).toFixed(2)}×`);

/** The result table: one row per device, ours vs torch and their ratio. */
export function formatTable(rows: readonly BenchRow[]): string {
  const head = ['device', 'tok/s ours', 'tok/s torch', 'ratio', 'step ours', 'step torch', 'RSS ours', 'RSS torch', 'RSS ratio', 'GFLOP/s ours', 'GFLOP/s torch', 'peak frac'];
  const body = rows.map((r) => {
    const g = (s: SideResult): string => ((r.flops.total * s.tokensPerS) / 1e9).toFixed(1);
    return [
      r.device,
      r.ours.tokensPerS.toFixed(1),
      r.torch?.tokensPerS.toFixed(1) ?? 'n/a',
      ratio(r.ours.tokensPerS, r.torch?.tokensPerS),
      `${r.ours.medianStepS.toFixed(2)} s`,
      r.torch !== null ? `${r.torch.medianStepS.toFixed(2)} s` : 'n/a',
      mib(r.ours.peakRssBytes),
      r.torch !== null ? mib(r.torch.peakRssBytes) : 'n/a',
      ratio(r.ours.peakRssBytes, r.torch?.peakRssBytes),
      g(r.ours),
      r.torch !== null ? g(r.torch) : 'n/a',
      r.peakFraction === null ? '-' : `${(100 * r.peakFraction).toFixed(1)}%`,
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

export function formatProfile(p: ProfileSummary, top = 12): string {
  const lines = [`ORT profile: ${p.runs} run(s) kept, ${p.runMs.toFixed(0)} ms per run, kernels ${p.kernelMs.toFixed(0)} ms per run`];
  for (const o of p.ops.slice(0, top)) {
    lines.push(`  ${o.op.padEnd(22)} ${o.msPerRun.toFixed(1).padStart(9)} ms  ${(100 * o.share).toFixed(1).padStart(5)}%  ${o.nodesPerRun.toFixed(0).padStart(5)} nodes  ${o.provider}`);
  }
  lines.push('  top nodes:');
  for (const nd of p.topNodes.slice(0, 8)) lines.push(`    ${nd.node} (${nd.op}) ${nd.msPerRun.toFixed(1)} ms`);
  return lines.join('\n');
}
