// Train never ignores unsaved edits: with errors typed but not saved in adapter_config.json and the data set, "Train
// Adapter" asks to save them, saves, and refuses to start with every problem listed; once fixed, it saves and trains.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { cli, goTo, openFile, positionOf, waitForProblems } from './harness.mjs';

const RUN = 'preflight-run';

export function workspace() {
  const dir = mkdtempSync(path.join(tmpdir(), 'peft-e2e-preflight-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  cli('fixture', '--arch', 'llama', '--size', 'tiny', path.join(dir, 'models', 'tiny'));
  cli('init', dir, '--model', path.join(dir, 'models', 'tiny'), '--template', 'instruct');
  const recipe = path.join(dir, 'peft-train.yaml');
  writeFileSync(recipe, readFileSync(recipe, 'utf8').replace(/max_steps: *-?\d+/, 'max_steps: 2').replace(/max_length: *\d+/, 'max_length: 128')
    .replace(/run_name: *\S+/, `run_name: ${RUN}`).replace(/device: *\S+/, 'device: cpu'));
  return dir;
}

/** Answers the modal "Save N files and train?" with its button `label`; returns the dialog's message. */
async function answerSaveDialog(vscode, label) {
  const dialog = vscode.page.locator('.monaco-dialog-box');
  await dialog.waitFor({ state: 'visible', timeout: 30_000 });
  const text = await dialog.innerText();
  await dialog.locator('.monaco-button').filter({ hasText: label }).first().click();
  await dialog.waitFor({ state: 'hidden', timeout: 15_000 });
  return text;
}

export const tests = [
  {
    name: 'unsaved errors: Train asks to save 2 files, saves them, and refuses with every problem listed',
    timeoutMs: 120_000,
    async run(vscode, ws) {
      const adapter = path.join(ws, 'adapter_config.json');
      const data = path.join(ws, 'data', 'train.jsonl');
      const r = positionOf(adapter, '"r": 16');
      const q = positionOf(adapter, '"q_proj"');
      await openFile(vscode, 'adapter_config.json');
      await goTo(vscode, r.line, r.column + 5); // before "16"
      await vscode.page.keyboard.press('Shift+End');
      await vscode.page.keyboard.type('0,');
      await goTo(vscode, q.line, q.column + 7); // inside "q_proj", before the closing quote
      await vscode.page.keyboard.type('x');
      await openFile(vscode, 'train.jsonl');
      await goTo(vscode, 4, 1);
      await vscode.page.keyboard.type('broken ');
      await waitForProblems(vscode, (rows) => rows.some((x) => x.includes('q_projx')) && rows.some((x) => /^Error: Line 4 is not valid JSON/.test(x)), 60_000);
      if (readFileSync(adapter, 'utf8').includes('"r": 0')) throw new Error('the edit was saved before Train');
      await vscode.runCommand('PEFT: Train Adapter');
      const asked = await answerSaveDialog(vscode, 'Save and Train');
      if (!/Save 2 files and train\?/.test(asked)) throw new Error(`the save dialog said: ${asked}`);
      const refused = await vscode.waitForNotification(/Can't start training: \d+ problems/, 60_000);
      const n = Number(/(\d+) problems/.exec(refused)[1]);
      if (!(n >= 3)) throw new Error(`expected at least 3 problems (r, target, data line): ${refused}`);
      for (const part of ['adapter_config.json', 'train.jsonl:4']) if (!refused.includes(part)) throw new Error(`the refusal does not name ${part}: ${refused}`);
      if (!readFileSync(adapter, 'utf8').includes('"r": 0,') || !readFileSync(data, 'utf8').split('\n')[3].startsWith('broken ')) throw new Error('the files were not saved');
      if (existsSync(path.join(ws, 'runs', RUN))) throw new Error('a run folder was created although the start was refused');
      await vscode.screenshot('preflight-refused');
    },
  },
  {
    name: 'fixed but unsaved: Train saves the files and the run trains what the editor shows',
    timeoutMs: 150_000,
    async run(vscode, ws) {
      await vscode.runCommand('Notifications: Clear All Notifications').catch(() => {});
      const adapter = path.join(ws, 'adapter_config.json');
      const data = path.join(ws, 'data', 'train.jsonl');
      await openFile(vscode, 'train.jsonl');
      await goTo(vscode, 4, 1);
      await vscode.page.keyboard.press('Shift+Control+ArrowRight'); // "broken"
      await vscode.page.keyboard.press('Shift+ArrowRight'); // and its space
      await vscode.page.keyboard.press('Delete');
      await openFile(vscode, 'adapter_config.json');
      const r = positionOf(adapter, '"r": 0');
      await goTo(vscode, r.line, r.column + 5);
      await vscode.page.keyboard.type('8'); // "r": 80 is valid; then fix the target
      const q = positionOf(adapter, '"q_projx"');
      await goTo(vscode, q.line, q.column + 7);
      await vscode.page.keyboard.press('Delete');
      await waitForProblems(vscode, (rows) => !rows.some((x) => x.includes('q_projx') || x.includes('"r"')), 60_000);
      await vscode.runCommand('PEFT: Train Adapter');
      await answerSaveDialog(vscode, 'Save and Train');
      await vscode.waitForNotification(new RegExp(`${RUN}: done · step 2/2`), 120_000);
      const saved = JSON.parse(readFileSync(adapter, 'utf8'));
      if (saved.r !== 80 || !saved.target_modules.includes('q_proj')) throw new Error(`saved adapter config: r=${saved.r}, targets ${saved.target_modules}`);
      if (readFileSync(data, 'utf8').includes('broken')) throw new Error('the data fix was not saved');
      const trained = JSON.parse(readFileSync(path.join(ws, 'runs', RUN, 'adapter', 'adapter_config.json'), 'utf8'));
      if (trained.r !== 80) throw new Error(`the run trained r=${trained.r}, not the r=80 the editor showed`);
    },
  },
  {
    name: 'a recipe the trainer refuses at start-up (a model folder without weights) says "Can\'t start training: …", not "Training failed"',
    timeoutMs: 90_000,
    async run(vscode, ws) {
      await vscode.runCommand('Notifications: Clear All Notifications').catch(() => {});
      // config.json and the tokenizer but no weights: validation only warns (count and estimate work), the trainer refuses
      const bare = path.join(ws, 'models', 'no-weights');
      mkdirSync(bare, { recursive: true });
      for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) {
        if (existsSync(path.join(ws, 'models', 'tiny', f))) copyFileSync(path.join(ws, 'models', 'tiny', f), path.join(bare, f));
      }
      const recipe = path.join(ws, 'peft-train.yaml');
      const text = readFileSync(recipe, 'utf8');
      writeFileSync(recipe, text.replace(/^base_model: *\S+/m, 'base_model: ./models/no-weights').replace(/run_name: *\S+/, 'run_name: refused-run'));
      try {
        await vscode.runCommand('PEFT: Train Adapter');
        // (the run's progress toast also says "failed · step 0" for a moment: wait for the refusal itself)
        const shown = await vscode.waitForNotification(/^Can't start training: /, 60_000);
        if (/peft-studio \w+: error/.test(shown)) throw new Error(`the refusal reads: ${shown}`);
        const all = await vscode.notifications();
        if (all.some((t) => /Training failed/.test(t))) throw new Error(`a "Training failed" message was shown too: ${JSON.stringify(all)}`);
        if (!/safetensors|weights/i.test(shown)) throw new Error(`the refusal does not say what is missing: ${shown}`);
        if (existsSync(path.join(ws, 'runs', 'refused-run'))) throw new Error('a run folder was created for a refused start');
        await vscode.screenshot('preflight-cant-start');
      } finally {
        writeFileSync(recipe, text);
      }
    },
  },
];
