// The Playground in a real VS Code: a workspace with two adapters trained by the CLI on the tiny fixture model; the
// Playground from the palette with the base model and both adapters ("Try in Playground"), all three columns stream,
// a comparison is saved in the run folder; screenshots in the light and the dark theme (test-output/e2e).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { REPO, runWhenAvailable } from './harness.mjs';

function cli(...args) {
  const script = `require(${JSON.stringify(path.join(REPO, 'dist', 'cli.js'))}).main(process.argv.slice(1)).then((c) => { process.exitCode = c; })`;
  const r = spawnSync(process.execPath, ['-e', script, '--', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`peft-studio ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

export function workspace() {
  const dir = mkdtempSync(path.join(tmpdir(), 'peft-e2e-playground-'));
  cli('fixture', '--arch', 'llama', '--size', 'tiny', path.join(dir, 'models', 'tiny'));
  cli('init', dir, '--model', path.join(dir, 'models', 'tiny'), '--template', 'instruct');
  const y = readFileSync(path.join(dir, 'peft-train.yaml'), 'utf8').replace(/max_steps: *-?\d+/, 'max_steps: 6').replace(/save_steps: *\d+/, 'save_steps: 3')
    .replace(/device: *\S+/, 'device: cpu');
  // two adapters that differ: another learning rate and seed; a high rate so that they move away from the base model
  for (const [name, lr, seed] of [['run-a', '5.0e-2', 1], ['run-b', '2.0e-2', 2]]) {
    const file = path.join(dir, `${name}.yaml`);
    writeFileSync(file, y.replace(/run_name: *\S+/, `run_name: ${name}`).replace(/learning_rate: *\S+/, `learning_rate: ${lr}`).replace(/seed: *\d+/, `seed: ${seed}`));
    cli('train', file);
  }
  return dir;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function pickRow(vscode, text) {
  const row = vscode.page.locator('.quick-input-widget .quick-input-list .monaco-list-row').filter({ hasText: text }).first();
  await row.waitFor({ state: 'visible', timeout: 15_000 });
  await row.click();
}

async function setColorTheme(vscode, theme) {
  await vscode.runCommand('Preferences: Color Theme');
  const input = vscode.page.locator('.quick-input-widget .quick-input-box input');
  await input.waitFor({ state: 'visible', timeout: 10_000 });
  await input.fill(theme);
  await pickRow(vscode, theme);
  await input.waitFor({ state: 'hidden', timeout: 10_000 });
}

const playground = (vscode, selector, timeoutMs = 30_000) => vscode.webviewFrame(`main[aria-label="PEFT Studio Playground"] ${selector}`, timeoutMs);

export const tests = [
  {
    name: 'Open Playground, then Try in Playground on two runs: base + two adapters in three columns',
    timeoutMs: 120_000,
    async run(vscode, ws) {
      const cspViolations = [];
      vscode.page.on('console', (m) => { if (/Content Security Policy|Refused to (load|apply|execute)/.test(m.text())) cspViolations.push(m.text()); });
      await vscode.runCommand('View: Close Primary Side Bar').catch(() => {});
      await runWhenAvailable(vscode, 'PEFT: Open Playground');
      await playground(vscode, '#model-label', 60_000);
      for (const run of ['run-a', 'run-b']) {
        await vscode.runCommand('PEFT: Try in Playground');
        await pickRow(vscode, run);
      }
      const frame = await playground(vscode, '#column-2', 60_000);
      const titles = await frame.locator('.column h3').allInnerTexts();
      if (JSON.stringify(titles) !== JSON.stringify(['Base model', 'run-a (final)', 'run-b (final)'])) throw new Error(`columns: ${JSON.stringify(titles)}`);
      await frame.locator('#generate:not([disabled])').waitFor({ timeout: 60_000 });
      const shas = await frame.locator('.column .sha').allInnerTexts();
      if (shas.length !== 2 || !shas.every((s) => /^[0-9a-f]{10}$/.test(s))) throw new Error(`adapter hashes: ${JSON.stringify(shas)}`);
      if (cspViolations.length > 0) throw new Error(`CSP violations: ${cspViolations.join(' | ')}`);
    },
  },
  {
    name: 'all three columns stream at once with TTFT and tokens/s; the comparison is saved in the run folder',
    timeoutMs: 120_000,
    async run(vscode, ws) {
      const frame = await playground(vscode, '#column-2');
      await frame.locator('#shared-maxNewTokens').fill('24');
      await frame.locator('#shared-maxNewTokens').dispatchEvent('change');
      await frame.locator('#prompt').fill('Below is an instruction. Write a short answer.');
      await frame.locator('#prompt').press('Control+Enter'); // keyboard only
      // tokens arrive while generating (a token may be an empty piece: an incomplete UTF-8 character or a special token)
      await frame.locator('#column-0 .tok').first().waitFor({ state: 'attached', timeout: 60_000 });
      await frame.locator('#generate:not([disabled])').waitFor({ timeout: 90_000 });
      const stats = await frame.locator('.column [data-testid="stats"]').allInnerTexts();
      if (stats.length !== 3 || !stats.every((s) => /TTFT \d+ ms · [\d.]+ tok\/s · \d+ tokens/.test(s))) throw new Error(`column stats: ${JSON.stringify(stats)}`);
      const counts = await Promise.all([0, 1, 2].map((c) => frame.locator(`#column-${c} .tok`).count()));
      if (!counts.every((n, c) => n >= 1 && stats[c].includes(`${n} tokens`))) throw new Error(`streamed tokens ${JSON.stringify(counts)} vs ${JSON.stringify(stats)}`);
      console.log(`    ${stats.join(' | ')}`);
      await vscode.page.mouse.move(5, 880);
      await vscode.screenshot('playground-columns');
      await frame.locator('#save-comparison').click();
      const dir = path.join(ws, 'runs', 'run-a', 'playground');
      const deadline = Date.now() + 15_000;
      const saved_ = () => (existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith('comparison-') && f.endsWith('.json')) : []);
      while (saved_().length === 0) {
        if (Date.now() > deadline) throw new Error(`no comparison in ${dir}`);
        await sleep(250);
      }
      const saved = JSON.parse(readFileSync(path.join(dir, saved_()[0]), 'utf8'));
      if (saved.columns.length !== 3 || !/^[0-9a-f]{64}$/.test(saved.columns[1].adapter_sha256 ?? '')) throw new Error(`comparison: ${JSON.stringify(saved).slice(0, 400)}`);
      await frame.locator('#status', { hasText: 'Saved' }).waitFor({ timeout: 10_000 });
    },
  },
  {
    name: 'the Playground in the light and the dark theme (screenshots)',
    timeoutMs: 90_000,
    async run(vscode) {
      const frame = await playground(vscode, '#column-2');
      for (const [theme, kind] of [['Default Light Modern', 'vscode-light'], ['Default Dark Modern', 'vscode-dark']]) {
        await setColorTheme(vscode, theme);
        await frame.locator(`body.${kind}`).waitFor({ timeout: 30_000 });
        await sleep(800);
        await vscode.page.mouse.move(5, 880);
        await vscode.screenshot(`playground-${kind.replace('vscode-', '')}`);
      }
    },
  },
  {
    name: 'after a window reload the Playground comes back with its columns and answers, and generates again',
    timeoutMs: 120_000,
    async run(vscode) {
      await vscode.runCommand('Developer: Reload Window');
      await vscode.page.waitForEvent('load', { timeout: 60_000 }).catch(() => {});
      await vscode.page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 60_000 });
      const frame = await playground(vscode, '#column-2', 60_000);
      const titles = await frame.locator('.column h3').allInnerTexts();
      if (JSON.stringify(titles) !== JSON.stringify(['Base model', 'run-a (final)', 'run-b (final)'])) throw new Error(`columns after reload: ${JSON.stringify(titles)}`);
      if ((await frame.locator('#column-0 .tok').count()) === 0) throw new Error('the answers were not restored');
      // the host reopened the model in a new generation worker
      await frame.locator('#generate:not([disabled])').waitFor({ timeout: 60_000 });
      await frame.locator('#generate').click();
      await frame.locator('#stop:not([disabled])').waitFor({ state: 'attached', timeout: 10_000 }).catch(() => {});
      await frame.locator('#generate:not([disabled])').waitFor({ timeout: 60_000 });
      const stats = await frame.locator('.column [data-testid="stats"]').allInnerTexts();
      if (!stats.every((s) => /tok\/s/.test(s))) throw new Error(`column stats after reload: ${JSON.stringify(stats)}`);
    },
  },
  {
    name: 'Try in Playground from a checkpoint\'s context menu in the Runs tree adds a fourth column',
    timeoutMs: 90_000,
    async run(vscode) {
      await vscode.runCommand('PEFT Studio: Focus on Runs View');
      const run = vscode.page.locator('.monaco-list-row').filter({ hasText: 'run-b' }).first();
      await run.waitFor({ timeout: 30_000 });
      await run.locator('.monaco-tl-twistie').click(); // expand without selecting (a click on the row opens the dashboard)
      const step = vscode.page.locator('.monaco-list-row').filter({ hasText: 'step 3' }).first();
      await step.waitFor({ timeout: 10_000 });
      await step.click({ button: 'right' });
      const item = vscode.page.locator('.context-view .action-item').filter({ hasText: 'Try in Playground' }).first();
      await item.waitFor({ state: 'visible', timeout: 10_000 });
      await item.hover();
      await vscode.page.keyboard.press('Enter'); // the menu takes the highlighted item (a mouse click on it did not land in code-server)
      const frame = await playground(vscode, '#column-3', 60_000);
      const title = await frame.locator('#column-3 h3').innerText();
      if (title !== 'run-b @ step-3') throw new Error(`fourth column: ${title}`);
      await frame.locator('#generate:not([disabled])').waitFor({ timeout: 60_000 });
      await vscode.page.mouse.move(5, 880);
      await vscode.screenshot('playground-four-columns');
    },
  },
];
