// The run's system strip (worker CPU, RSS, peak RSS, host memory, GPU figures or "not reported") and its alert banners
// (each with "Show in Recipe"), from the latest `system` record and the `alert` records of a RunView.
import type { RunView } from '../../../src/shared/dashboard';
import type { AlertEvent, SystemEvent } from '../../../src/shared/protocol';
import { button } from '../ui/toolkit';
import { formatBytes } from '../model/format';
import { el } from './tables';

const NOT_REPORTED = 'not reported';

/** [data-stat key, label, value] of the strip; pure so the browser test can read it without a layout. */
export function systemItems(s: SystemEvent | undefined, device: string | undefined): [string, string, string][] {
  if (s === undefined) return [];
  const items: [string, string, string][] = [
    ['cpu', 'CPU (worker)', `${s.cpu_percent.toFixed(0)} % of a core`],
    ['cpu-total', 'CPU (all cores)', `${s.cpu_percent_total.toFixed(0)} % of ${s.cores}`],
    ['rss', 'RSS', formatBytes(s.rss_bytes)],
    ['peak-rss', 'Peak RSS', formatBytes(s.peak_rss_bytes)],
    ['mem-available', 'Memory available', `${formatBytes(s.mem_available_bytes)} of ${formatBytes(s.mem_total_bytes)}`],
  ];
  const gpu = s.gpu;
  if (gpu !== undefined) {
    const mem = gpu.memory_used_bytes !== null ? `${formatBytes(gpu.memory_used_bytes)}${gpu.memory_total_bytes !== null ? ` of ${formatBytes(gpu.memory_total_bytes)}` : ''}` : NOT_REPORTED;
    items.push(['gpu-memory', `GPU memory (${gpu.device})`, mem], ['gpu-util', 'GPU utilisation', gpu.utilization_percent !== null ? `${gpu.utilization_percent.toFixed(0)} %` : NOT_REPORTED]);
  } else if (device !== undefined && device !== 'cpu') {
    items.push(['gpu-memory', `GPU (${device})`, NOT_REPORTED]);
  }
  return items;
}

/** #system-strip: the latest figures, with the step they were taken at. */
export function systemStrip(run: RunView): HTMLElement {
  const s = run.system;
  if (s === undefined) return el('p', { id: 'system-strip', class: 'empty muted' }, 'System figures appear after the first step.');
  const dl = el('dl', { id: 'system-strip', class: 'stats system', 'aria-label': `System, at step ${s.step}`, 'data-step': String(s.step) });
  const gpuNote = s.gpu?.note;
  for (const [key, label, value] of systemItems(s, run.start?.device)) {
    const item = el('div', { 'data-stat': key }, el('dt', {}, label), el('dd', { title: value }, value));
    if (key.startsWith('gpu') && gpuNote !== undefined) item.title = gpuNote;
    dl.append(item);
  }
  return dl;
}

const TITLES: Record<AlertEvent['kind'], string> = {
  'non-finite': 'NaN / Inf',
  divergence: 'Loss diverging',
  throughput: 'Throughput dropped',
  memory: 'Memory nearly exhausted',
};

/** #alert-list: one banner per alert kind (the latest), with its recipe key and a Show in Recipe button. */
export function alertList(run: RunView, onShow: (a: AlertEvent) => void): HTMLElement {
  const alerts = run.alerts ?? [];
  const list = el('ul', { id: 'alert-list', class: 'alerts', 'aria-label': 'Alerts', 'data-count': String(alerts.length) });
  list.hidden = alerts.length === 0;
  for (const a of alerts) {
    const where = a.line !== undefined ? `${a.key} (line ${a.line})` : a.key;
    const item = el('li', { class: `alert alert-${a.kind}`, role: 'alert', 'data-kind': a.kind, 'data-step': String(a.step), 'data-key': a.key },
      el('strong', {}, `${TITLES[a.kind]} at step ${a.step}`), el('span', { class: 'alert-message' }, a.message), el('code', { class: 'alert-key' }, where));
    if (a.file !== undefined) item.append(button({ label: 'Show in Recipe', ariaLabel: `Show ${a.key} in the recipe`, onClick: () => onShow(a) }));
    list.append(item);
  }
  return list;
}
