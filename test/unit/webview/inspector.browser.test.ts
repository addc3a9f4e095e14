// The dataset inspector webview in a real browser (Debian's chromium via playwright-core): a real inspection of the
// tiny fixture project (the trainer's data pipeline) is posted as the host would, and the drawn tokens are checked.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import type { DataInspectionView, HostToInspector } from '../../../src/shared/inspector';
import { inspectData } from '../../../src/core/train/inspectData';
import { makeProject, recipe } from '../train/project';
import { openWebviewPage, type WebviewPage } from './browserPage';

interface PageGlobals {
  __posted: { type: string; index?: number; line?: number }[];
  postMessage(m: unknown, origin: string): void;
}

describe('dataset inspector webview (chromium)', function () {
  this.timeout(60000);
  let page: Page;
  let view: WebviewPage<HostToInspector, PageGlobals['__posted'][number]>;
  let tmp: string;
  let inspection: DataInspectionView;

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'peft-inspector-'));
    await makeProject(path.join(tmp, 'proj'));
    // max_length 24 cuts the longer examples: the view shows the truncation point.
    fs.writeFileSync(path.join(tmp, 'proj', 'peft-train.yaml'), recipe().replace('max_length: 96', 'max_length: 24'));
    const all = await inspectData({ configFile: path.join(tmp, 'proj', 'peft-train.yaml') });
    const long = all.stats.truncated.count > 0 ? (await Promise.all(Array.from({ length: all.stats.examples }, (_, i) => inspectData({ configFile: path.join(tmp, 'proj', 'peft-train.yaml'), index: i })))).find((r) => r.example.truncatedAt !== null) : undefined;
    inspection = long ?? all;
    view = await openWebviewPage({ entry: 'webview/src/inspector.ts', css: 'media/inspector.css', bodyStyle: '--vscode-foreground:#ccc;--vscode-editor-background:#1e1e1e', viewport: { width: 900, height: 1200 } });
    page = view.page;
  });

  after(async () => {
    await view?.close();
    if (tmp !== undefined) fs.rmSync(tmp, { recursive: true, force: true });
  });

  const send = (m: HostToInspector): Promise<void> => view.send(m);

  it('colours every fed token trained or masked as the labels say, marks special tokens and the truncation point', async () => {
    await send({ type: 'inspection', inspection });
    await page.waitForSelector('#tokens');
    if (process.env['PEFT_SCREENSHOT'] !== undefined) await page.screenshot({ path: process.env['PEFT_SCREENSHOT'], fullPage: true });
    const e = inspection.example;
    const fed = e.tokens.filter((t) => t.fed);
    assert.equal(await page.getAttribute('#tokens', 'data-trained'), String(fed.filter((t) => t.label !== -100).length));
    assert.equal(await page.getAttribute('#tokens', 'data-masked'), String(fed.filter((t) => t.label === -100).length));
    const spans = await page.$$eval('#tokens .tok', (xs) => xs.map((x) => [x.className, x.getAttribute('data-id'), x.getAttribute('data-label')]));
    assert.deepEqual(spans, e.tokens.map((t) => [`tok ${!t.fed ? 'cut' : t.label === -100 ? 'masked' : 'trained'}${t.special ? ' special' : ''}`, String(t.id), String(t.label)]));
    assert.ok(e.tokens.some((t) => t.special), 'BOS/EOS are in the example');
    // Trained and masked tokens are drawn differently in the theme.
    const bg = await page.$$eval('#tokens .tok.trained, #tokens .tok.masked', (xs) => [...new Set(xs.map((x) => (globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }).getComputedStyle(x).backgroundColor))]);
    assert.equal(bg.length, 2, bg.join(' | '));
    if (e.truncatedAt !== null) assert.match(await page.textContent('#tokens .cut-mark') ?? '', new RegExp(`truncated at ${e.truncatedAt}`));
    assert.equal(await page.getAttribute('#length-histogram', 'data-buckets'), String(inspection.stats.histogram.length));
  });

  it('Previous/Next ask the host for the neighbouring example; a reload redraws from the saved state', async () => {
    await page.click('#next');
    await page.waitForFunction(() => (globalThis as unknown as PageGlobals).__posted.some((m) => m.type === 'goto'));
    const posted = await page.evaluate(() => (globalThis as unknown as PageGlobals).__posted);
    assert.deepEqual(posted.filter((m) => m.type === 'goto'), [{ type: 'goto', index: Math.min(inspection.stats.examples - 1, inspection.example.index + 1) }]);
    await send({ type: 'error', message: 'boom' });
    assert.equal(await page.textContent('#error'), 'boom');
  });
});
