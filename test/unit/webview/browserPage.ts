// One webview page in a real browser for the webview tests: bundles the entry with esbuild, serves it from a temp
// folder with its stylesheet and a stand-in for VS Code's acquireVsCodeApi, and waits for the page's `ready`.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { build } from 'esbuild';
import { chromium, type Browser, type Page } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';
export const REPO_ROOT = path.resolve(__dirname, '../../..');

export interface WebviewPageOptions {
  /** Bundle entry, relative to the repository root (e.g. `webview/src/main.ts`). */
  entry: string;
  /** Stylesheet, relative to the repository root (e.g. `media/dashboard.css`). */
  css: string;
  /** CSS variables VS Code would set on the body (theme colours the page reads). */
  bodyStyle: string;
  viewport: { width: number; height: number };
  /** Keep getState/setState in sessionStorage so that the state survives page.reload(), as a hidden webview's does. */
  persistState?: boolean;
}

export interface WebviewPage<HostMessage, Posted> {
  page: Page;
  /** Posts a message to the page as the extension host would. */
  send(m: HostMessage): Promise<void>;
  /** Every message the page posted to the host so far. */
  posted(): Promise<Posted[]>;
  close(): Promise<void>;
}

interface PageGlobals {
  __posted: unknown[];
  postMessage(m: unknown, origin: string): void;
}

export async function openWebviewPage<HostMessage, Posted>(opts: WebviewPageOptions): Promise<WebviewPage<HostMessage, Posted>> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install it with scripts/setup-e2e.sh (apt-get install chromium)`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'peft-webview-'));
  let browser: Browser | undefined;
  try {
    await build({ entryPoints: [path.join(REPO_ROOT, opts.entry)], bundle: true, format: 'iife', platform: 'browser', target: 'es2022', outfile: path.join(tmp, 'page.js'), logLevel: 'silent' });
    fs.copyFileSync(path.join(REPO_ROOT, opts.css), path.join(tmp, 'page.css'));
    const state = opts.persistState === true
      ? `getState: () => JSON.parse(sessionStorage.getItem('st') || 'null') || undefined, setState: (s) => sessionStorage.setItem('st', JSON.stringify(s))`
      : 'getState: () => st, setState: (s) => { st = s; }';
    fs.writeFileSync(path.join(tmp, 'index.html'), `<!DOCTYPE html><html><head><link rel="stylesheet" href="page.css">
<script>window.__posted = []; let st; window.acquireVsCodeApi = () => ({ postMessage: (m) => window.__posted.push(m), ${state} });</script>
</head><body class="vscode-dark" style="${opts.bodyStyle}"><main id="app"></main><script src="page.js"></script></body></html>`);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
    const page = await browser.newPage({ viewport: opts.viewport });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`file://${path.join(tmp, 'index.html')}`);
    await page.waitForFunction(() => (globalThis as unknown as PageGlobals).__posted.some((m) => (m as { type?: string }).type === 'ready'));
    assert.deepEqual(errors, [], 'the page loads without script errors');
    const b = browser;
    return {
      page,
      send: (m) => page.evaluate((msg) => (globalThis as unknown as PageGlobals).postMessage(msg, '*'), m as unknown),
      posted: () => page.evaluate(() => (globalThis as unknown as PageGlobals).__posted) as Promise<Posted[]>,
      close: async () => {
        await b.close();
        fs.rmSync(tmp, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await browser?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}
