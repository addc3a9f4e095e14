// End-to-end harness: a real VS Code (code-server 4.100.3, installed by scripts/setup-e2e.sh) with the built extension,
// driven through playwright-core and Debian's chromium. Helpers for the palette, notifications, Problems, webviews, screenshots.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const OUTPUT = path.join(REPO, 'test-output', 'e2e');
export const CODE_SERVER_VERSION = '4.100.3';
const CACHE = process.env.PEFT_STUDIO_E2E_CACHE ?? path.join(homedir(), '.cache', 'peft-studio-e2e');
export const CODE_SERVER_ENTRY = path.join(CACHE, `code-server-${CODE_SERVER_VERSION}`, 'node_modules', 'code-server', 'out', 'node', 'entry.js');
const CHROMIUM = process.env.PEFT_STUDIO_E2E_CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];
/** Externals the extension bundle loads from node_modules at run time (scripts/build.mjs `external`, minus vscode). */
const RUNTIME_MODULES = ['onnxruntime-node', 'onnxruntime-common'];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function codeServerInstalled() {
  return existsSync(CODE_SERVER_ENTRY);
}

/** Runs scripts/setup-e2e.sh when code-server is not in the cache yet. */
export function ensureCodeServer() {
  if (codeServerInstalled()) return;
  const r = spawnSync('bash', [path.join(REPO, 'scripts', 'setup-e2e.sh')], { stdio: 'inherit' });
  if (r.status !== 0 || !codeServerInstalled()) throw new Error('scripts/setup-e2e.sh failed: code-server is not installed');
}

/** Builds dist/ (extension, worker, CLI, webview) with the project's esbuild script. */
export function buildExtension() {
  const r = spawnSync(process.execPath, [path.join(REPO, 'scripts', 'build.mjs')], { cwd: REPO, stdio: 'inherit' });
  if (r.status !== 0) throw new Error('npm run build failed');
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Copies the extension as VS Code installs it: package.json, dist/, media/, and the external runtime modules (this platform's binaries only). */
export function installExtension(extensionsDir) {
  const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8'));
  const dest = path.join(extensionsDir, `${pkg.publisher}.${pkg.name}-${pkg.version}`);
  mkdirSync(dest, { recursive: true });
  for (const f of ['package.json', 'dist', 'media', 'schemas', 'README.md', 'LICENSE', 'package.nls.json']) {
    const src = path.join(REPO, f);
    if (existsSync(src)) cpSync(src, path.join(dest, f), { recursive: true });
  }
  const binDir = path.join('bin', 'napi-v6');
  const here = path.join(binDir, process.platform, process.arch);
  for (const m of RUNTIME_MODULES) {
    const src = path.join(REPO, 'node_modules', m);
    if (!existsSync(src)) continue;
    cpSync(src, path.join(dest, 'node_modules', m), {
      recursive: true,
      filter: (p) => {
        const rel = path.relative(src, p);
        // keep bin/napi-v6, bin/napi-v6/<platform>, and everything under <platform>/<arch>; drop other platforms
        return !rel.startsWith(binDir + path.sep) || here.startsWith(rel) || rel.startsWith(here);
      },
    });
  }
  return dest;
}

/** Installs a packaged .vsix the way users do: code-server --install-extension FILE (its own unpacking, no copying). */
export function installVsix(vsix, extensionsDir, userDataDir) {
  const r = spawnSync(process.execPath, [CODE_SERVER_ENTRY, '--extensions-dir', extensionsDir, '--user-data-dir', userDataDir, '--install-extension', vsix],
    { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0 || !/was successfully installed/.test(r.stdout + r.stderr)) {
    throw new Error(`code-server --install-extension ${vsix} failed (${r.status}): ${r.stdout}${r.stderr}`);
  }
}

/**
 * Starts code-server with a fresh user-data dir and extensions dir holding the built extension, and a chromium page on it.
 * `opts.vsix`: install that package with --install-extension instead of copying the build.
 * Always call `close()` (it kills code-server and the browser).
 */
export async function startVSCode(opts = {}) {
  if (!codeServerInstalled()) throw new Error(`code-server is not installed at ${CODE_SERVER_ENTRY}: run scripts/setup-e2e.sh`);
  mkdirSync(OUTPUT, { recursive: true });
  const root = mkdtempSync(path.join(tmpdir(), 'peft-e2e-'));
  // The trainer's test gate (src/core/train/stepGate.ts): a file per run name holds the last step it may take, so a
  // test that stops or watches a run in flight holds it at a known step instead of racing the machine's speed.
  const gate = path.join(root, 'step-gate');
  mkdirSync(gate, { recursive: true });
  const userData = path.join(root, 'user-data');
  const extensions = path.join(root, 'extensions');
  mkdirSync(path.join(userData, 'User'), { recursive: true });
  writeFileSync(path.join(userData, 'User', 'settings.json'), JSON.stringify({
    'workbench.startupEditor': 'none', 'security.workspace.trust.enabled': false, 'telemetry.telemetryLevel': 'off',
    'extensions.autoCheckUpdates': false, 'extensions.autoUpdate': false, 'extensions.ignoreRecommendations': true,
    'workbench.tips.enabled': false, 'update.mode': 'none', 'workbench.enableExperiments': false, 'chat.disableAIFeatures': true,
    'git.enabled': false, 'files.autoSave': 'off', 'window.restoreWindows': 'none',
    ...(opts.settings ?? {}),
  }, null, 2));
  if (opts.vsix !== undefined) installVsix(opts.vsix, extensions, userData);
  else installExtension(extensions);

  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const logFile = path.join(OUTPUT, `code-server-${opts.name ?? 'run'}.log`);
  const log = createWriteStream(logFile);
  const server = spawn(process.execPath, [CODE_SERVER_ENTRY, '--auth', 'none', '--bind-addr', `127.0.0.1:${port}`,
    '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust', '--disable-getting-started-override',
    '--extensions-dir', extensions, '--user-data-dir', userData], {
    detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PEFT_STUDIO_TEST_STEP_GATE: gate, ...(opts.env ?? {}) },
  });
  server.stdout.pipe(log);
  server.stderr.pipe(log);
  let exited = null;
  server.on('exit', (code) => { exited = code; });
  const killServer = () => {
    if (exited === null && server.pid !== undefined) {
      try { process.kill(-server.pid, 'SIGKILL'); } catch { /* already gone */ }
    }
  };
  process.once('exit', killServer);

  let browser = null;
  const close = async () => {
    try { if (browser !== null) await browser.close(); } catch { /* ignore */ }
    killServer();
    process.removeListener('exit', killServer);
    for (let i = 0; i < 50 && exited === null; i++) await sleep(100);
    log.end();
    if (opts.keepDirs !== true) rmSync(root, { recursive: true, force: true });
  };

  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (exited !== null) throw new Error(`code-server exited with ${exited}; see ${logFile}`);
      try {
        const r = await fetch(`${url}/healthz`);
        if (r.ok) break;
      } catch { /* not up yet */ }
      if (Date.now() > deadline) throw new Error(`code-server did not answer on ${url} within 60 s; see ${logFile}`);
      await sleep(250);
    }
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS, headless: true });
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await context.newPage();
    return makeDriver({ page, url, port, root, gate, userData, extensions, logFile, close });
  } catch (e) {
    await close();
    throw e;
  }
}

