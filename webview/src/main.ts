// The dashboard webview's entry point (browser bundle): receives runs and live events from the extension
// host, keeps the selection in getState/setState, and draws the runs list, run panels and Compare Runs.
import type { HostToWebview, RunSummary, RunView, WebviewToHost } from '../../src/shared/dashboard';
import { applyEvent } from '../../src/core/runs/runState';
import { compareChart, compareMetricChart, lossChart, metricChart, uniqueLabels, type MetricName } from './model/series';
import { compareFacts } from './model/compare';
import { compactRunsList } from './view/compact';
import { buildParamTable } from './model/paramTable';
import { ChartPanel, readTheme } from './view/charts';
import { compareFactsView, configView, el, paramTable, runStats, runsList } from './view/tables';
import { TRAIL_POINTS } from '../../src/shared/dashboard';
import { button, divider, registerToolkit, setDisabled } from './ui/toolkit';
import { evalAnswersView } from './view/evalAnswers';
import { alertList, systemStrip } from './view/monitor';
import { SweepPanel } from './view/sweep';

interface VsCodeApi {
  postMessage(msg: WebviewToHost): void;
  getState(): unknown;
  setState(s: PersistedState): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

interface PersistedState {
  selected?: string;
  compare: string[];
  smoothing: number;
  comparing: boolean;
}

const vscode = acquireVsCodeApi();

function loadState(): PersistedState {
  const s = vscode.getState() as Partial<PersistedState> | undefined;
  return {
    compare: Array.isArray(s?.compare) ? s.compare.filter((x): x is string => typeof x === 'string') : [],
    smoothing: typeof s?.smoothing === 'number' ? s.smoothing : 0.6,
    comparing: s?.comparing === true,
    ...(typeof s?.selected === 'string' ? { selected: s.selected } : {}),
  };
}

const state = loadState();
let runs: RunSummary[] = [];
let current: RunView | undefined;
let compared: RunView[] = [];
let scheduled = false;

registerToolkit();
/** The side-bar view is a compact run list that opens runs in the editor-area panel, where the details live. */
const compact = document.body.dataset['place'] === 'view';
const root = document.getElementById('app') ?? document.body;
const runsHost = el('div', { id: 'runs' });
const detail = el('section', { id: 'run-detail', 'aria-label': 'Selected run' });
const compareSection = el('section', { id: 'compare-view', 'aria-label': 'Compare runs' });
const compareButton = button({ id: 'compare-button', label: 'Compare', ariaLabel: 'Compare the checked runs', onClick: () => startCompare() });
const toolbar = el('div', { id: 'toolbar', class: 'toolbar' },
  el('h2', {}, 'Runs'),
  button({ id: 'refresh-button', label: 'Refresh', ariaLabel: 'Refresh runs', onClick: () => post({ type: 'refresh' }) }),
  ...(compact ? [] : [compareButton]));
if (compact) root.append(toolbar, runsHost);
else root.append(toolbar, runsHost, divider(), compareSection, detail);

const smoothingInput = el('input', { id: 'smoothing', type: 'range', min: '0', max: '0.99', step: '0.01', 'aria-label': 'Loss smoothing' });
smoothingInput.value = String(state.smoothing);
const smoothingValue = el('output', { id: 'smoothing-value', for: 'smoothing' }, state.smoothing.toFixed(2));
smoothingInput.addEventListener('input', () => {
  state.smoothing = Number(smoothingInput.value);
  smoothingValue.textContent = state.smoothing.toFixed(2);
  save();
  schedule();
});

const lossPanel = new ChartPanel('loss-chart', 'Loss');
const metricPanels: [MetricName, ChartPanel][] = [
  ['lr', new ChartPanel('lr-chart', 'Learning rate')],
  ['grad_norm', new ChartPanel('grad-norm-chart', 'Gradient norm')],
  ['tokens_per_s', new ChartPanel('tokens-chart', 'Throughput')],
  ['rss_bytes', new ChartPanel('memory-chart', 'Memory (worker RSS)')],
];
const comparePanel = new ChartPanel('compare-chart', 'Compare runs: train loss');
const compareLrPanel = new ChartPanel('compare-lr-chart', 'Compare runs: learning rate');
const compareGradPanel = new ChartPanel('compare-grad-norm-chart', 'Compare runs: gradient norm');
const compareFactsHost = el('div');
const statsHost = el('div');
const sweepPanel = new SweepPanel();
const systemHost = el('div');
const alertsHost = el('div');
const paramsHost = el('div');
const configHost = el('div');
const evalAnswersHost = el('div');
const title = el('h2', { id: 'run-title' });
const stopButton = button({ id: 'stop-button', label: 'Stop', ariaLabel: 'Stop training', onClick: () => post({ type: 'command', command: 'stop', ...(current ? { dir: current.dir } : {}) }) });
const resumeButton = button({ id: 'resume-button', label: 'Resume', ariaLabel: 'Resume this run', onClick: () => post({ type: 'command', command: 'resume', ...(current ? { dir: current.dir } : {}) }) });
const adapterButton = button({ id: 'open-adapter-button', label: 'Open adapter', ariaLabel: 'Open the adapter folder', onClick: () => post({ type: 'command', command: 'openAdapter', ...(current ? { dir: current.dir } : {}) }) });
lossPanel.addControl(el('div', { class: 'smoothing' }, el('label', { for: 'smoothing' }, 'Smoothing'), smoothingInput, smoothingValue));
detail.append(
  el('div', { class: 'toolbar run-toolbar' }, title, stopButton, resumeButton, adapterButton),
  alertsHost,
  statsHost,
  systemHost,
  el('div', { class: 'charts' }, lossPanel.element, ...metricPanels.map(([, p]) => p.element)),
  el('section', { class: 'card eval-answers-card', 'aria-label': 'Evaluation' }, el('h3', {}, 'Evaluation'), evalAnswersHost),
  sweepPanel.element,
  el('div', { class: 'extras' },
    el('section', { class: 'card', 'aria-label': 'Trainable parameters' }, el('h3', {}, 'Trainable parameters'), paramsHost),
    el('section', { class: 'card', 'aria-label': 'Configuration' }, el('h3', {}, 'Configuration'), configHost)),
);
compareSection.append(el('div', { class: 'toolbar' }, el('h2', {}, 'Compare runs'), button({ id: 'close-compare-button', label: 'Close', ariaLabel: 'Close the comparison', onClick: () => { state.comparing = false; save(); schedule(); } })),
  compareFactsHost, el('div', { class: 'charts' }, comparePanel.element, compareLrPanel.element, compareGradPanel.element));

function post(m: WebviewToHost): void {
  vscode.postMessage(m);
}

function save(): void {
  vscode.setState(state);
}

function select(dir: string): void {
  state.selected = dir;
  save();
  post({ type: 'selectRun', dir });
  schedule();
}

function startCompare(): void {
  if (state.compare.length < 2) return;
  state.comparing = true;
  save();
  post({ type: 'compareRuns', dirs: state.compare });
}

/** Coalesces bursts of events into one redraw per animation frame. */
function schedule(): void {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    render();
  });
}

