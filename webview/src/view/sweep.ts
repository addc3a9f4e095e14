// The sweep section of the dashboard (#sweep-view), shown when the selected run is a sweep trial: the trials' loss
// curves overlaid, loss against trainable parameters and against tokens/s with the Pareto fronts, and a trials table.
import type { SweepView } from '../../../src/shared/sweep';
import { sweepLossChart, sweepScatter, trialLabel, trialLoss } from '../model/sweepSeries';
import { formatInteger, formatValue } from '../model/format';
import { ChartPanel, readTheme } from './charts';
import { el } from './tables';

export class SweepPanel {
  readonly element: HTMLElement;
  private readonly heading = el('h2', { id: 'sweep-title' });
  private readonly table = el('div');
  private readonly loss = new ChartPanel('sweep-loss-chart', 'Sweep: train loss');
  private readonly params = new ChartPanel('sweep-params-chart', 'Trainable parameters vs loss');
  private readonly throughput = new ChartPanel('sweep-throughput-chart', 'Throughput vs loss');
  private sweep: SweepView | null = null;

  constructor() {
    this.element = el('section', { id: 'sweep-view', 'aria-label': 'Sweep' },
      el('div', { class: 'toolbar' }, this.heading),
      el('div', { class: 'charts' }, this.loss.element, this.params.element, this.throughput.element),
      this.table);
    this.element.hidden = true;
  }

  /** Shows `sweep` (or hides the section for a run that is no trial). */
  update(sweep: SweepView | null): void {
    this.sweep = sweep;
    this.element.hidden = sweep === null || sweep.trials.length === 0;
    if (sweep === null || this.element.hidden) return;
    const d = this.element.dataset;
    d['sweep'] = sweep.name;
    d['trials'] = String(sweep.trials.length);
    d['scatterPoints'] = String(sweep.trials.filter((t) => t.trainable !== undefined && trialLoss(t) !== undefined).length);
    d['throughputPoints'] = String(sweep.trials.filter((t) => t.tokensPerS !== undefined && trialLoss(t) !== undefined).length);
    d['frontParams'] = sweep.paretoParams.join(',');
    d['frontThroughput'] = sweep.paretoThroughput.join(',');
    this.heading.textContent = `Sweep ${sweep.name} · ${sweep.trials.length} trial${sweep.trials.length === 1 ? '' : 's'}`;
    this.retheme();
    this.table.replaceChildren(trialsTable(sweep));
  }

  retheme(): void {
    if (this.sweep === null) return;
    const theme = readTheme();
    this.loss.update(sweepLossChart(this.sweep), theme);
    this.params.update(sweepScatter(this.sweep, 'params'), theme);
    this.throughput.update(sweepScatter(this.sweep, 'throughput'), theme);
  }
}

/** #sweep-table: one row per trial, its figures and whether it is on a front. */
function trialsTable(s: SweepView): HTMLElement {
  const head = el('tr', {}, ...['trial', 'status', 'trainable', 'loss', 'tokens/s', 'Pareto'].map((h, i) => el('th', { scope: 'col', class: i >= 2 && i <= 4 ? 'num' : '' }, h)));
  const body = el('tbody');
  for (const t of s.trials) {
    const fronts = [s.paretoParams.includes(t.index) ? 'params' : '', s.paretoThroughput.includes(t.index) ? 'tokens/s' : ''].filter((x) => x !== '');
    body.append(el('tr', { 'data-trial': String(t.index), 'data-run-dir': t.runDir, 'data-front': fronts.join(',') },
      el('td', {}, trialLabel(t, true)), el('td', {}, t.status),
      el('td', { class: 'num' }, t.trainable !== undefined ? formatInteger(t.trainable) : '–'),
      el('td', { class: 'num' }, formatValue(trialLoss(t))),
      el('td', { class: 'num' }, t.tokensPerS !== undefined ? formatValue(t.tokensPerS) : '–'),
      el('td', {}, fronts.length > 0 ? `★ ${fronts.join(', ')}` : '')));
  }
  return el('table', { id: 'sweep-table', class: 'grid compact', 'aria-label': 'Sweep trials' }, el('thead', {}, head), body);
}
