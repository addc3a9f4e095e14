// Draws a ChartSpec with Chart.js: line charts by step with titled, unit-labelled axes, theme colours read
// from VS Code's --vscode-charts-* CSS variables, and data attributes (points drawn) for end-to-end tests.
import { Chart, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip, type ChartDataset } from 'chart.js';
import type { ChartSpec, Point, Series } from '../model/series';
import { formatBytes, formatValue } from '../model/format';

Chart.register(LineController, LineElement, PointElement, LinearScale, Legend, Tooltip);

const PALETTE_VARS = ['--vscode-charts-blue', '--vscode-charts-orange', '--vscode-charts-green', '--vscode-charts-purple', '--vscode-charts-yellow', '--vscode-charts-red'];
const PALETTE_FALLBACK = ['#3794ff', '#d18616', '#89d185', '#b180d7', '#cca700', '#f14c4c'];

interface Theme {
  palette: string[];
  foreground: string;
  grid: string;
  font: string;
}

export function readTheme(): Theme {
  const css = getComputedStyle(document.body);
  const v = (name: string, fallback: string): string => css.getPropertyValue(name).trim() || fallback;
  const foreground = v('--vscode-charts-foreground', v('--vscode-foreground', '#cccccc'));
  // charts.lines is 50% grey in the default themes: strong for a grid under thin curves, so fainter except in high contrast
  const highContrast = document.body.classList.contains('vscode-high-contrast') || document.body.classList.contains('vscode-high-contrast-light');
  const lines = v('--vscode-charts-lines', 'rgba(128,128,128,0.5)');
  return {
    palette: PALETTE_VARS.map((name, i) => v(name, PALETTE_FALLBACK[i] ?? '#888888')),
    foreground,
    grid: highContrast ? lines : withAlpha(foreground, 0.14),
    font: v('--vscode-font-family', 'sans-serif'),
  };
}

/** `#rrggbb` / `#rgb` / `rgb(...)` with an alpha; other colour syntaxes are returned unchanged. */
export function withAlpha(color: string, alpha: number): string {
  let m = /^#([0-9a-f]{6})([0-9a-f]{2})?$/i.exec(color);
  if (m?.[1] !== undefined) {
    const n = parseInt(m[1], 16);
    return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
  }
  m = /^#([0-9a-f])([0-9a-f])([0-9a-f])$/i.exec(color);
  if (m !== null) return `rgba(${[m[1], m[2], m[3]].map((h) => parseInt(`${h}${h}`, 16)).join(', ')}, ${alpha})`;
  m = /^rgba?\(([^,]+),([^,]+),([^,)]+)/.exec(color);
  if (m !== null) return `rgba(${m[1]},${m[2]},${m[3]}, ${alpha})`;
  return color;
}

type LineDataset = ChartDataset<'line', Point[]>;

function dataset(s: Series, theme: Theme): LineDataset {
  const base = theme.palette[s.colorIndex % theme.palette.length] ?? '#888888';
  const color = s.role === 'raw' ? withAlpha(base, 0.22) : base;
  return {
    label: s.label,
    data: s.points,
    borderColor: color,
    backgroundColor: color,
    borderWidth: s.role === 'raw' ? 1 : 2,
    borderDash: s.role === 'eval' || s.role === 'front' ? [5, 4] : [],
    pointRadius: s.role === 'points' ? 5 : s.role === 'front' ? 8 : s.role === 'eval' || s.points.length === 1 ? 3 : 0,
    showLine: s.role !== 'points',
    ...(s.role === 'front' ? { backgroundColor: 'transparent', borderWidth: 1.5 } : {}),
    pointHoverRadius: 4,
    tension: 0,
    parsing: false,
    normalized: true,
  };
}

/** The drawn colour of each series, "label=colour;..." (a data attribute the tests read to see re-theming). */
function datasetsColors(spec: ChartSpec, theme: Theme): string {
  return spec.series.map((s) => `${s.label}=${theme.palette[s.colorIndex % theme.palette.length] ?? ''}`).join(';');
}

/** One chart panel: a heading, a fixed-height canvas box, and an empty-state line. */
export class ChartPanel {
  readonly element: HTMLElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly header: HTMLElement;
  private readonly empty: HTMLElement;
  private chart: Chart<'line', Point[]> | undefined;
  private spec: ChartSpec | undefined;

