// Evaluation during training in a real VS Code: a short run with dataset.eval_prompts and load_best_model_at_end,
// trained from the editor; the dashboard's eval-answers table shows the prompts and answers per evaluation, the
// best checkpoint's column starred, and the Runs tree marks that checkpoint.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { cli, runWhenAvailable, scrollIntoView } from './harness.mjs';

const PROMPTS = ['Name a primary colour.', 'What is 2 + 2?'];

export function workspace() {
  const dir = mkdtempSync(path.join(tmpdir(), 'peft-e2e-evalp-'));
  cli('fixture', '--arch', 'llama', '--size', 'tiny', path.join(dir, 'models', 'tiny'));
  cli('init', dir, '--model', path.join(dir, 'models', 'tiny'), '--template', 'instruct');
  const file = path.join(dir, 'peft-train.yaml');
  const y = readFileSync(file, 'utf8').replace(/max_steps: *-?\d+/, 'max_steps: 6').replace(/eval_steps: *\d+/, 'eval_steps: 3')
    .replace(/save_steps: *\d+/, 'save_steps: 3\n  eval_max_new_tokens: 8\n  load_best_model_at_end: true')
    .replace(/(train_on_prompt: *\w+.*)/, `$1\n  eval_prompts:\n    - ${JSON.stringify(PROMPTS[0])}\n    - {prompt: ${JSON.stringify(PROMPTS[1])}, expected: "4"}`)
    .replace(/max_length: *\d+/, 'max_length: 128').replace(/run_name: *\S+/, 'run_name: evalp-run').replace(/device: *\S+/, 'device: cpu');
  writeFileSync(file, y);
  return dir;
}

export const tests = [
  {
    name: 'after a run with eval_prompts the dashboard shows the eval-answers table; the Runs tree marks the best checkpoint',
    timeoutMs: 180_000,
    async run(vscode, ws) {
      await runWhenAvailable(vscode, 'PEFT: Train Adapter');
      await vscode.waitForNotification(/evalp-run: done · step 6\/6/, 150_000);
      const runDir = path.join(ws, 'runs', 'evalp-run');
      const frame = await vscode.webviewFrame('#runs-list', 30_000);
      await frame.locator(`#runs-list tr[data-run-dir="${runDir}"] td.name`).click();
      await frame.locator(`#run-detail[data-run-dir="${runDir}"][data-status="completed"]`).waitFor({ timeout: 30_000 });
      const table = frame.locator('#eval-answers[data-count="2"][data-steps="3,6"]');
      await table.waitFor({ timeout: 30_000 });
      const prompts = await table.locator('tr.prompt-row .prompt-text').allInnerTexts();
      if (prompts.join('|') !== PROMPTS.join('|')) throw new Error(`prompt rows: ${prompts.join('|')}`);
      const answers = await table.locator('tr.prompt-row td.answer').allInnerTexts();
      if (answers.length !== 4 || !answers.some((a) => a.trim() !== '' && a !== '–')) throw new Error(`answer cells: ${JSON.stringify(answers)}`);
      // the answers are the run's own records
      const gens = readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.event === 'eval_generation');
      const first = gens[0].samples[0].output;
      const shown = (await table.locator('tr.prompt-row[data-prompt-index="0"] td.answer[data-step="3"] .answer-text').innerText()).trim();
      if (shown !== (first === '' ? '(empty)' : first.trim())) throw new Error(`step 3 answer shown ${JSON.stringify(shown)}, recorded ${JSON.stringify(first)}`);
      // the scored prompt carries a mark; perplexity and scores are rows; the best checkpoint's column is starred
      await table.locator('tr.prompt-row[data-prompt-index="1"] td.answer .score-mark').first().waitFor({ timeout: 10_000 });
      for (const key of ['eval_loss', 'eval_perplexity', 'exact_match', 'contains']) await table.locator(`tr.score-row[data-key="${key}"]`).waitFor({ timeout: 10_000 });
      const best = JSON.parse(readFileSync(path.join(runDir, 'checkpoints', 'step-6', 'trainer_state.json'), 'utf8')).best_global_step;
      await table.locator(`thead th.best[data-step="${best}"]`).waitFor({ timeout: 10_000 });
      await scrollIntoView(table);
      await vscode.screenshot('eval-answers');
      await vscode.runCommand('PEFT Studio: Focus on Runs View');
      const row = vscode.page.locator('.monaco-list-row').filter({ hasText: 'evalp-run' }).first();
      await row.waitFor({ timeout: 30_000 });
      await row.click();
      await vscode.page.keyboard.press('ArrowRight');
      await vscode.page.locator('.monaco-list-row').filter({ hasText: `step ${best}` }).filter({ hasText: '★ best checkpoint' }).first().waitFor({ timeout: 15_000 });
      await vscode.screenshot('eval-runs-tree');
    },
  },
];
