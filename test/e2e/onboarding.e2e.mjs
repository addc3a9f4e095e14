// First use in a real VS Code, on an empty folder: the PEFT Studio side bar shows the Runs view open and the dashboard's
// empty state as buttons; the "Get Started" link opens the walkthrough with its five steps (screenshots
// onboarding-empty.png, onboarding-walkthrough.png); the dashboard's Open Demo Project button creates the demo.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { REPO } from './harness.mjs';

const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8'));
const walkthrough = pkg.contributes.walkthroughs[0];

export function workspace() {
  return mkdtempSync(path.join(tmpdir(), 'peft-e2e-onboarding-'));
}

/**
 * The PEFT Studio side bar's dashboard frame once it shows `selector`; opens the container with its activity-bar icon as a
 * new user does (the extension is not active yet in an empty folder), unless it is open already (a click would close it).
 */
async function sideView(vscode, selector, timeoutMs = 60_000) {
  const item = vscode.page.locator('.activitybar .action-item').filter({ has: vscode.page.locator('[aria-label^="PEFT Studio"]') }).first();
  if (!/\bchecked\b/.test((await item.getAttribute('class')) ?? '')) await item.locator('[aria-label^="PEFT Studio"]').first().click();
  return vscode.webviewFrame(`body[data-place="view"] ${selector}`, timeoutMs);
}

export const tests = [
  {
    name: 'first use: the Runs view is open and the empty dashboard offers New Adapter Project and Open Demo Project buttons',
    timeoutMs: 120_000,
    async run(vscode) {
      const frame = await sideView(vscode, '#runs-list[data-count="0"]');
      for (const [id, label] of [['new-project-button', 'New Adapter Project'], ['open-demo-button', 'Open Demo Project']]) {
        const text = (await frame.locator(`#${id}`).innerText()).trim();
        if (text !== label) throw new Error(`#${id} says "${text}"`);
      }
      if (await frame.locator('#runs-list.empty').count() !== 0) throw new Error('the empty state is still the italic sentence');
      // the Runs view is expanded on first use: its welcome content shows without a click
      const welcome = vscode.page.locator('.pane').filter({ has: vscode.page.locator('.pane-header', { hasText: 'Runs' }) }).locator('.welcome-view-content');
      await welcome.filter({ hasText: 'No training runs yet.' }).first().waitFor({ state: 'visible', timeout: 30_000 });
      await vscode.screenshot('onboarding-empty');
    },
  },
  {
    name: 'the Get Started link of the empty dashboard opens the walkthrough with its five steps',
    timeoutMs: 90_000,
    async run(vscode) {
      const frame = await sideView(vscode, '#walkthrough-link');
      await frame.locator('#walkthrough-link').click();
      const page = vscode.page;
      await page.locator('.gettingStartedContainer').filter({ hasText: walkthrough.title }).first().waitFor({ state: 'visible', timeout: 30_000 });
      for (const step of walkthrough.steps) {
        await page.locator('.getting-started-step').filter({ hasText: step.title }).first().waitFor({ state: 'attached', timeout: 10_000 });
      }
      if (walkthrough.steps.length !== 5) throw new Error(`${walkthrough.steps.length} steps`);
      await vscode.screenshot('onboarding-walkthrough');
      await vscode.runCommand('View: Close All Editors');
    },
  },
  {
    name: 'the empty dashboard\'s Open Demo Project button creates the demo project and opens its recipe',
    timeoutMs: 180_000,
    async run(vscode, ws) {
      const frame = await sideView(vscode, '#open-demo-button');
      await frame.locator('#open-demo-button').click();
      const widget = vscode.page.locator('.quick-input-widget');
      const input = widget.locator('.quick-input-box input');
      await input.waitFor({ state: 'visible', timeout: 15_000 });
      await widget.locator('.monaco-list-row').first().waitFor({ state: 'visible', timeout: 15_000 });
      await input.fill(`${ws}/`);
      await widget.locator('.monaco-button').filter({ hasText: 'Create the Demo Project in This Folder' }).first().click();
      await vscode.page.locator('.tab.active').filter({ hasText: 'peft-train.yaml' }).first().waitFor({ timeout: 150_000 });
      for (const f of ['peft-train.yaml', 'adapter_config.json', path.join('models', 'demo-llama', 'config.json')]) {
        if (!existsSync(path.join(ws, 'peft-studio-demo', f))) throw new Error(`the demo has no ${f}`);
      }
    },
  },
];