function makeDriver(ctx) {
  const { page } = ctx;
  const d = {
    ...ctx,
    /** Holds run `runName` after step `step` (it waits before the next step until released or stopped). */
    holdRun(runName, step) {
      writeFileSync(path.join(ctx.gate, runName), String(step));
    },
    /** Lets run `runName` go on freely. */
    releaseRun(runName) {
      rmSync(path.join(ctx.gate, runName), { force: true });
    },
    /** Opens a folder as the workspace and waits for the workbench. */
    async openFolder(folder, timeoutMs = 90_000) {
      await page.goto(`${ctx.url}/?folder=${encodeURIComponent(path.resolve(folder))}`);
      await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: timeoutMs });
      await page.locator('.part.statusbar').waitFor({ state: 'visible', timeout: timeoutMs });
      await page.locator('.explorer-folders-view, .explorer-viewlet').first().waitFor({ timeout: timeoutMs }).catch(() => {});
    },
    /** Opens the command palette with `filter` typed; returns the labels of the rows shown. */
    async paletteEntries(filter, settleMs = 500) {
      await openPalette(page);
      await page.keyboard.type(filter);
      await sleep(settleMs);
      const labels = await page.locator('.quick-input-widget .quick-input-list .monaco-list-row').evaluateAll(
        (rows) => rows.map((r) => (r.getAttribute('aria-label') ?? r.textContent ?? '').trim()));
      await page.keyboard.press('Escape');
      return labels;
    },
    /** Runs a command from the palette by its full title ("PEFT: Train Adapter"). */
    async runCommand(title, timeoutMs = 30_000) {
      await openPalette(page);
      await page.keyboard.type(title);
      const row = page.locator('.quick-input-widget .quick-input-list .monaco-list-row').filter({ hasText: title }).first();
      await row.waitFor({ state: 'visible', timeout: timeoutMs });
      await row.click();
    },
    /** Texts of the notification toasts shown now. */
    async notifications() {
      return page.locator('.notifications-toasts .notification-list-item-message').allInnerTexts();
    },
    /** Waits for a notification toast whose text matches `re`; returns its text. */
    async waitForNotification(re, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = (await d.notifications()).find((t) => re.test(t));
        if (hit !== undefined) return hit;
        if (Date.now() > deadline) throw new Error(`no notification matching ${re} within ${timeoutMs} ms; shown: ${JSON.stringify(await d.notifications())}`);
        await sleep(250);
      }
    },
    /** The Problems panel's rows (aria labels: "message, source, line, column" as VS Code writes them). */
    async problems(settleMs = 500) {
      await d.runCommand('View: Focus Problems');
      await page.locator('.markers-panel').first().waitFor({ state: 'visible', timeout: 10_000 });
      await sleep(settleMs);
      return page.locator('.markers-panel .monaco-list-row').evaluateAll(
        (rows) => rows.map((r) => (r.getAttribute('aria-label') ?? r.textContent ?? '').trim()));
    },
    /** The content frame of a webview that contains `selector` (webviews are nested iframes). */
    async webviewFrame(selector, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        for (const f of page.frames()) {
          if (f === page.mainFrame()) continue;
          const has = await f.locator(selector).count().catch(() => 0);
          if (has > 0) return f;
        }
        if (Date.now() > deadline) throw new Error(`no webview frame with ${selector} within ${timeoutMs} ms`);
        await sleep(250);
      }
    },
    /** Saves a PNG into test-output/e2e/<name>.png and returns its path. */
    async screenshot(name) {
      const file = path.join(OUTPUT, `${name}.png`);
      await page.screenshot({ path: file });
      return file;
    },
  };
  return d;
}

