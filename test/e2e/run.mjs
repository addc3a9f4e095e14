// Runs the end-to-end suites test/e2e/*.e2e.mjs in name order against a real VS Code (see harness.mjs), one fresh
// code-server per suite; prints "N passed, N failed" and exits non-zero on a failure.
// Usage: node test/e2e/run.mjs [name-filter] [--suites=a,b] [--no-build] (--suites: whole suites by file name)
//
// A suite module exports `tests`: [{ name, timeoutMs?, run(vscode, workspace) }] and optionally `workspace()`, which
// prepares and returns the folder to open (default: an empty temp folder), and `settings` (extra user settings).
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { OUTPUT, REPO, buildExtension, ensureCodeServer, startVSCode } from './harness.mjs';

const args = process.argv.slice(2);
const filter = args.find((a) => !a.startsWith('--'));
const suites = args.find((a) => a.startsWith('--suites='))?.slice('--suites='.length).split(',');
const started = Date.now();
const seconds = (t0) => ((Date.now() - t0) / 1000).toFixed(1);

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms / 1000} s`)), ms); });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function runSuite(file) {
  const suite = await import(pathToFileURL(file).href);
  const name = path.basename(file, '.e2e.mjs');
  const results = { passed: 0, failed: 0 };
  const tests = (suite.tests ?? []).filter((t) => filter === undefined || name.includes(filter) || t.name.includes(filter));
  if (tests.length === 0) return results;
  console.log(`\n${name}`);
  let workspace;
  let vscode = null;
  try {
    workspace = typeof suite.workspace === 'function' ? await suite.workspace() : mkdtempSync(path.join(tmpdir(), `peft-e2e-ws-${name}-`));
    const t0 = Date.now();
    vscode = await startVSCode({ name, settings: suite.settings ?? {} });
    await vscode.openFolder(workspace);
    console.log(`  (VS Code up in ${seconds(t0)} s)`);
  } catch (e) {
    console.log(`  ✘ setup: ${e instanceof Error ? e.stack : String(e)}`);
    if (vscode !== null) await vscode.close();
    return { passed: 0, failed: Math.max(1, tests.length) };
  }
  try {
    for (const t of tests) {
      const t0 = Date.now();
      try {
        await withTimeout(Promise.resolve().then(() => t.run(vscode, workspace)), t.timeoutMs ?? 120_000, t.name);
        results.passed += 1;
        console.log(`  ✔ ${t.name} (${seconds(t0)} s)`);
      } catch (e) {
        results.failed += 1;
        const shot = await vscode.screenshot(`FAILED-${name}-${t.name.replace(/[^\w.-]+/g, '_')}`).catch(() => null);
        console.log(`  ✘ ${t.name} (${seconds(t0)} s): ${e instanceof Error ? e.stack : String(e)}${shot !== null ? `\n    screenshot: ${shot}` : ''}`);
      }
    }
  } finally {
    await vscode.close();
    if (typeof suite.workspace !== 'function') rmSync(workspace, { recursive: true, force: true });
  }
  return results;
}

async function main() {
  mkdirSync(OUTPUT, { recursive: true });
  ensureCodeServer();
  if (!args.includes('--no-build')) buildExtension();
  const dir = path.join(REPO, 'test', 'e2e');
  const files = readdirSync(dir).filter((f) => f.endsWith('.e2e.mjs') && (suites === undefined || suites.includes(f.slice(0, -'.e2e.mjs'.length)))).sort();
  let passed = 0;
  let failed = 0;
  for (const f of files) {
    const r = await runSuite(path.join(dir, f));
    passed += r.passed;
    failed += r.failed;
  }
  console.log(`\n${passed} passed, ${failed} failed (${seconds(started)} s)`);
  process.exitCode = failed > 0 || passed === 0 ? 1 : 0;
}

main().catch((e) => {
  console.error(e instanceof Error ? e.stack : String(e));
  console.log('\n0 passed, 1 failed');
  process.exitCode = 1;
});
