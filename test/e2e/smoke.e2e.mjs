// Smoke test in a real VS Code: the workbench loads a PEFT project, the extension is installed and activates
// (workspaceContains:**/peft-train.yaml), the PEFT commands the manifest contributes are in the palette; screenshot.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { REPO } from './harness.mjs';

const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8'));

export function workspace() {
  const dir = mkdtempSync(path.join(tmpdir(), 'peft-e2e-smoke-'));
  writeFileSync(path.join(dir, 'peft-train.yaml'), 'base_model: ./model\ndataset:\n  train: data/train.jsonl\n');
  writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 8, lora_alpha: 16, target_modules: ['q_proj', 'v_proj'] }, null, 2));
  // for the harness self-checks below: a JSON syntax error (VS Code's own JSON support reports it) and a Markdown file
  writeFileSync(path.join(dir, 'broken.json'), '{ "a": 1,, }\n');
  writeFileSync(path.join(dir, 'NOTES.md'), '# Harness notes\n\nThe preview is a webview.\n');
  return dir;
}

export const tests = [
  {
    name: 'the workbench loads the project folder',
    async run(vscode) {
      const explorer = vscode.page.locator('.explorer-folders-view .monaco-list-row');
      await explorer.filter({ hasText: 'peft-train.yaml' }).first().waitFor({ timeout: 30_000 });
      await explorer.filter({ hasText: 'adapter_config.json' }).first().waitFor({ timeout: 5_000 });
    },
  },
  {
    name: 'the extension is installed and activated',
    timeoutMs: 90_000,
    async run(vscode) {
      await vscode.runCommand('Developer: Show Running Extensions');
      const row = vscode.page.locator('.runtime-extensions-editor .monaco-list-row').filter({ hasText: pkg.displayName });
      await row.first().waitFor({ timeout: 60_000 });
      // An activated extension shows its activation time / event; a failed one shows an error icon and message.
      const deadline = Date.now() + 60_000;
      let text = '';
      for (;;) {
        text = (await row.first().innerText()).replace(/\s+/g, ' ');
        if (/activation|ms\b|workspaceContains|Startup/i.test(text)) break;
        if (Date.now() > deadline) throw new Error(`${pkg.displayName} did not activate: "${text}"`);
        await new Promise((r) => setTimeout(r, 500));
      }
      if (/error|failed/i.test(text)) throw new Error(`${pkg.displayName} activation failed: "${text}"`);
      await vscode.screenshot('smoke-running-extensions');
    },
  },
  {
    name: 'the PEFT commands of the manifest are in the palette',
    async run(vscode) {
      const hidden = new Set((pkg.contributes?.menus?.commandPalette ?? []).filter((m) => m.when === 'false').map((m) => m.command));
      const contributed = (pkg.contributes?.commands ?? []).filter((c) => c.category === 'PEFT' && typeof c.title === 'string' && !hidden.has(c.command));
      if (contributed.length === 0) {
        console.log('    (package.json contributes no PEFT commands yet: nothing to look for)');
        return;
      }
      // one look-up per command: the palette's list is virtualised, so a long "PEFT: " list does not render every row
      const missing = [];
      for (const c of contributed) {
        const title = `PEFT: ${c.title}`;
        if (!(await vscode.paletteEntries(title, 300)).some((e) => e.includes(title))) missing.push(title);
      }
      if (missing.length > 0) throw new Error(`missing from the palette: ${missing.join(', ')}`);
    },
  },
  {
    name: 'harness: Problems panel rows (a JSON syntax error from VS Code\'s JSON support)',
    async run(vscode) {
      await vscode.runCommand('Go to File...');
      await vscode.page.keyboard.type('broken.json');
      await vscode.page.locator('.quick-input-list .monaco-list-row').filter({ hasText: 'broken.json' }).first().waitFor();
      await vscode.page.keyboard.press('Enter');
      await vscode.page.locator('.tabs-container .tab.active').filter({ hasText: 'broken.json' }).waitFor({ timeout: 15_000 });
      const deadline = Date.now() + 30_000;
      let rows = [];
      while (!rows.some((r) => /Property expected|Value expected|Trailing comma/i.test(r))) {
        if (Date.now() > deadline) throw new Error(`no JSON problem listed; rows: ${JSON.stringify(rows)}`);
        rows = await vscode.problems();
      }
    },
  },
  {
    name: 'harness: webview frame lookup (Markdown preview)',
    async run(vscode) {
      await vscode.runCommand('Go to File...');
      await vscode.page.keyboard.type('NOTES.md');
      await vscode.page.locator('.quick-input-list .monaco-list-row').filter({ hasText: 'NOTES.md' }).first().waitFor();
      await vscode.page.keyboard.press('Enter');
      await vscode.page.locator('.tabs-container .tab.active').filter({ hasText: 'NOTES.md' }).waitFor({ timeout: 15_000 });
      await vscode.runCommand('Markdown: Open Preview to the Side');
      const frame = await vscode.webviewFrame('h1', 30_000);
      const title = await frame.locator('h1').first().innerText();
      if (title.trim() !== 'Harness notes') throw new Error(`preview h1 is "${title}"`);
    },
  },
  {
    name: 'screenshot of the workbench',
    async run(vscode) {
      await vscode.screenshot('smoke-workbench');
    },
  },
];
