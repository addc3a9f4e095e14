// The dataset inspector webview (browser bundle): one example's tokens coloured trained vs masked, special tokens and
// the truncation point visible, the data set's statistics with a length histogram (Chart.js) and its diagnostics.
import { BarController, BarElement, CategoryScale, Chart, LinearScale, Tooltip } from 'chart.js';
import type { DataInspectionView, ExampleView, HostToInspector, InspectorToHost, InspectToken } from '../../src/shared/inspector';
import { readTheme } from './view/charts';
import { el } from './view/tables';
import { button, registerToolkit } from './ui/toolkit';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Tooltip);

interface VsCodeApi {
  postMessage(msg: InspectorToHost): void;
  getState(): unknown;
  setState(s: { inspection?: DataInspectionView }): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
registerToolkit();
const root = document.getElementById('app') ?? document.body;
let chart: Chart<'bar'> | undefined;

/** A token's text with its whitespace made visible (a leading space as ·, tabs as →, newlines as ↵ and a break). */
export function visibleText(t: string): string {
  return t.replace(/ /g, '·').replace(/\t/g, '→').replace(/\r/g, '␍').replace(/\n/g, '↵\n');
}

function tokenSpan(t: InspectToken): HTMLElement {
  const kind = !t.fed ? 'cut' : t.label === -100 ? 'masked' : 'trained';
  const cls = `tok ${kind}${t.special ? ' special' : ''}`;
  const title = `pos ${t.pos} · id ${t.id}${t.piece !== undefined ? ` · ${JSON.stringify(t.piece)}` : ''} · label ${t.label}${t.label === -100 ? ' (masked)' : ' (trained)'}${t.special ? ' · special' : ''}${t.fed ? '' : ' · not fed (truncated)'}`;
  return el('span', { class: cls, title, 'data-id': String(t.id), 'data-label': String(t.label) }, visibleText(t.text));
}

function tokensView(e: ExampleView): HTMLElement {
  const box = el('div', { id: 'tokens', class: 'tokens', 'aria-label': 'Tokens of the example' });
  for (const t of e.tokens) {
    if (t.pos === e.truncatedAt) box.append(el('span', { class: 'cut-mark', title: 'max_length: the tokens after this are not fed' }, `✂ truncated at ${t.pos}`));
    box.append(tokenSpan(t));
  }
  const trained = e.tokens.filter((t) => t.fed && t.label !== -100).length;
  box.dataset['trained'] = String(trained);
  box.dataset['masked'] = String(e.tokens.filter((t) => t.fed && t.label === -100).length);
  box.dataset['cut'] = String(e.tokens.filter((t) => !t.fed).length);
  return box;
}

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;

function row(k: string, v: string): HTMLTableRowElement {
  return el('tr', {}, el('th', { scope: 'row' }, k), el('td', {}, v));
}

function statsTable(r: DataInspectionView): HTMLElement {
  const s = r.stats;
  const rows = [
    row('examples → sequences', `${s.examples} → ${s.sequences} (${s.format}, max_length ${s.maxLength}, packing ${s.packing ? 'on' : 'off'})`),
    row('lengths (tokens)', `min ${s.lengths.min} · median ${s.lengths.median} · mean ${s.lengths.mean.toFixed(1)} · p95 ${s.lengths.p95} · max ${s.lengths.max}`),
    row('truncated', `${s.truncated.count} examples, ${s.truncated.tokensCut} tokens cut (${s.truncated.reason})`),
    row('dropped', `${s.dropped.count}${s.dropped.lines.length > 0 ? ` (lines ${s.dropped.lines.join(', ')})` : ''}: ${s.dropped.reason}`),
    row('unlabeled', `${s.unlabeled.count}${s.unlabeled.lines.length > 0 ? ` (lines ${s.unlabeled.lines.join(', ')})` : ''}: ${s.unlabeled.reason}`),
    row('label tokens', `${s.tokens.label} of ${s.tokens.input} (${pct(s.tokens.labelShare)})`),
    row(s.packing ? 'packing efficiency' : 'padding efficiency', `${pct(s.efficiency.value)} (${s.efficiency.how})`),
  ];
  if (s.steps !== undefined) rows.push(row('steps', `${s.steps.sequencesPerEpoch} sequences ÷ ${s.steps.globalBatch} = ${s.steps.stepsPerEpoch} steps an epoch; ${s.steps.totalSteps} in all (${s.steps.epochs.toFixed(2)} epochs)`));
  return el('table', { id: 'stats', class: 'grid stats-table' }, ...rows);
}

function histogram(r: DataInspectionView): HTMLElement {
  const box = el('div', { class: 'chart-box' });
  const canvas = el('canvas', { id: 'length-histogram', role: 'img', 'aria-label': 'Token length histogram' });
  box.append(canvas);
  const theme = readTheme();
  const b = r.stats.histogram;
  chart?.destroy();
  chart = new Chart(canvas, {
    type: 'bar',
    data: {
      labels: b.map((x) => (x.from >= r.stats.maxLength ? `> ${x.from}` : `${x.from + 1}–${x.to}`)),
      datasets: [{ label: 'examples', data: b.map((x) => x.count), backgroundColor: b.map((x) => (x.from >= r.stats.maxLength ? theme.palette[5] : theme.palette[0])) as string[] }],
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      plugins: { tooltip: { enabled: true }, legend: { display: false } },
      scales: {
        x: { title: { display: true, text: 'tokens per example (before truncation)', color: theme.foreground }, ticks: { color: theme.foreground }, grid: { color: theme.grid } },
        y: { title: { display: true, text: 'examples', color: theme.foreground }, ticks: { color: theme.foreground, precision: 0 }, grid: { color: theme.grid }, beginAtZero: true },
      },
    },
  });
  canvas.dataset['buckets'] = String(b.length);
  return box;
}

function lintView(r: DataInspectionView): HTMLElement {
  const codes = Object.entries(r.lint.counts);
  const box = el('section', { id: 'lint', 'aria-label': 'Diagnostics of the data set' }, el('h3', {}, 'Diagnostics'));
  if (codes.length === 0) {
    box.append(el('p', {}, 'No diagnostics: format checks and data-safety lint are clean.'));
    return box;
  }
  box.append(el('p', {}, codes.map(([c, n]) => `${c} ${n}`).join(' · ')));
  const list = el('ul', {});
  for (const p of r.lint.first) {
    const link = el('a', { href: '#', class: `sev-${p.severity}` }, `line ${p.line}`);
    link.addEventListener('click', (ev) => {
      ev.preventDefault();
      vscode.postMessage({ type: 'openLine', file: r.stats.file, line: p.line });
    });
    list.append(el('li', {}, link, ` ${p.severity}: ${p.message} [${p.code}]`));
  }
  box.append(list);
  return box;
}

function draw(r: DataInspectionView): void {
  const e = r.example;
  const prev = button({ id: 'prev', label: '◀ Previous', ariaLabel: 'Previous example', onClick: () => vscode.postMessage({ type: 'goto', index: Math.max(0, e.index - 1) }) });
  const next = button({ id: 'next', label: 'Next ▶', ariaLabel: 'Next example', onClick: () => vscode.postMessage({ type: 'goto', index: Math.min(r.stats.examples - 1, e.index + 1) }) });
  const where = [
    `${e.status}`,
    `${e.length} tokens, ${e.fedLength} fed, ${e.labelTokens} trained`,
    e.truncatedAt !== null ? `truncated at ${e.truncatedAt}` : '',
    e.packed !== undefined ? `packed into ${e.packed.map((p) => `row ${p.row} [${p.start}, ${p.end})`).join(', ')}` : '',
    e.firstStep !== undefined ? `first used at step ${e.firstStep.step}, micro-batch ${e.firstStep.microBatch}` : '',
  ].filter((x) => x !== '');
  const legend = el('div', { class: 'legend' }, el('span', { class: 'tok trained' }, 'trained (label = next token)'), el('span', { class: 'tok masked' }, 'masked (label -100)'), el('span', { class: 'tok masked special' }, 'special token'), el('span', { class: 'tok cut' }, 'not fed (truncated)'));
  root.replaceChildren(
    el('div', { class: 'toolbar' }, el('h2', {}, `${r.split} data · example ${e.index} (line ${e.line})`), prev, next),
    el('p', { class: 'file' }, r.stats.file),
    el('p', { id: 'example-summary' }, where.join(' · ')),
    ...r.lint.atExample.map((p) => el('p', { class: `example-problem sev-${p.severity}` }, `${p.severity}: ${p.message} [${p.code}]`)),
    legend,
    tokensView(e),
    el('h3', {}, 'Data set'),
    statsTable(r),
    histogram(r),
    lintView(r),
    ...r.notes.filter((n) => n.level === 'warning').map((n) => el('p', { class: 'note' }, `⚠ ${n.message}`)),
  );
}

window.addEventListener('message', (ev: MessageEvent<HostToInspector>) => {
  const m = ev.data;
  if (m.type === 'loading') root.replaceChildren(el('p', { id: 'loading' }, `Preparing ${m.what} with the trainer's data pipeline…`));
  else if (m.type === 'error') root.replaceChildren(el('p', { id: 'error', class: 'sev-error' }, m.message));
  else {
    vscode.setState({ inspection: m.inspection });
    draw(m.inspection);
  }
});

const saved = (vscode.getState() as { inspection?: DataInspectionView } | undefined)?.inspection;
if (saved !== undefined) draw(saved);
vscode.postMessage({ type: 'ready' });