/** The side view: the compact list (or the first-use buttons); a row opens its run in the editor-area dashboard. */
function renderCompact(): void {
  const open = (dir: string): void => {
    select(dir);
    post({ type: 'openRun', dir });
  };
  runsHost.replaceChildren(runs.length === 0
    ? runsList(runs, undefined, new Set(), { onSelect: open, onToggleCompare: () => undefined, onCommand: (command) => post({ type: 'command', command }) })
    : compactRunsList(runs, state.selected, open));
}

function render(): void {
  if (compact) {
    renderCompact();
    return;
  }
  const theme = readTheme();
  const compareSet = new Set(state.compare.filter((d) => runs.some((r) => r.dir === d)));
  runsHost.replaceChildren(runsList(runs, state.selected, compareSet, {
    onSelect: select,
    onToggleCompare: (dir, checked) => {
      state.compare = checked ? [...new Set([...state.compare, dir])] : state.compare.filter((d) => d !== dir);
      save();
      setDisabled(compareButton, state.compare.length < 2);
    },
    onCommand: (command) => post({ type: 'command', command }),
  }));
  setDisabled(compareButton, compareSet.size < 2);
  compareSection.hidden = !state.comparing || compared.length === 0;
  if (!compareSection.hidden) {
    comparePanel.update(compareChart(compared, state.smoothing), theme);
    compareLrPanel.update(compareMetricChart(compared, 'lr'), theme);
    compareGradPanel.update(compareMetricChart(compared, 'grad_norm'), theme);
    compareFactsHost.replaceChildren(compareFactsView(uniqueLabels(compared.map((r) => r.name)), compareFacts(compared)));
  }
  detail.hidden = current === undefined;
  document.body.dataset['selectedRun'] = current?.dir ?? '';
  if (current === undefined) return;
  const live = runs.find((r) => r.dir === current?.dir)?.live === true;
  title.textContent = current.name;
  detail.dataset['runDir'] = current.dir;
  detail.dataset['status'] = current.status;
  setDisabled(stopButton, !(live && current.status === 'running'));
  setDisabled(resumeButton, live || current.status === 'completed');
  setDisabled(adapterButton, current.done === undefined);
  statsHost.replaceChildren(runStats(current));
  systemHost.replaceChildren(systemStrip(current));
  alertsHost.replaceChildren(alertList(current, (a) => post({ type: 'showInRecipe', file: a.file ?? '', line: a.line ?? 1 })));
  lossPanel.update(lossChart(current, state.smoothing), theme);
  for (const [metric, panel] of metricPanels) panel.update(metricChart(current, metric), theme);
  replaceIfChanged(paramsHost, paramTable(current.start !== undefined ? buildParamTable(current.start) : undefined));
  replaceIfChanged(configHost, configView(current));
  replaceIfChanged(evalAnswersHost, evalAnswersView(current));
}

