// DOM builders for the dashboard's tables: the runs list, the run's stats line, the parameter table and the
// resolved config. Text goes in with textContent only (run data is never parsed as HTML).
import type { RunSummary, RunView, StartCommand } from '../../../src/shared/dashboard';
import { button } from '../ui/toolkit';
import { etaSeconds, lastStep, maxSteps } from '../../../src/core/runs/runState';
import type { CompareFacts } from '../model/compare';
import type { ParamTable } from '../model/paramTable';
import { formatBytes, formatCount, formatDuration, formatInteger, formatPercent, formatValue } from '../model/format';

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  e.append(...children);
  return e;
}

function cell(text: string, cls?: string): HTMLTableCellElement {
  return el('td', cls !== undefined ? { class: cls } : {}, text);
}

export function formatStart(iso: string | undefined): string {
  if (iso === undefined || iso === '') return '–';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function shortModel(m: string | undefined): string {
  if (m === undefined || m === '') return '–';
  const parts = m.split(/[\\/]/).filter((p) => p !== '');
  return parts.length <= 2 ? m : parts.slice(-2).join('/');
}

export interface RunsListHandlers {
  onSelect(dir: string): void;
  onToggleCompare(dir: string, checked: boolean): void;
  /** A first-use action of the empty state. */
  onCommand(command: StartCommand): void;
}

/** No runs yet (#runs-list[data-count=0]): what to do first, as buttons — a project of your own, the demo, the walkthrough. */
function emptyRuns(h: RunsListHandlers): HTMLElement {
  return el('div', { id: 'runs-list', class: 'first-use', 'data-count': '0' },
    el('p', {}, 'No training runs yet. Start a LoRA adapter project on your own model, or try the demo: a small model and data set made on this machine, trained in under a minute.'),
    el('div', { class: 'actions' },
      button({ id: 'new-project-button', label: 'New Adapter Project', appearance: 'primary', onClick: () => h.onCommand('newProject') }),
      button({ id: 'open-demo-button', label: 'Open Demo Project', onClick: () => h.onCommand('openDemo') })),
    el('p', { class: 'muted' }, 'New here? ', link('Get Started with PEFT Studio', () => h.onCommand('walkthrough')), ' walks from the demo to an exported adapter.'));
}

function link(text: string, onClick: () => void): HTMLElement {
  const a = el('a', { href: '#', role: 'button', id: 'walkthrough-link' }, text);
  a.addEventListener('click', (ev) => {
    ev.preventDefault();
    onClick();
  });
  return a;
}

/** The runs table (#runs-list): one row per run, data-run-dir / data-status for tests and styling. */
export function runsList(runs: readonly RunSummary[], selected: string | undefined, compare: ReadonlySet<string>, h: RunsListHandlers): HTMLElement {
  if (runs.length === 0) return emptyRuns(h);
  const head = el('tr', {}, ...['', 'Run', 'Status', 'Started', 'Base model', 'Steps', 'Loss'].map((t, i) => el('th', i === 0 ? { 'aria-label': 'Compare' } : { scope: 'col', class: ['', '', '', 'col-started', 'col-model', 'num', 'num'][i] ?? '' }, t)));
  const body = el('tbody');
  for (const r of runs) {
    const box = el('input', { type: 'checkbox', 'aria-label': `Compare ${r.name}`, class: 'compare-box' });
    box.checked = compare.has(r.dir);
    box.addEventListener('click', (ev) => ev.stopPropagation());
    box.addEventListener('change', () => h.onToggleCompare(r.dir, box.checked));
    const steps = r.maxSteps !== undefined ? `${r.lastStep}/${r.maxSteps}` : String(r.lastStep);
    const loss = r.finalLoss ?? r.lastLoss;
    const status = el('span', { class: `status status-${r.status}` }, r.live && r.status === 'running' ? 'training' : r.status);
    const row = el('tr', { 'data-run-dir': r.dir, 'data-status': r.status, tabindex: '0', title: [`${r.name} · started ${formatStart(r.startedAt)} · base model ${r.baseModel ?? '–'}`, r.error, r.dir].filter((x) => x !== undefined).join('\n') },
      el('td', {}, box), cell(r.name, 'name'), el('td', {}, status), cell(formatStart(r.startedAt), 'col-started'), cell(shortModel(r.baseModel), 'col-model'), cell(steps, 'num'), cell(formatValue(loss), 'num'));
    if (r.dir === selected) row.classList.add('selected');
    row.setAttribute('aria-selected', String(r.dir === selected));
    row.addEventListener('click', () => h.onSelect(r.dir));
    row.addEventListener('keydown', (ev) => { if (ev.key === 'Enter' || ev.key === ' ') h.onSelect(r.dir); });
    body.append(row);
  }
  return el('table', { id: 'runs-list', class: 'grid', 'aria-label': 'Runs', 'data-count': String(runs.length) }, el('thead', {}, head), body);
}

/** The selected run's figures (#run-stats): status, step, loss, ETA, tokens/s, memory, device. */
export function runStats(run: RunView): HTMLElement {
  const last = run.steps[run.steps.length - 1];
  const max = maxSteps(run);
  const items: [string, string, string][] = [
    ['status', 'Status', run.status],
    ['step', 'Step', `${lastStep(run)}${max !== undefined ? ` / ${max}` : ''}`],
    ['loss', 'Loss', formatValue(run.done?.final_loss ?? last?.loss)],
    ['eta', 'ETA', run.status === 'running' ? formatDuration(etaSeconds(run)) : '–'],
    ['tokens-per-s', 'Tokens/s', last !== undefined ? formatValue(last.tokens_per_s) : '–'],
    ['memory', 'Memory (RSS)', last?.rss_bytes !== undefined ? formatBytes(last.rss_bytes) : '–'],
    ['device', 'Device', run.start?.device ?? run.info?.device ?? '–'],
    ['elapsed', 'Elapsed', last !== undefined ? formatDuration(last.elapsed_s) : '–'],
  ];
  const dl = el('dl', { id: 'run-stats', class: 'stats' });
  for (const [key, label, value] of items) dl.append(el('div', { 'data-stat': key }, el('dt', {}, label), el('dd', {}, value)));
  if (run.error !== undefined) dl.append(el('div', { 'data-stat': 'error', class: 'error' }, el('dt', {}, 'Error'), el('dd', {}, run.error.message)));
  return dl;
}

/** #param-table: summary, per target module, per layer, and (collapsed) per module. */
export function paramTable(t: ParamTable | undefined): HTMLElement {
  if (t === undefined) return el('p', { id: 'param-table', class: 'empty' }, 'Parameter counts appear when the run starts.');
  const wrap = el('div', { id: 'param-table', 'data-trainable': String(t.trainable), 'data-total': String(t.total), 'data-modules': String(t.modules.length) });
  wrap.append(el('p', { class: 'param-summary' }, `trainable ${formatInteger(t.trainable)} (${formatCount(t.trainable)}) of ${formatInteger(t.total)} (${formatCount(t.total)}) · ${formatPercent(t.percent)}`));
  const groupTable = (caption: string, id: string, rows: ParamTable['byTarget']): HTMLElement => {
    const body = el('tbody', {}, ...rows.map((g) => el('tr', {}, cell(g.key), cell(String(g.modules), 'num'), cell(formatInteger(g.params), 'num'), cell(formatPercent(g.percentOfTrainable), 'num'))));
    if (id === 'param-by-target' && t.otherTrainable !== 0) body.append(el('tr', {}, cell('other (biases, modules_to_save)'), cell('–', 'num'), cell(formatInteger(t.otherTrainable), 'num'), cell(formatPercent(t.trainable > 0 ? (100 * t.otherTrainable) / t.trainable : 0), 'num')));
    return el('table', { id, class: 'grid compact', 'aria-label': caption }, el('caption', {}, caption),
      el('thead', {}, el('tr', {}, ...['', 'modules', 'params', '% of trainable'].map((h, i) => el('th', { scope: 'col', class: i > 0 ? 'num' : '' }, h)))), body);
  };
  wrap.append(groupTable('Per target module', 'param-by-target', t.byTarget), groupTable('Per layer', 'param-by-layer', t.byLayer));
  if (t.modules.length > 0) {
    const rows = t.modules.map((m) => el('tr', {}, cell(m.name, 'name'), cell(String(m.r), 'num'), cell(String(m.in), 'num'), cell(String(m.out), 'num'), cell(formatInteger(m.params), 'num')));
    wrap.append(el('details', {}, el('summary', {}, `All ${t.modules.length} adapted modules`),
      el('table', { id: 'param-modules', class: 'grid compact', 'aria-label': 'Adapted modules' },
        el('thead', {}, el('tr', {}, ...['module', 'r', 'in', 'out', 'params'].map((h, i) => el('th', { scope: 'col', class: i > 0 ? 'num' : '' }, h)))), el('tbody', {}, ...rows))));
  }
  return wrap;
}

/** #config-view: the resolved recipe and adapter config from run.json. */
export function configView(run: RunView): HTMLElement {
  if (run.info === undefined) return el('p', { id: 'config-view', class: 'empty' }, 'run.json not written yet.');
  const { recipe, adapter_config: adapter, config_file: file } = run.info;
  const json = (x: unknown): string => JSON.stringify(x, null, 2) ?? 'null';
  return el('div', { id: 'config-view' },
    el('p', { class: 'muted' }, file),
    el('details', { open: '' }, el('summary', {}, 'Recipe (resolved)'), el('pre', { id: 'config-recipe' }, json(recipe))),
    el('details', {}, el('summary', {}, 'Adapter config'), el('pre', { id: 'config-adapter' }, json(adapter))));
}

/** #compare-facts: a warning when the base models differ, then a table — best eval loss, and each differing setting. */
export function compareFactsView(names: readonly string[], f: CompareFacts): HTMLElement {
  const wrap = el('div', { id: 'compare-facts' });
  if (f.baseModels.length > 1) {
    wrap.append(el('p', { id: 'compare-warning', class: 'warning', role: 'alert' },
      `These runs use different base models (${f.baseModels.map(shortModel).join(', ')}): their losses are not comparable.`));
  }
  const head = el('tr', {}, el('th', { scope: 'col' }, ''), ...names.map((n) => el('th', { scope: 'col', class: 'num' }, n)));
  const best = el('tr', { 'data-key': 'best_eval_loss' }, el('th', { scope: 'row' }, 'best eval loss'),
    ...f.best.map((b, i) => cell(b === undefined ? '–' : `${formatValue(b.loss)} @ ${b.step}`, i === f.winner ? 'num best' : 'num')));
  const rows = f.params.map((p) => el('tr', { 'data-key': p.key }, el('th', { scope: 'row' }, p.key), ...p.values.map((v) => cell(v, 'num'))));
  const body = el('tbody', {}, best, ...rows);
  wrap.append(el('table', { id: 'compare-table', class: 'grid compact', 'aria-label': 'Differences between the compared runs' }, el('thead', {}, head), body));
  if (f.params.length === 0) wrap.append(el('p', { class: 'muted' }, 'The runs were trained with the same settings.'));
  return wrap;
}
