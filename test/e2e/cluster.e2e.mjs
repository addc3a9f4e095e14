// Outgrowing one machine in a real VS Code, from the command palette: Export for Cluster… writes the TRL project,
// Launch on Cluster runs the configured command in a terminal (a stand-in that "finishes" a remote run by copying
// the recorded log test/fixtures/export/trl-run into the project's runs/), and the run shows in the dashboard.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { quickInput, REPO, runWhenAvailable, waitFor } from './harness.mjs';

const OUT = 'cluster-multi_gpu';
const RECORDED = path.join(REPO, 'test', 'fixtures', 'export', 'trl-run');

export function workspace() {
  const dir = mkdtempSync(path.join(tmpdir(), 'peft-e2e-cluster-'));
  mkdirSync(path.join(dir, 'data'));
  mkdirSync(path.join(dir, '.vscode'));
  writeFileSync(path.join(dir, 'peft-train.yaml'), 'base_model: Qwen/Qwen2.5-0.5B\nadapter_config: adapter_config.json\ndataset:\n  train: data/train.jsonl\n  shuffle: false\ntraining:\n  max_steps: 3\nrun_name: trl-run\n');
  writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 8, lora_alpha: 16, target_modules: ['q_proj', 'v_proj'] }, null, 2));
  writeFileSync(path.join(dir, 'data', 'train.jsonl'), '{"prompt": "Q: 1+1?", "completion": " 2"}\n{"prompt": "Q: 2+2?", "completion": " 4"}\n');
  // The stand-in launch: what `sky launch` + the sync would leave behind, the run folder the callback writes.
  const launch = `mkdir -p runs/trl-run && cp "${RECORDED}/metrics.jsonl" "${RECORDED}/run.json" runs/trl-run/ && echo launched`;
  writeFileSync(path.join(dir, '.vscode', 'settings.json'), JSON.stringify({ 'peftStudio.clusterLaunchCommand': launch, 'peftStudio.clusterSyncCommand': '' }, null, 2));
  return dir;
}

async function pickRow(vscode, text) {
  const row = vscode.page.locator('.quick-input-widget .quick-input-list .monaco-list-row').filter({ hasText: text }).first();
  await row.waitFor({ state: 'visible', timeout: 15_000 });
  await row.click();
}

/** Answers a showInputBox once it shows `expected` (its default value), optionally typing `value` over it. */
async function answerInput(vscode, expected, value) {
  const input = quickInput(vscode);
  await waitFor(async () => (await input.isVisible().catch(() => false)) && expected.test(await input.inputValue()), 15_000, `an input box holding ${expected}`);
  if (value !== undefined) await input.fill(value);
  await vscode.page.keyboard.press('Enter');
}

export const tests = [
  {
    name: 'Export for Cluster… from the palette writes the TRL + accelerate project',
    timeoutMs: 120_000,
    async run(vscode, ws) {
      await runWhenAvailable(vscode, 'PEFT: Export for Cluster…');
      await pickRow(vscode, 'multi_gpu');
      await answerInput(vscode, /^8$/, '2'); // GPUs per node
      await answerInput(vscode, /^1$/); // nodes
      await pickRow(vscode, 'none'); // quantization
      await pickRow(vscode, 'recipe'); // precision
      await answerInput(vscode, new RegExp(`${OUT}$`)); // the folder
      const out = path.join(ws, OUT);
      await waitFor(() => existsSync(path.join(out, 'README.md')), 60_000, `${OUT}/README.md`);
      for (const f of ['sft_config.yaml', 'accelerate_config.yaml', 'train.py', 'requirements.txt', 'sky.yaml', 'k8s-job.yaml', 'peft_studio.json', 'data/train.jsonl']) {
        if (!existsSync(path.join(out, f))) throw new Error(`the export has no ${f}`);
      }
      const acc = readFileSync(path.join(out, 'accelerate_config.yaml'), 'utf8');
      if (!/^num_processes: 2$/m.test(acc) || !/^distributed_type: MULTI_GPU$/m.test(acc)) throw new Error(`accelerate_config.yaml:\n${acc}`);
      await vscode.waitForNotification(/Exported a TRL project/);
      await vscode.screenshot('cluster-exported');
    },
  },
  {
    name: 'Launch on Cluster runs the configured command in a terminal; the run it leaves shows in the dashboard',
    timeoutMs: 120_000,
    async run(vscode, ws) {
      await runWhenAvailable(vscode, 'PEFT: Launch on Cluster');
      const metrics = path.join(ws, OUT, 'runs', 'trl-run', 'metrics.jsonl');
      await waitFor(() => existsSync(metrics), 60_000, 'the stand-in launch to write runs/trl-run');
      await runWhenAvailable(vscode, 'PEFT: Open Training Dashboard');
      const frame = await vscode.webviewFrame('#runs-list', 60_000);
      await waitFor(async () => (await frame.locator('#runs-list tbody td.name').allInnerTexts()).includes('trl-run'), 30_000, 'trl-run in the dashboard');
      await frame.locator(`#runs-list tr[data-run-dir="${path.join(ws, OUT, 'runs', 'trl-run')}"] td.name`).click();
      // 3 logged steps (raw + smoothed) and one eval point
      await frame.locator('#loss-chart[data-points="7"]').waitFor({ timeout: 30_000 });
      await vscode.screenshot('cluster-run-dashboard');
    },
  },
];
