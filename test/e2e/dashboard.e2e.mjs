// The dashboard and Runs view in a real VS Code: a workspace with finished run folders on disk (as after a reload)
// shows them in the Runs tree and the dashboard (editor panel, restored on reload, and side view) with curves and tables.
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { runWhenAvailable, scrollIntoView } from './harness.mjs';

const STEPS = 30;

function writeRun(root, name, started, finalLoss, { r, lr }) {
  const dir = path.join(root, 'runs', name);
  mkdirSync(path.join(dir, 'checkpoints', 'step-15'), { recursive: true });
  mkdirSync(path.join(dir, 'checkpoints', 'step-30'), { recursive: true });
  mkdirSync(path.join(dir, 'adapter'), { recursive: true });
  writeFileSync(path.join(dir, 'adapter', 'adapter_config.json'), '{"peft_type": "LORA"}');
  writeFileSync(path.join(dir, 'run.json'), JSON.stringify({
    name, status: 'completed', config_file: path.join(root, 'peft-train.yaml'), recipe: { training: { max_steps: STEPS, learning_rate: lr } },
    adapter_config: { r, target_modules: ['q_proj', 'v_proj'] }, base_model: path.join(root, 'models', 'tiny'), device: 'cpu',
    started_at: started, finished_at: started, max_steps: STEPS, last_step: STEPS,
  }, null, 2));
  const lines = [{
    event: 'start', run_dir: dir, run_name: name, trainable: 3584, total: 1003584, device: 'cpu', base_model: path.join(root, 'models', 'tiny'),
    max_steps: STEPS, time: started,
    modules: [0, 1].flatMap((l) => [{ name: `model.layers.${l}.self_attn.q_proj`, r: 8, in: 64, out: 64, params: 1024 }, { name: `model.layers.${l}.self_attn.v_proj`, r: 8, in: 64, out: 32, params: 768 }]),
  }];
  for (let s = 1; s <= STEPS; s++) {
    lines.push({ event: 'step', step: s, epoch: s / STEPS, loss: finalLoss + 2 * Math.exp(-s / 8), lr, grad_norm: 0.8 + s / 100, tokens: 256 * s, tokens_per_s: 900, elapsed_s: s * 0.5, rss_bytes: 300 * 1048576 });
    if (s % 10 === 0) lines.push({ event: 'eval', step: s, eval_loss: finalLoss + 0.1 + 2 * Math.exp(-s / 8) });
  }
  lines.push({ event: 'done', run_dir: dir, adapter_dir: path.join(dir, 'adapter'), final_loss: finalLoss });
  writeFileSync(path.join(dir, 'metrics.jsonl'), lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
}

export function workspace() {
  const dir = mkdtempSync(path.join(tmpdir(), 'peft-e2e-dashboard-'));
  writeFileSync(path.join(dir, 'peft-train.yaml'), 'base_model: ./models/tiny\nadapter_config: ./adapter_config.json\ndataset:\n  train: data/train.jsonl\noutput_dir: runs\n');
  writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 8, lora_alpha: 16, target_modules: ['q_proj', 'v_proj'] }, null, 2));
  writeRun(dir, 'first-run', '2026-11-27T10:00:00.000Z', 1.25, { r: 8, lr: 2e-4 });
  writeRun(dir, 'second-run', '2026-11-28T10:00:00.000Z', 0.75, { r: 16, lr: 1e-4 });
  return dir;
}

