// Sweeps and alerts in a real VS Code: a real 3-trial sweep (the CLI, before the editor starts) shows in the dashboard
// as the trials' loss overlay and the two Pareto scatters; a recipe built to blow up (lr 1e38, clipping off) raises a
// NaN alert that the dashboard lists and whose notification's "Show in Recipe" opens the recipe at max_grad_norm;
// PEFT: Run Sweep trains a 2-trial sweep in a terminal and the dashboard follows it to its finished plots.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { cli, openFile, positionOf, runWhenAvailable, scrollIntoView } from './harness.mjs';

const SWEEP_STEPS = 4;

export function workspace() {
  const dir = mkdtempSync(path.join(tmpdir(), 'peft-e2e-monitor-'));
  cli('fixture', '--arch', 'llama', '--size', 'tiny', path.join(dir, 'models', 'tiny'));
  cli('init', dir, '--model', path.join(dir, 'models', 'tiny'), '--template', 'instruct');
  const file = path.join(dir, 'peft-train.yaml');
  const y = readFileSync(file, 'utf8').replace(/max_length: *\d+/, 'max_length: 128').replace(/device: *\S+/, 'device: cpu');
  writeFileSync(file, y);
  const sweep = y.replace(/max_steps: *-?\d+/, `max_steps: ${SWEEP_STEPS}`).replace(/learning_rate: *\S+/, 'learning_rate: 5.0e-3')
    .replace(/run_name: *\S+/, 'run_name: sw') + 'sweep:\n  r: [2, 4, 8]\n';
  writeFileSync(path.join(dir, 'sweep.yaml'), sweep);
  cli('sweep', path.join(dir, 'sweep.yaml'), '--json');
  // a second sweep, started from the editor (PEFT: Run Sweep) in a terminal
  writeFileSync(path.join(dir, 'sweep2.yaml'), sweep.replace(`max_steps: ${SWEEP_STEPS}`, 'max_steps: 3').replace('run_name: sw', 'run_name: sw2').replace('r: [2, 4, 8]', 'r: [2, 4]'));
  writeFileSync(path.join(dir, 'diverge.yaml'), y.replace(/max_steps: *-?\d+/, 'max_steps: 6').replace(/learning_rate: *\S+/, 'learning_rate: 1.0e+38')
    .replace(/max_grad_norm: *\S+/, 'max_grad_norm: 0').replace(/run_name: *\S+/, 'run_name: diverge'));
  return dir;
}

