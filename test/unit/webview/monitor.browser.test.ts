// The dashboard's system strip, alert banners and sweep view in a real browser (Debian's chromium via playwright-core,
// the shared page helper): a stand-in for the host's postMessage, and what is drawn.
import * as assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import type { HostToWebview, RunSummary, RunView } from '../../../src/shared/dashboard';
import type { SweepView } from '../../../src/shared/sweep';
import type { SystemEvent } from '../../../src/shared/protocol';
import { applyEvent, emptyRunView } from '../../../src/core/runs/runState';
import { startEvent, stepEvent } from '../runs/events';
import { openWebviewPage, type WebviewPage } from './browserPage';

const MiB = 1048576;

type Posted = { type: string; dir?: string; file?: string; line?: number };

const system = (step: number, gpu?: SystemEvent['gpu']): SystemEvent => ({
  event: 'system', step, elapsed_s: step, cpu_percent: 183.4, cpu_percent_total: 45.9, cores: 4, rss_bytes: 512 * MiB, peak_rss_bytes: 600 * MiB,
  mem_available_bytes: 2048 * MiB, mem_total_bytes: 8192 * MiB, ...(gpu !== undefined ? { gpu } : {}),
});

function runView(dir: string, device = 'cpu'): RunView {
  const v = applyEvent(emptyRunView(dir), { ...startEvent(dir, 20), device } as ReturnType<typeof startEvent>);
  for (let s = 1; s <= 12; s++) applyEvent(v, stepEvent(s, 2 - s / 20));
  return v;
}

const summary = (v: RunView): RunSummary => ({ dir: v.dir, name: v.name, status: v.status, lastStep: v.steps.length, maxSteps: 20, checkpoints: [], live: true });