export const tests = [
  {
    name: 'Open Training Dashboard shows the runs from disk with their charts and parameter table',
    timeoutMs: 90_000,
    async run(vscode, ws) {
      const cspViolations = [];
      vscode.page.on('console', (m) => { if (/Content Security Policy|Refused to (load|apply|execute)/.test(m.text())) cspViolations.push(m.text()); });
      await runWhenAvailable(vscode, 'PEFT: Open Training Dashboard');
      const frame = await vscode.webviewFrame('#runs-list', 60_000);
      await frame.locator('#runs-list[data-count="2"]').waitFor({ timeout: 30_000 });
      const names = await frame.locator('#runs-list tbody td.name').allInnerTexts();
      if (names.join(',') !== 'second-run,first-run') throw new Error(`runs listed: ${names.join(',')}`);
      // the newest run is selected; smoothing on: raw + smoothed + 3 eval points
      await frame.locator(`#run-detail[data-run-dir="${path.join(ws, 'runs', 'second-run')}"]`).waitFor({ timeout: 30_000 });
      await frame.locator(`#loss-chart[data-points="${2 * STEPS + 3}"]`).waitFor({ timeout: 30_000 });
      const trainable = await frame.locator('#param-table').getAttribute('data-trainable');
      if (trainable !== '3584') throw new Error(`param table trainable = ${trainable}`);
      await vscode.screenshot('dashboard-runs');
      if (cspViolations.length > 0) throw new Error(`CSP violations in the dashboard: ${cspViolations.join(' | ')}`);
    },
  },
  {
    name: 'selecting a run in the dashboard shows its curve; Compare overlays loss, lr and grad norm and tables what differs',
    timeoutMs: 60_000,
    async run(vscode, ws) {
      const frame = await vscode.webviewFrame('#runs-list', 30_000);
      await frame.locator(`#runs-list tr[data-run-dir="${path.join(ws, 'runs', 'first-run')}"] td.name`).click();
      await frame.locator(`#run-detail[data-run-dir="${path.join(ws, 'runs', 'first-run')}"]`).waitFor({ timeout: 20_000 });
      const boxes = frame.locator('#runs-list input.compare-box');
      await boxes.nth(0).check();
      await boxes.nth(1).check();
      await frame.locator('#compare-button').click();
      await frame.locator(`#compare-view:not([hidden]) #compare-chart[data-points="${2 * STEPS + 6}"]`).waitFor({ timeout: 20_000 });
      for (const id of ['compare-lr-chart', 'compare-grad-norm-chart']) await frame.locator(`#${id}[data-points="${2 * STEPS}"]`).waitFor({ timeout: 20_000 });
      // only what differs (lr and r), and the best eval loss per run, the lower one marked (second-run, listed first)
      const keys = await frame.locator('#compare-table tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-key')));
      if (keys.join(',') !== 'best_eval_loss,training.learning_rate,lora.r') throw new Error(`compare table rows: ${keys.join(',')}`);
      const best = await frame.locator('#compare-table tr[data-key="best_eval_loss"] td').allInnerTexts();
      if (best.length !== 2 || !best.every((t) => / @ 30$/.test(t))) throw new Error(`best eval loss cells: ${best.join(' | ')}`);
      const marked = await frame.locator('#compare-table tr[data-key="best_eval_loss"] td.best').innerText();
      const header = await frame.locator('#compare-table thead th').allInnerTexts();
      if (header[1 + best.indexOf(marked)] !== 'second-run') throw new Error(`best marked under ${header[1 + best.indexOf(marked)]}`);
      if (await frame.locator('#compare-warning').count() !== 0) throw new Error('a base-model warning for runs on the same model');
      await scrollIntoView(frame.locator('#compare-view'));
      await vscode.screenshot('dashboard-compare');
    },
  },
  {
    name: 'the dashboard panel comes back after a window reload, with its selected run',
    timeoutMs: 90_000,
    async run(vscode, ws) {
      await vscode.runCommand('Developer: Reload Window'); // shuts the workbench down properly: its editors are saved and restored
      await vscode.page.waitForEvent('load', { timeout: 60_000 }).catch(() => {});
      await vscode.page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 60_000 });
      const frame = await vscode.webviewFrame(`body[data-place="panel"] #run-detail[data-run-dir="${path.join(ws, 'runs', 'first-run')}"]`, 60_000);
      await frame.locator(`#loss-chart[data-points="${2 * STEPS + 3}"]`).waitFor({ timeout: 30_000 });
    },
  },
  {
    name: 'the side-bar view is a compact run list with sparklines; a row opens the run in the editor tab, one selection for both',
    timeoutMs: 90_000,
    async run(vscode, ws) {
      await vscode.runCommand('PEFT Studio: Focus on Dashboard View');
      const side = await vscode.webviewFrame('body[data-place="view"] #runs-list[data-count="2"]', 60_000);
      const rows = side.locator('#runs-list li[data-run-dir]');
      if (await rows.count() !== 2) throw new Error(`${await rows.count()} rows`);
      for (const n of await side.locator('#runs-list svg.sparkline').evaluateAll((svgs) => svgs.map((x) => Number(x.getAttribute('data-points'))))) {
        if (n !== STEPS) throw new Error(`a sparkline of ${n} points, expected ${STEPS}`);
      }
      if (await side.locator('#run-detail, #loss-chart').count() !== 0) throw new Error('the side view still draws the run details');
      const first = path.join(ws, 'runs', 'first-run');
      const second = path.join(ws, 'runs', 'second-run');
      await side.locator(`#runs-list li[data-run-dir="${first}"]`).click();
      const panel = await vscode.webviewFrame(`body[data-place="panel"] #run-detail[data-run-dir="${first}"]`, 30_000);
      await side.locator(`#runs-list li.selected[data-run-dir="${first}"]`).waitFor({ timeout: 10_000 });
      // selecting in the editor tab moves the side view's selection too
      await panel.locator(`#runs-list tr[data-run-dir="${second}"] td.name`).click();
      await side.locator(`#runs-list li.selected[data-run-dir="${second}"]`).waitFor({ timeout: 15_000 });
      await vscode.screenshot('dashboard-side');
    },
  },
  {
    name: 'the Runs view lists both runs with their checkpoints',
    timeoutMs: 60_000,
    async run(vscode) {
      await vscode.runCommand('PEFT Studio: Focus on Runs View');
      const rows = vscode.page.locator('.monaco-list-row').filter({ hasText: 'second-run' });
      await rows.first().waitFor({ timeout: 30_000 });
      await rows.first().click();
      await vscode.page.keyboard.press('ArrowRight');
      await vscode.page.locator('.monaco-list-row').filter({ hasText: 'step 30' }).first().waitFor({ timeout: 10_000 });
      await vscode.screenshot('runs-tree');
    },
  },
  {
    name: 'Delete Run asks for confirmation, deletes the folder, and the views drop the run',
    timeoutMs: 60_000,
    async run(vscode, ws) {
      const dir = path.join(ws, 'runs', 'first-run');
      await runWhenAvailable(vscode, 'PEFT: Delete Run');
      const row = vscode.page.locator('.quick-input-widget .quick-input-list .monaco-list-row').filter({ hasText: 'first-run' }).first();
      await row.waitFor({ state: 'visible', timeout: 10_000 });
      await row.click();
      const dialog = vscode.page.locator('.monaco-dialog-box');
      await dialog.waitFor({ state: 'visible', timeout: 10_000 });
      const text = await dialog.innerText();
      if (!text.includes('first-run') || !text.includes('2 checkpoints')) throw new Error(`confirmation says: ${text}`);
      await dialog.locator('.monaco-button').filter({ hasText: 'Delete' }).first().click();
      const deadline = Date.now() + 15_000;
      while (existsSync(dir)) {
        if (Date.now() > deadline) throw new Error(`${dir} still exists`);
        await new Promise((r) => setTimeout(r, 250));
      }
      const frame = await vscode.webviewFrame('#runs-list', 10_000);
      await frame.locator('#runs-list[data-count="1"]').waitFor({ timeout: 15_000 });
    },
  },
];
