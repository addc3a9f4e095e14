// The side-bar dashboard: a compact run list — status, name, a loss sparkline, the latest loss — whose rows open the
// run in the editor-area dashboard (where the details live). Text goes in with textContent only.
import type { RunSummary } from '../../../src/shared/dashboard';
import { formatValue } from '../model/format';
import { sparklinePoints } from '../model/sparkline';
import { el } from './tables';

const SVG = 'http://www.w3.org/2000/svg';

function sparkline(ys: readonly number[] | undefined, label: string): SVGElement {
  const w = 64;
  const h = 18;
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('class', 'sparkline');
  svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
  svg.setAttribute('width', String(w));
  svg.setAttribute('height', String(h));
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  const pts = sparklinePoints(ys ?? [], w, h);
  if (pts !== '') {
    const line = document.createElementNS(SVG, 'polyline');
    line.setAttribute('points', pts);
    svg.append(line);
  }
  svg.dataset['points'] = String(ys?.length ?? 0);
  return svg;
}

/** #runs-list in the side view: one row a run (data-run-dir, data-status); Enter or a click opens it. */
export function compactRunsList(runs: readonly RunSummary[], selected: string | undefined, onOpen: (dir: string) => void): HTMLElement {
  const list = el('ul', { id: 'runs-list', class: 'compact-runs', role: 'listbox', 'aria-label': 'Runs', 'data-count': String(runs.length) });
  for (const r of runs) {
    const loss = r.finalLoss ?? r.lastLoss;
    const status = r.live && r.status === 'running' ? 'training' : r.status;
    const steps = r.maxSteps !== undefined ? `${r.lastStep}/${r.maxSteps}` : String(r.lastStep);
    const row = el('li', { 'data-run-dir': r.dir, 'data-status': r.status, role: 'option', tabindex: '0', title: `${r.name} · ${status} · step ${steps}\n${r.dir}` },
      el('span', { class: `dot status-${r.status}`, 'aria-label': status }),
      el('span', { class: 'name' }, r.name),
      sparkline(r.lossTrail, `loss of ${r.name}`),
      el('span', { class: 'loss num' }, formatValue(loss)));
    row.setAttribute('aria-selected', String(r.dir === selected));
    if (r.dir === selected) row.classList.add('selected');
    row.addEventListener('click', () => onOpen(r.dir));
    row.addEventListener('keydown', (ev) => { if (ev.key === 'Enter' || ev.key === ' ') onOpen(r.dir); });
    list.append(row);
  }
  return list;
}