  constructor(id: string, title: string) {
    this.element = document.createElement('section');
    this.element.className = 'panel chart-panel card';
    this.element.id = `${id}-panel`;
    const h = document.createElement('h3');
    h.textContent = title;
    this.header = document.createElement('div');
    this.header.className = 'card-header';
    this.header.append(h);
    const box = document.createElement('div');
    box.className = 'chart-box';
    this.canvas = document.createElement('canvas');
    this.canvas.id = id;
    this.canvas.setAttribute('role', 'img');
    this.canvas.setAttribute('aria-label', title);
    this.canvas.dataset['points'] = '0';
    this.empty = document.createElement('p');
    this.empty.className = 'empty';
    this.empty.textContent = 'No data yet.';
    box.append(this.canvas, this.empty);
    this.element.append(this.header, box);
  }

  update(spec: ChartSpec, theme: Theme): void {
    this.spec = spec;
    const points = spec.series.reduce((n, s) => n + s.points.length, 0);
    this.canvas.dataset['points'] = String(points);
    this.canvas.dataset['series'] = String(spec.series.length);
    this.canvas.dataset['legend'] = spec.series.filter((s) => s.legend !== false).map((s) => s.label).join(' | ');
    this.canvas.dataset['yLabel'] = spec.yLabel;
    this.canvas.dataset['colors'] = datasetsColors(spec, theme);
    this.canvas.setAttribute('aria-label', `${spec.title}: ${spec.series.map((s) => `${s.label} (${s.points.length} points)`).join(', ')}`);
    this.empty.hidden = points > 0;
    const datasets = spec.series.map((s) => dataset(s, theme));
    if (this.chart === undefined) {
      this.chart = new Chart(this.canvas, { type: 'line', data: { datasets }, options: this.options(spec, theme) });
    } else {
      this.chart.data.datasets = datasets;
      this.chart.options = this.options(spec, theme);
      this.chart.update('none');
    }
  }

  /** Puts a control (the loss chart's smoothing slider) at the right of the card's heading. */
  addControl(control: HTMLElement): void {
    this.header.append(control);
  }

  /** Re-reads the theme (body class changed) and redraws. */
  retheme(theme: Theme): void {
    if (this.spec !== undefined) this.update(this.spec, theme);
  }

  destroy(): void {
    this.chart?.destroy();
    this.chart = undefined;
  }

  private options(spec: ChartSpec, theme: Theme): NonNullable<Chart<'line', Point[]>['options']> {
    const tick = spec.yFormat === 'bytes' ? (v: number | string) => formatBytes(Number(v)) : (v: number | string) => formatValue(Number(v));
    const font = { family: theme.font, size: 11 };
    const legendItems = spec.series.filter((s) => s.legend !== false).length;
    return {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: 'nearest', axis: 'x', intersect: false },
      scales: {
        x: {
          type: 'linear',
          title: { display: true, text: spec.xLabel, color: theme.foreground, font },
          ticks: { color: theme.foreground, font, maxTicksLimit: 8, maxRotation: 0, autoSkip: true, autoSkipPadding: 16, precision: 0 },
          border: { color: theme.grid },
          grid: { color: theme.grid },
        },
        y: {
          type: 'linear',
          title: { display: true, text: spec.yLabel, color: theme.foreground, font },
          ticks: { color: theme.foreground, font, maxTicksLimit: 6, autoSkipPadding: 8, callback: tick },
          border: { color: theme.grid },
          grid: { color: theme.grid },
        },
      },
      plugins: {
        legend: {
          display: legendItems > 0,
          position: 'top',
          align: 'end',
          labels: { color: theme.foreground, font, boxWidth: 14, boxHeight: 2, padding: 8, filter: (item) => spec.series[item.datasetIndex ?? -1]?.legend !== false },
        },
        tooltip: { callbacks: { label: (c) => `${c.dataset.label ?? ''}: ${tick(c.parsed.y ?? NaN)}`, title: (items) => `${spec.xLabel} ${items[0]?.parsed.x ?? ''}` } },
      },
    };
  }
}
