// The dashboard webview in a real browser (Debian's chromium via playwright-core): bundles webview/src with
// esbuild, stands in for the host's postMessage, and checks what is drawn (points, tables, live updates).
import * as assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import type { HostToWebview, RunSummary, RunView } from '../../../src/shared/dashboard';
import { applyEvent, emptyRunView } from '../../../src/core/runs/runState';
import { startEvent, stepEvent } from '../runs/events';
import { openWebviewPage, type WebviewPage } from './browserPage';

/** What the page's stand-in for acquireVsCodeApi records (this tsconfig has no DOM lib). */
interface PageGlobals {
  __posted: { type: string; dir?: string; dirs?: string[] }[];
  postMessage(m: unknown, origin: string): void;
}

function runView(name: string, steps: number, evalEvery = 0): RunView {
  const dir = `/w/runs/${name}`;
  const v = applyEvent(emptyRunView(dir), {
    ...startEvent(dir, 50), run_name: name,
    modules: [0, 1].flatMap((l) => [{ name: `model.layers.${l}.self_attn.q_proj`, r: 8, in: 64, out: 64, params: 1024 }, { name: `model.layers.${l}.self_attn.v_proj`, r: 8, in: 64, out: 32, params: 768 }]),
    trainable: 3584,
    total: 1_003_584,
  } as ReturnType<typeof startEvent>);
  for (let s = 1; s <= steps; s++) {
    applyEvent(v, { ...stepEvent(s, 3 * Math.exp(-s / 20) + 0.5), rss_bytes: (200 + s) * 1048576 });
    if (evalEvery > 0 && s % evalEvery === 0) applyEvent(v, { event: 'eval', step: s, eval_loss: 3 * Math.exp(-s / 20) + 0.6 });
  }
  v.info = { name, status: 'running', config_file: '/w/peft-train.yaml', recipe: { training: { learning_rate: 2e-4 } }, adapter_config: { r: 8 }, base_model: '/w/models/tiny', device: 'cpu', started_at: '2026-11-28T10:00:00Z' };
  return v;
}

function summary(v: RunView, live: boolean): RunSummary {
  return { dir: v.dir, name: v.name, status: v.status, lastStep: v.steps.length, maxSteps: 50, checkpoints: [], live, startedAt: v.info?.started_at ?? '', baseModel: '/w/models/tiny' };
}