describe('dashboard system strip, alerts and sweep view (chromium)', function () {
  this.timeout(60000);
  let web: WebviewPage<HostToWebview, Posted>;
  let page: Page;

  before(async () => {
    web = await openWebviewPage<HostToWebview, Posted>({ entry: 'webview/src/main.ts', css: 'media/dashboard.css', bodyStyle: '', viewport: { width: 900, height: 1600 } });
    page = web.page;
  });

  after(async () => {
    await web?.close();
  });

  const send = (m: HostToWebview): Promise<void> => web.send(m);
  const posted = (): Promise<Posted[]> => web.posted();
  const stats = (): Promise<string[][]> => page.$$eval('#system-strip > div', (ds) => ds.map((d) => [d.getAttribute('data-stat') ?? '', d.querySelector('dd')?.textContent ?? '']));

  it('the system strip shows the latest system record live; alerts are banners whose Show in Recipe posts file and line', async () => {
    const v = runView('/w/runs/mon');
    await send({ type: 'runs', runs: [summary(v)] });
    await send({ type: 'run', run: v });
    await page.waitForSelector('#system-strip.empty');
    assert.equal(await page.getAttribute('#alert-list', 'data-count'), '0');
    assert.equal(await page.$eval('#alert-list', (e) => (e as unknown as { hidden: boolean }).hidden), true);
    await send({ type: 'event', dir: v.dir, record: system(12) });
    await page.waitForSelector('#system-strip[data-step="12"]');
    assert.deepEqual(await stats(), [['cpu', '183 % of a core'], ['cpu-total', '46 % of 4'], ['rss', '512 MiB'], ['peak-rss', '600 MiB'], ['mem-available', '2 GiB of 8 GiB']]);
    const alert = { event: 'alert', kind: 'divergence', step: 12, message: 'the loss is rising', key: 'training.learning_rate', file: '/w/peft-train.yaml', line: 9 } as const;
    await send({ type: 'event', dir: v.dir, record: alert });
    await send({ type: 'event', dir: v.dir, record: { ...alert, kind: 'memory', key: 'training.per_device_train_batch_size', line: 7, message: 'memory is nearly exhausted' } });
    await send({ type: 'event', dir: v.dir, record: { ...alert, step: 15 } }); // the same kind again: replaces the first
    await page.waitForSelector('#alert-list[data-count="2"]');
    const items = await page.$$eval('#alert-list li', (lis) => lis.map((li) => [li.getAttribute('data-kind'), li.getAttribute('data-step'), li.querySelector('.alert-key')?.textContent]));
    assert.deepEqual(items, [['memory', '12', 'training.per_device_train_batch_size (line 7)'], ['divergence', '15', 'training.learning_rate (line 9)']]);
    await page.click('#alert-list li[data-kind="divergence"] vscode-button');
    assert.deepEqual((await posted()).filter((m) => m.type === 'showInRecipe'), [{ type: 'showInRecipe', file: '/w/peft-train.yaml', line: 9 }]);
  });

  it('on a GPU device the strip says what the provider does not report', async () => {
    const v = runView('/w/runs/gpu', 'webgpu');
    await send({ type: 'runs', runs: [summary(v)] });
    await send({ type: 'select', dir: v.dir });
    await send({ type: 'run', run: v });
    await send({ type: 'event', dir: v.dir, record: system(3, { device: 'webgpu', memory_used_bytes: null, memory_total_bytes: null, utilization_percent: null, note: 'no counters' }) });
    await page.waitForSelector('#system-strip[data-step="3"]');
    const s = await stats();
    assert.deepEqual(s.slice(5), [['gpu-memory', 'not reported'], ['gpu-util', 'not reported']]);
  });

  it('a sweep trial shows the sweep: one loss curve per trial, the scatters with their Pareto fronts, the trials table', async () => {
    const trial = (index: number, r: number, trainable: number, loss: number | undefined, tps: number) => ({
      index, name: `sw-t${index}`, runDir: `/w/runs/sw-t${index}`, status: 'completed' as const, r, loraAlpha: 2 * r, learningRate: 5e-3, trainable,
      ...(loss !== undefined ? { bestEvalLoss: loss } : {}), tokensPerS: tps, losses: [[1, 3], [2, 2.5], [3, loss ?? 2]] as [number, number][],
    });
    const sweep: SweepView = { name: 'sw', dir: '/w/runs/.sweeps/sw', trials: [trial(1, 2, 100, 2.2, 900), trial(2, 4, 200, 2.0, 800), trial(3, 8, 400, 2.1, 700)], paretoParams: [1, 2], paretoThroughput: [2, 1] };
    await send({ type: 'sweep', dir: '/w/runs/other', sweep }); // not the selected run: ignored
    assert.equal(await page.$eval('#sweep-view', (e) => (e as unknown as { hidden: boolean }).hidden), true);
    await send({ type: 'sweep', dir: '/w/runs/gpu', sweep });
    await page.waitForSelector('#sweep-view:not([hidden])[data-trials="3"]');
    assert.equal(await page.getAttribute('#sweep-view', 'data-scatter-points'), '3');
    assert.equal(await page.getAttribute('#sweep-loss-chart', 'data-points'), '9');
    assert.equal(await page.getAttribute('#sweep-loss-chart', 'data-legend'), 't1 · r 2 · α 4 · lr 5e-3 | t2 · r 4 · α 8 · lr 5e-3 | t3 · r 8 · α 16 · lr 5e-3');
    // 3 trial points + the front's 2
    assert.equal(await page.getAttribute('#sweep-params-chart', 'data-points'), '5');
    assert.equal(await page.getAttribute('#sweep-params-chart', 'data-legend'), 'Pareto front');
    assert.equal(await page.getAttribute('#sweep-throughput-chart', 'data-points'), '5');
    const rows = await page.$$eval('#sweep-table tbody tr', (trs) => trs.map((tr) => [tr.getAttribute('data-trial'), tr.getAttribute('data-front')]));
    assert.deepEqual(rows, [['1', 'params,tokens/s'], ['2', 'params,tokens/s'], ['3', '']]);
    if (process.env['PEFT_SCREENSHOT'] !== undefined) await page.screenshot({ path: process.env['PEFT_SCREENSHOT'], fullPage: true });
    await send({ type: 'sweep', dir: '/w/runs/gpu', sweep: null });
    await page.waitForSelector('#sweep-view[hidden]', { state: 'attached' });
  });
});