/** F1 with the input showing ">"; retried because an editor that takes focus late closes the quick input. */
export async function openPalette(page) {
  const input = page.locator('.quick-input-widget .quick-input-box input');
  for (let attempt = 1; ; attempt++) {
    try {
      await page.keyboard.press('Escape');
      await page.keyboard.press('F1');
      await input.waitFor({ state: 'visible', timeout: 5_000 });
      await input.fill('>', { timeout: 3_000 });
      await sleep(100);
      if (await input.isVisible()) return;
      throw new Error('the command palette closed again');
    } catch (e) {
      if (attempt >= 4) throw e;
      await sleep(500);
    }
  }
}

// ---- Editor helpers (validation suite): functions of a driver from startVSCode(), for the active editor ----

/** Quick Open (Ctrl+P): types `name`, picks the first row that shows it, waits for its tab to be the active one. */
export async function openFile(vscode, name, timeoutMs = 15_000) {
  const { page } = vscode;
  const input = page.locator('.quick-input-widget .quick-input-box input');
  for (let attempt = 1; ; attempt++) {
    try {
      await page.keyboard.press('Escape');
      await page.keyboard.press('Control+P');
      await input.waitFor({ state: 'visible', timeout: 5_000 });
      await input.fill(name);
      const row = page.locator('.quick-input-widget .quick-input-list .monaco-list-row').filter({ hasText: name }).first();
      await row.waitFor({ state: 'visible', timeout: timeoutMs });
      await row.click();
      await page.locator('.editor-group-container.active .tab.active').filter({ hasText: name }).waitFor({ timeout: timeoutMs });
      await page.locator('.editor-group-container.active .monaco-editor .view-lines').first().waitFor({ timeout: timeoutMs });
      await page.mouse.move(150, 700); // off the tab (its "Close" tooltip) and the text (hovers), onto the explorer's free space
      return;
    } catch (e) {
      if (attempt >= 3) throw e;
      await sleep(500);
    }
  }
}

/** Go to Line/Column (Ctrl+G) in the active editor, 1-based; waits for the status bar to show the cursor there. */
export async function goTo(vscode, line, column = 1) {
  const { page } = vscode;
  const input = page.locator('.quick-input-widget .quick-input-box input');
  const status = page.locator('#status\\.editor\\.selection');
  for (let attempt = 1; ; attempt++) {
    try {
      await page.keyboard.press('Escape');
      await page.keyboard.press('Control+G');
      await input.waitFor({ state: 'visible', timeout: 5_000 });
      await input.fill(`:${line}:${column}`);
      await sleep(150);
      await page.keyboard.press('Enter');
      await status.filter({ hasText: new RegExp(`Ln ${line}, Col ${column}\\b`) }).waitFor({ timeout: 5_000 });
      return;
    } catch (e) {
      if (attempt >= 3) throw e;
      await sleep(500);
    }
  }
}

