// `peft-studio inspect-data RECIPE [--index N | --line L] [--split train|eval] [--json]`: one example's tokens exactly
// as the trainer feeds them (labels, special tokens, truncation) and the data set's statistics (CONTRACTS.md §7).
import type { CliCommand } from '../command';
import { UsageError } from '../../core/errors';
import { inspectData, type DataInspection } from '../../core/train/inspectData';
import type { DatasetStats, ExampleView } from '../../core/train/data/inspect';

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
const lines = (xs: number[], n: number): string => (xs.length === 0 ? '' : `: lines ${xs.join(', ')}${n > xs.length ? ', ...' : ''}`);

export function statsText(s: DatasetStats, role: string): string[] {
  const out = [
    `${role} data: ${s.file} (${s.format}): ${s.examples} examples → ${s.sequences} sequences; max_length ${s.maxLength}, packing ${s.packing ? 'on' : 'off'}`,
    `lengths in tokens: min ${s.lengths.min}  median ${s.lengths.median}  mean ${s.lengths.mean.toFixed(1)}  p95 ${s.lengths.p95}  max ${s.lengths.max}`,
  ];
  const most = Math.max(1, ...s.histogram.map((b) => b.count));
  for (const b of s.histogram) {
    const bar = '#'.repeat(Math.round((30 * b.count) / most));
    out.push(`  (${b.from}, ${b.to}]`.padEnd(18) + `${String(b.count).padStart(7)}  ${bar}${b.from >= s.maxLength ? '  (truncated)' : ''}`);
  }
  out.push(`truncated: ${s.truncated.count} examples, ${s.truncated.tokensCut} tokens cut (${s.truncated.reason})`);
  out.push(`dropped: ${s.dropped.count} (${s.dropped.reason})${lines(s.dropped.lines, s.dropped.count)}`);
  out.push(`unlabeled: ${s.unlabeled.count} (${s.unlabeled.reason})${lines(s.unlabeled.lines, s.unlabeled.count)}`);
  out.push(`label tokens: ${s.tokens.label} of ${s.tokens.input} fed tokens (${pct(s.tokens.labelShare)})`);
  out.push(`${s.packing ? 'packing' : 'padding'} efficiency: ${pct(s.efficiency.value)} (${s.tokens.input} tokens in ${s.efficiency.slots} slots; ${s.efficiency.how})`);
  if (s.steps !== undefined) {
    const st = s.steps;
    out.push(`steps: ${st.sequencesPerEpoch} sequences ÷ ${st.globalBatch} per optimizer step = ${st.stepsPerEpoch} steps an epoch; ${st.totalSteps} steps in all (${st.epochs.toFixed(2)} epochs)`);
  }
  return out;
}

export function exampleText(e: ExampleView, color: boolean): string[] {
  const where = e.packed !== undefined ? `, packed into row${e.packed.length > 1 ? 's' : ''} ${e.packed.map((p) => `${p.row} [${p.start}, ${p.end})`).join(', ')}` : '';
  const step = e.firstStep !== undefined ? `, first used at step ${e.firstStep.step} (micro-batch ${e.firstStep.microBatch})` : '';
  const out = [`example ${e.index} (line ${e.line}): ${e.status}, ${e.length} tokens, ${e.fedLength} fed, ${e.labelTokens} trained${where}${step}`, '  pos      id  label    token'];
  const paint = (s: string, code: number): string => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
  for (const t of e.tokens) {
    if (t.pos === e.truncatedAt) out.push(`  ── truncated here: positions ${t.pos}… are not fed (max_length) ──`);
    const label = t.label === -100 ? 'masked' : 'trained';
    const row = `  ${String(t.pos).padStart(4)} ${String(t.id).padStart(7)}  ${label.padEnd(8)} ${JSON.stringify(t.text)}${t.special ? '  [special]' : ''}${t.fed ? '' : '  (not fed)'}`;
    out.push(t.label === -100 ? paint(row, 2) : paint(row, 32));
  }
  return out;
}

export function lintText(l: DataInspection['lint']): string[] {
  const codes = Object.entries(l.counts);
  if (codes.length === 0) return ['diagnostics: none (format checks and data-safety lint)'];
  return [`diagnostics: ${codes.map(([c, n]) => `${c} ${n}`).join(', ')}  (peft-studio validate FILE lists them all)`, ...l.first.slice(0, 5).map((p) => `  line ${p.line}: ${p.severity}: ${p.message} [${p.code}]`)];
}

export function inspectionText(r: DataInspection, color: boolean): string {
  const here = r.lint.atExample.map((p) => `  ${p.severity}: ${p.message} [${p.code}]`);
  return [...statsText(r.stats, r.split), ...lintText(r.lint), '', ...exampleText(r.example, color), ...(here.length > 0 ? ['diagnostics on this line:', ...here] : [])].join('\n');
}

function intOption(v: unknown, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || !/^\d+$/.test(v) || !Number.isSafeInteger(n)) throw new UsageError(`--${name} must be a non-negative integer, got "${String(v)}"`);
  return n;
}

export const inspectDataCommand: CliCommand = {
  name: 'inspect-data',
  summary: 'Show the tokens the trainer feeds for an example (labels, truncation, packing) and data-set statistics',
  help: [
    'Usage: peft-studio inspect-data RECIPE [--index N | --line L] [--split train|eval] [--json]',
    '',
    'Prepares the recipe\'s data with the trainer\'s own functions (chat template, prompt masking, EOS,',
    'truncation, packing) and prints the statistics of the set and one example token by token: id, text,',
    'label (-100 = masked, no loss), special tokens, and where truncation cuts it.',
    '',
    'Options:',
    '  --index N   the N-th example (0-based, file order; default 0)',
    '  --line L    the example on JSONL line L (1-based)',
    '  --split S   train (default) or eval',
    '  --json      print {"recipe","split","stats","example","notes","lint"}',
  ].join('\n'),
  options: { index: { type: 'string' }, line: { type: 'string' }, split: { type: 'string' }, json: { type: 'boolean' } },
  async run(args, io) {
    const [recipe, ...extra] = args.positionals;
    if (recipe === undefined) throw new UsageError('missing RECIPE', 'Example: peft-studio inspect-data peft-train.yaml --index 3');
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
    const split = args.values['split'] ?? 'train';
    if (split !== 'train' && split !== 'eval') throw new UsageError(`--split must be train or eval, got "${String(split)}"`);
    const index = intOption(args.values['index'], 'index');
    const line = intOption(args.values['line'], 'line');
    if (index !== undefined && line !== undefined) throw new UsageError('give --index or --line, not both');
    const r = await inspectData({ configFile: recipe, split, ...(index !== undefined ? { index } : {}), ...(line !== undefined ? { line } : {}) });
    if (args.values['json'] === true) {
      io.out(JSON.stringify(r));
      return 0;
    }
    for (const n of r.notes) if (n.level === 'warning') io.err(`warning: ${n.message}`);
    io.out(inspectionText(r, io.isTTY));
    return 0;
  },
};