/** Swaps in `next` only when it differs from what `host` shows (keeps the reader's scroll and selection in large tables). */
function replaceIfChanged(host: HTMLElement, next: HTMLElement): void {
  if (host.firstElementChild?.isEqualNode(next) !== true) host.replaceChildren(next);
}

/** A live step's loss onto a run's sparkline, thinned to every other point when it grows past twice its size. */
function extendTrail(s: RunSummary, loss: number): void {
  const t = [...(s.lossTrail ?? []), loss];
  s.lossTrail = t.length > 2 * TRAIL_POINTS ? t.filter((_, i) => i % 2 === 0 || i === t.length - 1) : t;
}

function updateSummary(dir: string, view: RunView): void {
  const s = runs.find((r) => r.dir === dir);
  if (s === undefined) return;
  s.status = view.status;
  s.lastStep = view.steps[view.steps.length - 1]?.step ?? s.lastStep;
  const last = view.steps[view.steps.length - 1];
  if (last !== undefined) {
    s.lastLoss = last.loss;
    extendTrail(s, last.loss);
  }
  if (view.done !== undefined) s.finalLoss = view.done.final_loss;
}

window.addEventListener('message', (ev: MessageEvent<HostToWebview>) => {
  const m = ev.data;
  switch (m.type) {
    case 'runs':
      runs = m.runs;
      if (!compact && (state.selected === undefined || !runs.some((r) => r.dir === state.selected)) && runs[0] !== undefined) select(runs[0].dir);
      break;
    case 'run':
      if (m.run.dir === state.selected) current = m.run;
      break;
    case 'select':
      select(m.dir);
      break;
    case 'sweep':
      if (m.dir === state.selected) sweepPanel.update(m.sweep);
      return;
    case 'compare':
      compared = m.runs;
      state.compare = m.runs.map((r) => r.dir);
      state.comparing = true;
      save();
      break;
    case 'event':
      if (current !== undefined && current.dir === m.dir) {
        applyEvent(current, m.record);
        updateSummary(m.dir, current);
      } else if (m.record.event === 'step') {
        const s = runs.find((r) => r.dir === m.dir);
        if (s !== undefined) {
          s.lastStep = m.record.step;
          s.lastLoss = m.record.loss;
          extendTrail(s, m.record.loss);
        }
      }
      for (const c of compared) if (c.dir === m.dir && c !== current) applyEvent(c, m.record);
      break;
  }
  schedule();
});

// A theme switch changes the body class (light/dark/high contrast) and the --vscode-* variables VS Code sets on
// <html>'s style; chart colours are read from those variables, so redraw the charts with the new ones.
const retheme = new MutationObserver(() => {
  const theme = readTheme();
  lossPanel.retheme(theme);
  for (const [, p] of metricPanels) p.retheme(theme);
  comparePanel.retheme(theme);
  compareLrPanel.retheme(theme);
  compareGradPanel.retheme(theme);
  sweepPanel.retheme();
});
retheme.observe(document.body, { attributes: true, attributeFilter: ['class', 'data-vscode-theme-id', 'data-vscode-theme-name'] });
retheme.observe(document.documentElement, { attributes: true, attributeFilter: ['style'] });

render();
post({ type: 'ready' });
// the side view follows the shared selection (the host sends it); only the panel restores its own
if (!compact && state.selected !== undefined) post({ type: 'selectRun', dir: state.selected });
if (state.comparing && state.compare.length >= 2) post({ type: 'compareRuns', dirs: state.compare });