describe('dashboard webview (chromium)', function () {
  this.timeout(60000);
  let page: Page;
  let view: WebviewPage<HostToWebview, PageGlobals['__posted'][number]>;

  before(async () => {
    view = await openWebviewPage({ entry: 'webview/src/main.ts', css: 'media/dashboard.css', bodyStyle: '--vscode-charts-blue:#3794ff;--vscode-foreground:#ccc', viewport: { width: 700, height: 1400 } });
    page = view.page;
  });

  after(async () => {
    await view?.close();
  });

  const send = (m: HostToWebview): Promise<void> => view.send(m);
  const posted = (): Promise<PageGlobals['__posted']> => view.posted();

  it('lists runs, selects the first, and draws its loss, eval and metric charts', async () => {
    const a = runView('run-a', 40, 10);
    const b = runView('run-b', 25);
    await send({ type: 'runs', runs: [summary(a, true), summary(b, false)] });
    await page.waitForSelector('#runs-list tbody tr[data-run-dir="/w/runs/run-a"]');
    assert.equal(await page.getAttribute('#runs-list', 'data-count'), '2');
    assert.ok((await posted()).some((m) => m.type === 'selectRun' && m.dir === '/w/runs/run-a'), 'asks the host for the selected run');
    await send({ type: 'run', run: a });
    // smoothing 0.6 by default: raw 40 + smoothed 40 + eval 4
    await page.waitForSelector('#loss-chart[data-points="84"]');
    assert.equal(await page.getAttribute('#loss-chart', 'data-series'), '3');
    assert.equal(await page.getAttribute('#memory-chart', 'data-points'), '40');
    assert.equal(await page.getAttribute('#lr-chart', 'data-points'), '40');
    assert.equal(await page.textContent('#run-title'), 'run-a');
    assert.equal(await page.textContent('[data-stat="memory"] dd'), '240 MiB');
    const box = await page.$eval('#loss-chart', (c) => { const r = c.getBoundingClientRect(); return [r.width, r.height]; });
    assert.ok((box[0] ?? 0) > 200 && (box[1] ?? 0) > 100, `canvas is laid out: ${box.join('x')}`);
  });

  it('shows the parameter table totals and groups', async () => {
    assert.equal(await page.getAttribute('#param-table', 'data-trainable'), '3584');
    assert.equal(await page.getAttribute('#param-table', 'data-modules'), '4');
    const rows = await page.$$eval('#param-by-target tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
    assert.deepEqual(rows, [['q_proj', '2', '2,048', '57.14%'], ['v_proj', '2', '1,536', '42.86%']]);
    assert.match(await page.textContent('#param-table .param-summary') ?? '', /trainable 3,584 .* of 1,003,584 .* 0\.357%/);
    assert.match(await page.textContent('#config-recipe') ?? '', /"learning_rate": 0.0002/);
  });

  it('applies live events, and the smoothing control changes the drawn series', async () => {
    await send({ type: 'event', dir: '/w/runs/run-a', record: { ...stepEvent(41, 0.9), rss_bytes: 300 * 1048576 } });
    await page.waitForSelector('#loss-chart[data-points="86"]');
    assert.equal(await page.textContent('[data-stat="step"] dd'), '41 / 50');
    await page.$eval('#smoothing', (e) => { (e as unknown as { value: string }).value = '0'; e.dispatchEvent(new Event('input')); });
    await page.waitForSelector('#loss-chart[data-points="45"]');
  });

  it('Compare Runs overlays the chosen runs', async () => {
    await send({ type: 'compare', runs: [runView('run-a', 40), runView('run-b', 25)] });
    await page.waitForSelector('#compare-view:not([hidden]) #compare-chart[data-points="65"]');
    if (process.env['PEFT_SCREENSHOT'] !== undefined) await page.screenshot({ path: process.env['PEFT_SCREENSHOT'], fullPage: true });
    assert.match(await page.getAttribute('#compare-chart', 'aria-label') ?? '', /run-a \(40 points\), run-b \(25 points\)/);
    await page.click('#runs-list tbody tr[data-run-dir="/w/runs/run-b"]');
    assert.ok((await posted()).some((m) => m.type === 'selectRun' && m.dir === '/w/runs/run-b'));
  });

  it('lays the charts out as a grid when wide and in one column when narrow; legends name the run', async () => {
    await send({ type: 'select', dir: '/w/runs/run-a' });
    await send({ type: 'run', run: runView('run-a', 40, 10) });
    await page.waitForSelector('#run-detail[data-run-dir="/w/runs/run-a"] #loss-chart[data-points="44"]'); // smoothing 0 since the test above
    assert.equal(await page.getAttribute('#loss-chart', 'data-legend'), 'run-a · train | run-a · eval');
    assert.equal(await page.getAttribute('#lr-chart', 'data-legend'), 'run-a');
    assert.equal(await page.getAttribute('#loss-chart', 'data-y-label'), 'cross-entropy loss (nats)');
    assert.equal(await page.getAttribute('#memory-chart', 'data-y-label'), 'RSS (MiB)');
    const boxes = (): Promise<Record<string, { left: number; top: number; right: number; bottom: number }>> => page.$$eval('.chart-panel', (els) =>
      Object.fromEntries(els.map((e) => { const r = e.getBoundingClientRect(); return [e.id, { left: r.left, top: r.top, right: r.right, bottom: r.bottom }]; })));
    await page.setViewportSize({ width: 1300, height: 800 });
    await page.waitForTimeout(100);
    let b = await boxes();
    const loss = b['loss-chart-panel'];
    const lr = b['lr-chart-panel'];
    const grad = b['grad-norm-chart-panel'];
    const mem = b['memory-chart-panel'];
    assert.ok(loss !== undefined && lr !== undefined && grad !== undefined && mem !== undefined);
    assert.ok(lr.left >= loss.right && grad.left >= lr.right, `wide: lr and grad norm right of the loss card ${JSON.stringify(b)}`);
    assert.ok(Math.abs(lr.top - loss.top) < 1 && mem.bottom <= loss.bottom + 1, `wide: loss spans the two metric rows ${JSON.stringify(b)}`);
    await page.setViewportSize({ width: 320, height: 1400 });
    await page.waitForTimeout(100);
    b = await boxes();
    const ids = ['loss-chart-panel', 'lr-chart-panel', 'grad-norm-chart-panel', 'tokens-chart-panel', 'memory-chart-panel'];
    for (let i = 1; i < ids.length; i++) {
      const prev = b[ids[i - 1] ?? ''];
      const cur = b[ids[i] ?? ''];
      assert.ok(prev !== undefined && cur !== undefined && cur.top >= prev.bottom && Math.abs(cur.left - prev.left) < 1, `narrow: one column ${JSON.stringify(b)}`);
    }
    await page.setViewportSize({ width: 700, height: 1400 });
  });

  it('re-themes the charts live when VS Code switches the theme (body class and --vscode-* variables)', async () => {
    const before = await page.getAttribute('#loss-chart', 'data-colors');
    assert.match(before ?? '', /run-a · train=#3794ff/);
    await page.evaluate(() => {
      const d = (globalThis as unknown as { document: { body: { className: string; style: { setProperty(k: string, v: string): void } } } }).document;
      d.body.style.setProperty('--vscode-charts-blue', '#1a85ff');
      d.body.className = 'vscode-light';
    });
    await page.waitForFunction(() => ((globalThis as unknown as { document: { getElementById(id: string): { dataset: Record<string, string> } | null } }).document.getElementById('loss-chart')?.dataset['colors'] ?? '').includes('=#1a85ff'));
  });
});
