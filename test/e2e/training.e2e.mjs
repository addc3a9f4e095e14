// Training from the editor in a real VS Code: "PEFT: Train Adapter" on a tiny fixture project forks the worker,
// the dashboard follows the run live, and the finished run is in the Runs view; Count Trainable Parameters answers.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { cli, runWhenAvailable } from './harness.mjs';

const STEPS = 8;

export function workspace() {
  const dir = mkdtempSync(path.join(tmpdir(), 'peft-e2e-train-'));
  cli('fixture', '--arch', 'llama', '--size', 'tiny', path.join(dir, 'models', 'tiny'));
  cli('init', dir, '--model', path.join(dir, 'models', 'tiny'), '--template', 'instruct');
  const file = path.join(dir, 'peft-train.yaml');
  const y = readFileSync(file, 'utf8').replace(/max_steps: *-?\d+/, `max_steps: ${STEPS}`).replace(/save_steps: *\d+/, 'save_steps: 4')
    .replace(/max_length: *\d+/, 'max_length: 128').replace(/run_name: *\S+/, 'run_name: editor-run').replace(/device: *\S+/, 'device: cpu');
  writeFileSync(file, y);
  // a long run for the stop test, opened in the editor and trained from there
  writeFileSync(path.join(dir, 'long-run.yaml'), y.replace(`max_steps: ${STEPS}`, 'max_steps: 5000').replace('run_name: editor-run', 'run_name: long-run'));
  return dir;
}

/** Quick Open (Ctrl+P): fills the input once it is shown, picks the file, waits for its tab. */
async function openFile(vscode, name) {
  const { page } = vscode;
  const input = page.locator('.quick-input-widget .quick-input-box input');
  for (let attempt = 0; ; attempt++) {
    await page.keyboard.press('Escape');
    await page.locator('.monaco-workbench').click({ position: { x: 700, y: 5 } }).catch(() => {});
    await page.keyboard.press('Control+P');
    try {
      await input.waitFor({ state: 'visible', timeout: 5_000 });
      await input.fill(name);
      const row = page.locator('.quick-input-widget .quick-input-list .monaco-list-row').filter({ hasText: name }).first();
      await row.waitFor({ state: 'visible', timeout: 10_000 });
      await row.click();
      await page.locator('.tab').filter({ hasText: name }).first().waitFor({ timeout: 10_000 });
      return;
    } catch (e) {
      if (attempt === 2) throw e;
    }
  }
}

export const tests = [
  {
    name: 'Train Adapter trains in a worker and the dashboard shows the finished run',
    timeoutMs: 180_000,
    async run(vscode, ws) {
      await runWhenAvailable(vscode, 'PEFT: Train Adapter');
      const done = await vscode.waitForNotification(/editor-run: done · step 8\/8 · final loss \d/, 150_000);
      const frame = await vscode.webviewFrame('#runs-list', 30_000);
      const runDir = path.join(ws, 'runs', 'editor-run');
      await frame.locator(`#runs-list tr[data-run-dir="${runDir}"][data-status="completed"]`).waitFor({ timeout: 30_000 });
      await frame.locator(`#runs-list tr[data-run-dir="${runDir}"] td.name`).click();
      await frame.locator(`#run-detail[data-run-dir="${runDir}"][data-status="completed"]`).waitFor({ timeout: 20_000 });
      await frame.locator(`#loss-chart[data-points="${2 * STEPS + 1}"]`).waitFor({ timeout: 20_000 }); // raw + smoothed + final eval
      const trainable = Number(await frame.locator('#param-table').getAttribute('data-trainable'));
      if (!(trainable > 0)) throw new Error(`parameter table trainable = ${trainable}`);
      const info = JSON.parse(readFileSync(path.join(runDir, 'run.json'), 'utf8'));
      if (info.status !== 'completed') throw new Error(`run.json status ${info.status}; notification: ${done}`);
      await vscode.screenshot('training-done');
    },
  },
  {
    name: 'Count Trainable Parameters reports PEFT\'s numbers for the open adapter_config.json',
    timeoutMs: 60_000,
    async run(vscode, ws) {
      const expected = JSON.parse(cli('count', path.join(ws, 'adapter_config.json'), '--json'));
      await vscode.page.keyboard.press('Escape');
      // The open adapter_config.json is the command's file. Not a quick pick among the workspace's configs: with the
      // dashboard in front, its webview can take the focus while it redraws, and a quick pick closes on focus loss.
      await openFile(vscode, 'adapter_config.json');
      await runWhenAvailable(vscode, 'PEFT: Count Trainable Parameters');
      await vscode.waitForNotification(new RegExp(`trainable params: ${expected.trainable.toLocaleString('en-US')} \\|\\| all params: ${expected.total.toLocaleString('en-US')}`), 30_000);
    },
  },
  {
    name: 'Stop from the dashboard ends a long run as stopped, with its adapter',
    timeoutMs: 180_000,
    async run(vscode, ws) {
      await openFile(vscode, 'long-run.yaml');
      vscode.holdRun('long-run', 3); // held by the trainer's test gate: the stop never races the machine's speed
      await runWhenAvailable(vscode, 'PEFT: Train Adapter');
      const runDir = path.join(ws, 'runs', 'long-run');
      const frame = await vscode.webviewFrame('#runs-list', 30_000);
      // the dashboard selects the run the editor started and follows it live
      await frame.locator(`#run-detail[data-run-dir="${runDir}"][data-status="running"]`).waitFor({ timeout: 60_000 });
      await frame.locator('#stop-button:not([disabled])').waitFor({ timeout: 20_000 });
      await vscode.page.locator('.statusbar-item').filter({ hasText: /PEFT step 3\/5000/ }).first().waitFor({ timeout: 60_000 });
      await frame.locator('#stop-button').click();
      await vscode.waitForNotification(/long-run: stopped · step 3\/5000/, 90_000);
      await frame.locator(`#run-detail[data-run-dir="${runDir}"][data-status="stopped"]`).waitFor({ timeout: 20_000 });
      const info = JSON.parse(readFileSync(path.join(runDir, 'run.json'), 'utf8'));
      if (info.status !== 'stopped') throw new Error(`run.json status ${info.status}`);
      readFileSync(path.join(runDir, 'adapter', 'adapter_config.json'), 'utf8');
      await vscode.screenshot('training-stopped');
    },
  },
];
