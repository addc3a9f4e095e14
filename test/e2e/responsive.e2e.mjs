// The editor never blocks: a workspace whose adapter config has a catastrophic target_modules regex and whose
// tokenizer's chat template loops. While the recipe's validation runs (in its worker process; the status bar says
// "PEFT: validating"), "PEFT: Show Log" answers within 1 s (median of 5 round trips, each begun and answered while a
// validation was in flight), and the validation gives up at its time budget with a diagnostic.
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { cli, openFile, openPalette, waitForProblems } from './harness.mjs';

/** Every step builds a 100,000-item list: a render runs to the template's own 5 s limit, past the editor's budget. */
const SLOW_TEMPLATE = '{% for i in range(100000) %}{% set n = range(100000) | length %}{% endfor %}';
const EVIL = '(.*.*)*X';
const BUDGET_S = 4.5;

export const settings = { 'peftStudio.validationTimeLimitSeconds': BUDGET_S };

export function workspace() {
  const dir = mkdtempSync(path.join(tmpdir(), 'peft-e2e-responsive-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const model = path.join(dir, 'models', 'tiny');
  cli('fixture', '--arch', 'llama', '--size', 'tiny', model);
  cli('init', dir, '--model', model, '--template', 'instruct');
  const adapter = path.join(dir, 'adapter_config.json');
  writeFileSync(adapter, JSON.stringify({ ...JSON.parse(readFileSync(adapter, 'utf8')), target_modules: EVIL }, null, 2));
  const recipe = path.join(dir, 'peft-train.yaml');
  const text = readFileSync(recipe, 'utf8');
  if (!/^ {2}format: alpaca\b/m.test(text)) throw new Error(`unexpected scaffolded recipe:\n${text}`);
  writeFileSync(recipe, text.replace(/^( {2}format:) alpaca/m, '$1 messages')); // the chat template is checked for messages data
  const tokCfg = path.join(model, 'tokenizer_config.json');
  writeFileSync(tokCfg, JSON.stringify({ ...JSON.parse(readFileSync(tokCfg, 'utf8')), chat_template: SLOW_TEMPLATE }, null, 2));
  return dir;
}

/**
 * One round trip of "PEFT: Show Log" (answered by the extension host): milliseconds from picking it in the palette
 * to the panel showing, and whether a validation was in flight both when it was picked and when it was answered.
 */
async function showLogRoundTrip(vscode, busy) {
  const { page } = vscode;
  const panel = page.locator('.part.panel');
  await openPalette(page);
  await page.keyboard.type('PEFT: Show Log');
  const row = page.locator('.quick-input-widget .quick-input-list .monaco-list-row').filter({ hasText: 'PEFT: Show Log' }).first();
  await row.waitFor({ state: 'visible', timeout: 15_000 });
  const before = await busy.isVisible();
  const t0 = Date.now();
  await row.click();
  await panel.waitFor({ state: 'visible', timeout: 30_000 });
  const ms = Date.now() - t0;
  const after = await busy.isVisible();
  await vscode.runCommand('View: Hide Panel');
  await panel.waitFor({ state: 'hidden', timeout: 10_000 });
  return { ms, during: before && after };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export const tests = [
  {
    name: 'a command answers within 1 s while a looping chat template is validated; validation gives up with a diagnostic',
    timeoutMs: 120_000,
    async run(vscode, ws) {
      const { page } = vscode;
      const panel = page.locator('.part.panel');
      const busy = page.locator('.part.statusbar').getByText('PEFT: validating').first();
      if (await panel.isVisible()) {
        await vscode.runCommand('View: Hide Panel');
        await panel.waitFor({ state: 'hidden', timeout: 10_000 });
      }
      // contributed commands are listed once the extension host has scanned the extension
      for (const deadline = Date.now() + 60_000; !(await vscode.paletteEntries('PEFT: Show Log')).some((e) => e.includes('PEFT: Show Log'));) {
        if (Date.now() > deadline) throw new Error('"PEFT: Show Log" never appeared in the palette');
        await new Promise((r) => setTimeout(r, 500));
      }
      const idle = (await showLogRoundTrip(vscode, busy)).ms; // nothing validates yet (also activates the extension)

      await openFile(vscode, 'peft-train.yaml');
      // A validation lasts the budget (the worker is then terminated): touching the tokenizer's config starts the next.
      const tokCfg = path.join(ws, 'models', 'tiny', 'tokenizer_config.json');
      const during = [];
      const discarded = [];
      for (let attempt = 0; during.length < 5; attempt++) {
        if (attempt === 20) throw new Error(`only ${during.length} of 20 round trips ran while a validation was in flight (${during.join(', ')} ms; others ${discarded.join(', ')} ms)`);
        if (!(await busy.isVisible())) {
          if (attempt > 0) writeFileSync(tokCfg, readFileSync(tokCfg, 'utf8') + ' ');
          await busy.waitFor({ state: 'visible', timeout: 20_000 });
        }
        const r = await showLogRoundTrip(vscode, busy);
        (r.during ? during : discarded).push(r.ms);
      }
      console.log(`    Show Log round trip: idle ${idle} ms; while validating ${during.join(', ')} ms (median ${median(during)} ms)${discarded.length > 0 ? `; not counted ${discarded.join(', ')} ms` : ''}`);
      if (median(during) >= 1000) throw new Error(`the extension host answered slowly while validating: ${during.join(', ')} ms`);

      const gaveUp = new RegExp(`Validation gave up after ${BUDGET_S} s: checking peft-train\\.yaml, its base model and its tokenizer's chat template took too long`);
      await waitForProblems(vscode, (rows) => rows.some((r) => gaveUp.test(r)), 60_000);
      await busy.waitFor({ state: 'hidden', timeout: 10_000 });
      await vscode.screenshot('responsive-gave-up');

      // the adapter config's catastrophic regex is answered too (linear-time matching, in the worker)
      await openFile(vscode, 'adapter_config.json');
      await waitForProblems(vscode, (rows) => rows.some((r) => /Target module regex "\(\.\*\.\*\)\*X" matches no module of the base model/.test(r)), 60_000);
    },
  },
];
