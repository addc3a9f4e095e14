// The Playground webview in a real browser (Debian's chromium via playwright-core): bundles it with esbuild, stands
// in for the host, and checks the columns, streaming, the divergence highlight, generate/keyboard, state and reopen.
import * as assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { DEFAULT_SAMPLING, type HostToPlayground, type PgComparison, type PgSetup } from '../../../src/shared/playground';
import { openWebviewPage, type WebviewPage } from './browserPage';

interface PageGlobals {
  __posted: { type: string; id?: number; columns?: { adapter: string | null; sampling: { seed: number }; prompt?: string }[]; setup?: unknown; comparison?: PgComparison }[];
  postMessage(m: unknown, origin: string): void;
}
const SETUP: PgSetup = {
  model: '/w/models/tiny', columns: [null, '/w/runs/a/adapter', '/w/runs/b/checkpoints/step-10'], status: 'ready',
  adapters: [{ dir: '/w/runs/a/adapter', sha256: 'ab'.repeat(32) }, { dir: '/w/runs/b/checkpoints/step-10', sha256: 'cd'.repeat(32) }],
};

describe('playground webview (chromium)', function () {
  this.timeout(60000);
  let page: Page;
  let view: WebviewPage<HostToPlayground, PageGlobals['__posted'][number]>;

  before(async () => {
    view = await openWebviewPage({ entry: 'webview/src/playground/main.ts', css: 'media/playground.css', bodyStyle: '--vscode-foreground:#ccc', viewport: { width: 1200, height: 900 }, persistState: true });
    page = view.page;
  });

  after(async () => {
    await view?.close();
  });

  const send = (m: HostToPlayground): Promise<void> => view.send(m);
  const posted = (): Promise<PageGlobals['__posted']> => view.posted();
  const answers = (): Promise<string[]> => page.$$eval('.column [data-testid="answer"]', (els) => els.map((e) => e.textContent ?? ''));

  it('renders one column per adapter with names and hashes', async () => {
    await send({ type: 'setup', setup: SETUP });
    await page.waitForSelector('#column-2');
    const titles = await page.$$eval('.column h3', (els) => els.map((e) => e.textContent));
    assert.deepEqual(titles, ['Base model', 'a (final)', 'b @ step-10']);
    assert.deepEqual(await page.$$eval('.column .sha', (els) => els.map((e) => e.textContent)), ['abababab' + 'ab', 'cdcdcdcd' + 'cd']);
  });

  it('Ctrl+Enter generates in every column with the same seed; tokens stream; the divergence is highlighted', async () => {
    await page.fill('#prompt', 'Once upon');
    await page.focus('#prompt');
    await page.keyboard.press('Control+Enter');
    const gen = (await posted()).find((m) => m.type === 'generate')!;
    assert.ok(gen !== undefined, 'generate posted');
    assert.deepEqual(gen.columns!.map((c) => c.adapter), SETUP.columns);
    assert.deepEqual(gen.columns!.map((c) => c.sampling.seed), [0, 0, 0]);
    assert.deepEqual(gen.columns!.map((c) => c.prompt), ['Once upon', 'Once upon', 'Once upon']);
    const id = gen.id!;
    const toks: [number, number[], string[]][] = [[0, [5, 6, 7, 8], [' a', ' time', ' there', ' was']], [1, [5, 6, 9], [' a', ' time', ' the']], [2, [5, 6, 7, 10], [' a', ' time', ' there', ' lived']]];
    for (let i = 0; i < 4; i++) for (const [c, ids, texts] of toks) if (i < ids.length) await send({ type: 'token', id, column: c, token: ids[i]!, text: texts[i]! });
    await page.waitForFunction(() => (globalThis as unknown as { document: { querySelectorAll(s: string): { length: number } } }).document.querySelectorAll('.column .tok').length === 11);
    assert.deepEqual(await answers(), [' a time there was▍', ' a time the▍', ' a time there lived▍']);
    // column 1 differs at token 3 (index 2)
    assert.deepEqual(await page.$$eval('.column .tok.diverge', (els) => els.map((e) => e.textContent)), [' there', ' the', ' there']);
    assert.equal(await page.$$eval('.column .tok.after', (els) => els.length), 2);
    for (const [c, ids] of toks) await send({ type: 'columnDone', id, column: c, result: { tokenIds: ids, text: '', finishReason: 'length', promptTokens: 3, ttftMs: 12.3, tokensPerS: 45.67 } });
    await send({ type: 'done', id });
    await page.waitForFunction(() => !(globalThis as unknown as { document: { getElementById(s: string): { hasAttribute(a: string): boolean } } }).document.getElementById('generate').hasAttribute('disabled'));
    const stats = await page.$$eval('.column [data-testid="stats"]', (els) => els.map((e) => e.textContent));
    assert.equal(stats[0], 'TTFT 12 ms · 45.7 tok/s · 4 tokens · length · diverges at token 3');
  });

  it('a column error is shown as a message; "Same seed" off gives each column its own seed', async () => {
    await page.click('#same-seed');
    await page.click('#generate');
    const gens = (await posted()).filter((m) => m.type === 'generate');
    const gen = gens.at(-1)!;
    assert.deepEqual(gen.columns!.map((c) => c.sampling.seed), [0, 1, 2]);
    await send({ type: 'columnError', id: gen.id!, column: 1, message: 'LoRA tensor shape does not fit the base model (expected [4, 64], got [4, 48])' });
    await page.waitForSelector('#column-1 .col-error');
    assert.match(await page.textContent('#column-1 .col-error') ?? '', /does not fit the base model/);
    await page.keyboard.press('Escape');
    assert.ok((await posted()).some((m) => m.type === 'cancel' && m.id === gen.id), 'Escape cancels');
    await send({ type: 'done', id: gen.id! });
  });

  it('keeps its state across a reload and asks the host to reopen the model and columns', async () => {
    await page.reload();
    await page.waitForFunction(() => (globalThis as unknown as PageGlobals).__posted.some((m) => m.type === 'ready'));
    const ready = (await posted()).find((m) => m.type === 'ready')!;
    assert.deepEqual(ready.setup, { model: SETUP.model, columns: SETUP.columns });
    assert.equal(await page.inputValue('#prompt'), 'Once upon');
    assert.match(await page.textContent('#column-1 .col-error') ?? '', /does not fit/);
  });

  it('"Settings per column" gives each column its own sampling fields', async () => {
    await page.click('#per-column');
    await page.waitForSelector('#column-1-temperature');
    assert.equal(await page.$('#shared-temperature'), null, 'no shared form');
    await page.fill('#column-1-temperature', '0.8');
    await page.$eval('#column-1-temperature', (e) => e.dispatchEvent(new Event('change')));
    await page.fill('#column-2-topK', '7');
    await page.$eval('#column-2-topK', (e) => e.dispatchEvent(new Event('change')));
    await page.click('#generate');
    const gen = (await posted()).filter((m) => m.type === 'generate').at(-1)! as unknown as { id: number; columns: { sampling: { temperature: number; topK: number } }[] };
    assert.deepEqual(gen.columns.map((c) => [c.sampling.temperature, c.sampling.topK]), [[0, 0], [0.8, 0], [0, 7]]);
    await send({ type: 'done', id: gen.id });
    await page.click('#per-column');
    await page.waitForSelector('#shared-temperature');
  });

  it('saves a comparison and reopens one', async () => {
    await send({ type: 'setup', setup: SETUP });
    await page.click('#save-comparison');
    const saved = (await posted()).find((m) => m.type === 'save')!.comparison!;
    assert.equal(saved.kind, 'peft-studio.playground-comparison');
    assert.deepEqual(saved.columns.map((c) => c.adapter_sha256), [undefined, 'ab'.repeat(32), 'cd'.repeat(32)]);
    const c: PgComparison = {
      ...saved, prompt: 'Hello', same_seed: true,
      columns: SETUP.columns.map((adapter, i) => ({ adapter, sampling: { ...DEFAULT_SAMPLING }, output: i === 2 ? 'Hi you' : 'Hi there', token_ids: i === 2 ? [1, 3] : [1, 2], pieces: i === 2 ? ['Hi', ' you'] : ['Hi', ' there'] })),
    };
    await send({ type: 'comparison', comparison: c, file: '/w/runs/a/playground/comparison-x.json' });
    await page.waitForFunction(() => (globalThis as unknown as { document: { querySelectorAll(s: string): { length: number } } }).document.querySelectorAll('.column .tok.diverge').length === 3);
    assert.deepEqual(await answers(), ['Hi there', 'Hi there', 'Hi you']);
    assert.equal(await page.inputValue('#prompt'), 'Hello');
    assert.match(await page.textContent('#status') ?? '', /Opened .*comparison-x\.json/);
    if (process.env['PEFT_SCREENSHOT'] !== undefined) await page.screenshot({ path: process.env['PEFT_SCREENSHOT'], fullPage: true });
  });
});