/** The Problems panel's rows as shown now, without opening it ([] when hidden); aria labels as in `problems()`. */
export async function problemRows(vscode) {
  return vscode.page.locator('.markers-panel .monaco-list-row').evaluateAll(
    (rows) => rows.map((r) => (r.getAttribute('aria-label') ?? r.textContent ?? '').trim()));
}

/**
 * Shows the Problems panel (once) and polls its rows until `predicate(rows)` holds; returns those rows. The error
 * lists the rows last shown. Focus stays in the panel: use goTo()/openFile() to get back to an editor.
 */
export async function waitForProblems(vscode, predicate, timeoutMs = 30_000) {
  const panel = vscode.page.locator('.markers-panel').first();
  if (!(await panel.isVisible().catch(() => false))) {
    await vscode.runCommand('View: Focus Problems');
    await panel.waitFor({ state: 'visible', timeout: 10_000 });
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await problemRows(vscode);
    if (predicate(rows)) return rows;
    if (Date.now() > deadline) throw new Error(`the Problems panel did not reach the expected state within ${timeoutMs} ms; rows: ${JSON.stringify(rows, null, 1)}`);
    await sleep(300);
  }
}

/** The CodeLenses of the active editor: [{ text, title }] (title = the command's tooltip). */
export async function codeLenses(vscode) {
  return vscode.page.locator('.editor-group-container.active .monaco-editor .codelens-decoration a').evaluateAll(
    (links) => links.map((a) => ({ text: (a.textContent ?? '').trim(), title: a.getAttribute('title') ?? '' })));
}

/** Puts the cursor at line:column of the active editor, shows the hover (Ctrl+K Ctrl+I) and returns its text once it matches `re`. */
export async function hoverText(vscode, line, column, re = /./, timeoutMs = 20_000) {
  const { page } = vscode;
  const hover = page.locator('.monaco-editor .monaco-hover:not(.hidden)').filter({ hasText: re }).first();
  for (let attempt = 1; ; attempt++) {
    try {
      await goTo(vscode, line, column);
      await page.keyboard.press('Control+K');
      await page.keyboard.press('Control+I');
      await hover.waitFor({ state: 'visible', timeout: timeoutMs / 2 });
      return await hover.innerText();
    } catch (e) {
      if (attempt >= 2) throw e;
    }
  }
}

/** Runs the built CLI (dist/cli.js) in a child process; returns its stdout, throws with its output when it fails. */
export function cli(...args) {
  const script = `require(${JSON.stringify(path.join(REPO, 'dist', 'cli.js'))}).main(process.argv.slice(1)).then((c) => { process.exitCode = c; })`;
  const r = spawnSync(process.execPath, ['-e', script, '--', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`peft-studio ${args.join(' ')} failed (${r.status}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** 1-based line and column of the first occurrence of `needle` in a file on disk. */
export function positionOf(file, needle) {
  const lines = readFileSync(file, 'utf8').split('\n');
  const i = lines.findIndex((l) => l.includes(needle));
  if (i < 0) throw new Error(`${needle} is not in ${file}`);
  return { line: i + 1, column: lines[i].indexOf(needle) + 1 };
}

/** Polls `predicate` (sync or async) every 250 ms until it holds; past `timeoutMs` the error names `what`. */
export async function waitFor(predicate, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Scrolls a webview element into view for a screenshot. The dashboard redraws a part when the host sends the run
 * again, which can detach the element under the scroll: the locator is resolved again and the scroll retried.
 */
export async function scrollIntoView(locator, tries = 5) {
  for (let i = 1; ; i++) {
    try {
      await locator.scrollIntoViewIfNeeded({ timeout: 5_000 });
      return;
    } catch (e) {
      if (i >= tries) throw e;
    }
  }
}

/** The quick-input box (palette, input boxes, quick picks). */
export const quickInput = (vscode) => vscode.page.locator('.quick-input-widget .quick-input-box input');

/** Runs a palette command once it is listed: contributed commands appear after the extension host scanned the extension. */
export async function runWhenAvailable(vscode, title, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await vscode.paletteEntries(title)).some((e) => e.includes(title))) {
    if (Date.now() > deadline) throw new Error(`"${title}" never appeared in the palette`);
    await new Promise((r) => setTimeout(r, 500));
  }
  await vscode.runCommand(title);
}