export const tests = [
  {
    name: 'a sweep trial in the dashboard shows the trials\' loss overlay and the Pareto scatters with the right points',
    timeoutMs: 120_000,
    async run(vscode, ws) {
      const saved = JSON.parse(readFileSync(path.join(ws, 'runs', '.sweeps', 'sw', 'sweep.json'), 'utf8'));
      if (saved.trials.length !== 3 || !saved.trials.every((t) => t.status === 'completed')) throw new Error(`sweep.json: ${JSON.stringify(saved.trials)}`);
      await runWhenAvailable(vscode, 'PEFT: Open Training Dashboard');
      const frame = await vscode.webviewFrame('#runs-list', 60_000);
      const t2 = path.join(ws, 'runs', 'sw-t2');
      await frame.locator(`#runs-list tr[data-run-dir="${t2}"] td.name`).click();
      await frame.locator(`#run-detail[data-run-dir="${t2}"]`).waitFor({ timeout: 30_000 });
      const view = frame.locator('#sweep-view:not([hidden])[data-trials="3"]');
      await view.waitFor({ timeout: 30_000 });
      await frame.locator(`#sweep-loss-chart[data-points="${3 * SWEEP_STEPS}"]`).waitFor({ timeout: 20_000 });
      const legend = await frame.locator('#sweep-loss-chart').getAttribute('data-legend');
      if (legend !== 't1 · r 2 · α 4 · lr 5e-3 | t2 · r 4 · α 8 · lr 5e-3 | t3 · r 8 · α 16 · lr 5e-3') throw new Error(`overlay legend: ${legend}`);
      // every trial is a point (it has an eval loss), plus the points of the front, which is the CLI's
      const front = await view.getAttribute('data-front-params');
      if (front !== saved.pareto.join(',')) throw new Error(`front ${front}, sweep.json says ${saved.pareto.join(',')}`);
      await frame.locator(`#sweep-params-chart[data-points="${3 + saved.pareto.length}"]`).waitFor({ timeout: 10_000 });
      const frontT = (await view.getAttribute('data-front-throughput') ?? '').split(',').filter((x) => x !== '');
      if (frontT.length < 1) throw new Error('no throughput front');
      await frame.locator(`#sweep-throughput-chart[data-points="${3 + frontT.length}"]`).waitFor({ timeout: 10_000 });
      if (await frame.locator('#sweep-table tbody tr').count() !== 3) throw new Error('the trials table does not list 3 trials');
      await scrollIntoView(view);
      await vscode.screenshot('monitor-sweep');
    },
  },
  {
    name: 'a diverging run raises a NaN alert: a dashboard banner, and a notification whose Show in Recipe opens max_grad_norm\'s line',
    timeoutMs: 150_000,
    async run(vscode, ws) {
      await openFile(vscode, 'diverge.yaml');
      await runWhenAvailable(vscode, 'PEFT: Train Adapter');
      const text = await vscode.waitForNotification(/PEFT training alert: the (loss|gradient norm) is (NaN|-?Infinity) at step 2/, 120_000);
      if (!/gradient clipping is off/.test(text)) throw new Error(`alert says: ${text}`);
      const runDir = path.join(ws, 'runs', 'diverge');
      const frame = await vscode.webviewFrame(`#run-detail[data-run-dir="${runDir}"]`, 60_000);
      const banner = frame.locator('#alert-list[data-count="1"] li[data-kind="non-finite"][data-key="training.max_grad_norm"]');
      await banner.waitFor({ timeout: 30_000 });
      await frame.locator(`#run-detail[data-run-dir="${runDir}"][data-status="failed"]`).waitFor({ timeout: 60_000 });
      const metrics = readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      const alert = metrics.find((e) => e.event === 'alert');
      const line = positionOf(path.join(ws, 'diverge.yaml'), 'max_grad_norm: 0').line;
      if (alert?.line !== line || alert.kind !== 'non-finite') throw new Error(`metrics.jsonl alert: ${JSON.stringify(alert)}, expected line ${line}`);
      if (!metrics.some((e) => e.event === 'system' && e.step === 1)) throw new Error('no system record after step 1');
      await scrollIntoView(banner);
      await vscode.screenshot('monitor-alert');
      // the notification's action opens the recipe with that line selected
      const toast = vscode.page.locator('.notifications-toasts .notification-list-item').filter({ hasText: 'PEFT training alert' }).first();
      await toast.locator('.monaco-button').filter({ hasText: 'Show in Recipe' }).first().click();
      await vscode.page.locator('.editor-group-container.active .tab.active').filter({ hasText: 'diverge.yaml' }).waitFor({ timeout: 15_000 });
      await vscode.page.locator('.statusbar-item').filter({ hasText: new RegExp(`Ln ${line}, Col \\d+`) }).first().waitFor({ timeout: 15_000 });
    },
  },
  {
    name: 'PEFT: Run Sweep trains in a terminal; the dashboard selects its first trial and ends with both trials plotted',
    timeoutMs: 240_000,
    async run(vscode, ws) {
      await openFile(vscode, 'sweep2.yaml');
      await runWhenAvailable(vscode, 'PEFT: Run Sweep');
      const frame = await vscode.webviewFrame('#sweep-view[data-sweep="sw2"]', 120_000);
      await frame.locator(`#run-detail[data-run-dir="${path.join(ws, 'runs', 'sw2-t1')}"]`).waitFor({ timeout: 30_000 });
      const summary = path.join(ws, 'runs', '.sweeps', 'sw2', 'sweep.json');
      for (const deadline = Date.now() + 180_000; !existsSync(summary);) {
        if (Date.now() > deadline) throw new Error('the sweep did not finish (no sweep.json)');
        await new Promise((r) => setTimeout(r, 500));
      }
      const saved = JSON.parse(readFileSync(summary, 'utf8'));
      if (saved.trials.length !== 2 || !saved.trials.every((t) => t.status === 'completed')) throw new Error(`sweep.json: ${JSON.stringify(saved.trials)}`);
      await frame.locator('#sweep-view:not([hidden])[data-trials="2"]').waitFor({ timeout: 30_000 });
      await frame.locator('#sweep-loss-chart[data-points="6"]').waitFor({ timeout: 30_000 });
      await frame.locator(`#sweep-params-chart[data-points="${2 + saved.pareto.length}"]`).waitFor({ timeout: 30_000 });
      await scrollIntoView(frame.locator('#sweep-view'));
      await vscode.screenshot('monitor-run-sweep');
    },
  },
];
