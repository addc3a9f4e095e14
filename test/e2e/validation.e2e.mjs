// Inline validation in a real VS Code: planted mistakes in adapter_config.json, peft-train.yaml and a data set show in
// the Problems panel with the right text, severity and line; the quick fix, the Train CodeLens count and the hover work.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { cli, codeLenses, goTo, hoverText, openFile, positionOf, waitFor, waitForProblems } from './harness.mjs';

/** The data set line made invalid JSON (1-based): not the first, so a wrong line number cannot pass by accident. */
const BAD_DATA_LINE = 4;

/** A tiny llama fixture and a scaffolded project, with mistakes planted in its three kinds of file. */
export function workspace() {
  const dir = mkdtempSync(path.join(tmpdir(), 'peft-e2e-validation-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true })); // run.mjs only removes the folders it made
  cli('fixture', '--arch', 'llama', '--size', 'tiny', path.join(dir, 'models', 'tiny'));
  cli('init', dir, '--model', path.join(dir, 'models', 'tiny'), '--template', 'instruct');
  const adapter = path.join(dir, 'adapter_config.json');
  const cfg = readFileSync(adapter, 'utf8');
  if (!/"r": 16,/.test(cfg) || !/"q_proj",\s*"v_proj"/.test(cfg)) throw new Error(`unexpected scaffolded adapter_config.json:\n${cfg}`);
  writeFileSync(adapter, cfg.replace('"lora_alpha":', '"lora_alpah":').replace('"q_proj",', '"q_projj",'));
  const recipe = path.join(dir, 'peft-train.yaml');
  writeFileSync(recipe, readFileSync(recipe, 'utf8').replace(/^( +)learning_rate:/m, '$1learnig_rate:'));
  const data = path.join(dir, 'data', 'train.jsonl');
  const lines = readFileSync(data, 'utf8').split('\n');
  lines[BAD_DATA_LINE - 1] = '{"instruction": "What is 2 plus 2?" "output": 4';
  writeFileSync(data, lines.join('\n'));
  return dir;
}

const countJson = (ws) => JSON.parse(cli('count', path.join(ws, 'adapter_config.json'), '--json'));

export const tests = [
  {
    name: 'adapter_config.json: unknown key and unmatched target in Problems; the quick fix renames the key',
    timeoutMs: 90_000,
    async run(vscode, ws) {
      const file = path.join(ws, 'adapter_config.json');
      const typo = positionOf(file, '"lora_alpah"');
      const target = positionOf(file, '"q_projj"');
      await openFile(vscode, 'adapter_config.json');
      const unknownKey = new RegExp(`^Warning: Unknown LoraConfig key "lora_alpah": PEFT ignores it\\. Did you mean "lora_alpha"\\? at line ${typo.line} and character ${typo.column}\\b`);
      const noTarget = new RegExp(`^Error: Target module "q_projj" is not found in the base model \\(llama\\)\\. Did you mean "q_proj"\\?.* at line ${target.line} and character ${target.column}\\b`);
      await waitForProblems(vscode, (rows) => rows.some((r) => unknownKey.test(r)) && rows.some((r) => noTarget.test(r)), 60_000);
      await vscode.screenshot('validation-adapter-problems');

      await goTo(vscode, typo.line, typo.column + 2);
      await vscode.page.keyboard.press('Control+.');
      const fix = vscode.page.locator('.action-widget .monaco-list-row').filter({ hasText: 'Change to "lora_alpha"' }).first();
      await fix.waitFor({ state: 'visible', timeout: 15_000 });
      await vscode.screenshot('validation-adapter-quickfix-menu');
      for (let i = 0; !(await fix.getAttribute('class'))?.split(' ').includes('focused'); i++) {
        if (i === 5) throw new Error(`the quick fix row never got the focus: ${await vscode.page.locator('.action-widget').innerText()}`);
        await vscode.page.keyboard.press('ArrowDown');
      }
      await vscode.page.keyboard.press('Enter');
      await waitForProblems(vscode, (rows) => !rows.some((r) => r.includes('lora_alpah')) && rows.some((r) => noTarget.test(r)), 30_000);
      await vscode.runCommand('File: Save');
      await waitFor(() => !readFileSync(file, 'utf8').includes('lora_alpah'), 15_000, 'adapter_config.json saved without "lora_alpah"');
      const json = JSON.parse(readFileSync(file, 'utf8'));
      if (json.lora_alpha !== 32 || 'lora_alpah' in json) throw new Error(`after the fix: lora_alpha=${json.lora_alpha}, keys ${Object.keys(json).join(',')}`);
      if (positionOf(file, '"lora_alpha"').line !== typo.line) throw new Error('the fix moved the key to another line');
      await vscode.screenshot('validation-adapter-fixed');
    },
  },
  {
    name: 'the Train CodeLens shows the trainable-parameter count and doubles it when r goes 16 → 32',
    timeoutMs: 90_000,
    async run(vscode, ws) {
      const file = path.join(ws, 'adapter_config.json');
      const before = countJson(ws);
      await openFile(vscode, 'adapter_config.json');
      await goTo(vscode, 1, 1); // the lens sits above line 1: scroll it into view
      const lensFor = (n) => (l) => l.title.includes(`${n.toLocaleString('en-US')} trainable of`) && /^▶ Train · \S+ trainable params \([\d.]+%\) · est\. /.test(l.text);
      const lens0 = await waitForLens(vscode, lensFor(before.trainable));
      const pct0 = Number(/\(([\d.]+)%\)/.exec(lens0.text)[1]);
      if (Math.abs(pct0 - before.percent) > 0.01) throw new Error(`lens shows ${pct0}%, peft-studio count says ${before.percent}%`);
      await vscode.screenshot('validation-codelens-r16');

      const r = positionOf(file, '"r": 16');
      await goTo(vscode, r.line, r.column + 5);
      await vscode.page.keyboard.press('Shift+End');
      await vscode.page.keyboard.type('32,');
      await goTo(vscode, 1, 1); // the lens sits above line 1: scroll it into view
      const lens1 = await waitForLens(vscode, lensFor(2 * before.trainable));
      await vscode.screenshot('validation-codelens-r32');
      await vscode.runCommand('File: Save');
      await waitFor(() => readFileSync(file, 'utf8').includes('"r": 32,'), 15_000, 'adapter_config.json saved with "r": 32');
      const after = countJson(ws);
      if (after.trainable !== 2 * before.trainable) throw new Error(`peft-studio count: ${before.trainable} → ${after.trainable}`);
      if (!lens1.title.includes(`${after.total.toLocaleString('en-US')} parameters`)) throw new Error(`lens tooltip "${lens1.title}" vs total ${after.total}`);
    },
  },
  {
    name: 'peft-train.yaml: a misspelt key is an error with "Did you mean"; a data set line that is not JSON is an error at its line',
    timeoutMs: 90_000,
    async run(vscode, ws) {
      const key = positionOf(path.join(ws, 'peft-train.yaml'), 'learnig_rate');
      await openFile(vscode, 'peft-train.yaml');
      const misspelt = new RegExp(`^Error: Unknown key "training\\.learnig_rate"\\. Did you mean "learning_rate"\\? at line ${key.line} and character ${key.column}\\b`);
      await waitForProblems(vscode, (rows) => rows.some((r) => misspelt.test(r)), 60_000);
      await vscode.screenshot('validation-recipe-problems');

      await openFile(vscode, 'train.jsonl');
      const notJson = new RegExp(`^Error: Line ${BAD_DATA_LINE} is not valid JSON: .* at line ${BAD_DATA_LINE} and character 1\\b`);
      const rows = await waitForProblems(vscode, (rs) => rs.some((r) => notJson.test(r)), 60_000);
      const dataRows = rows.filter((r) => /is not valid JSON/.test(r));
      if (dataRows.length !== 1) throw new Error(`expected one not-JSON problem, got ${JSON.stringify(dataRows)}`);
      await vscode.screenshot('validation-dataset-problems');
      // in the editor: Go to Next Problem (F8) from the top lands on that line and shows the message inline
      await goTo(vscode, 1, 1);
      await vscode.page.keyboard.press('F8');
      await vscode.page.locator('#status\\.editor\\.selection').filter({ hasText: new RegExp(`Ln ${BAD_DATA_LINE}, Col 1\\b`) }).waitFor({ timeout: 10_000 });
      await vscode.page.locator('.editor-group-container.active .marker-widget').filter({ hasText: `Line ${BAD_DATA_LINE} is not valid JSON` }).waitFor({ timeout: 10_000 });
      await vscode.screenshot('validation-dataset-inline');
      await vscode.page.keyboard.press('Escape');
    },
  },
  {
    name: 'hover on target_modules shows which modules each entry matched',
    timeoutMs: 60_000,
    async run(vscode, ws) {
      const layers = JSON.parse(readFileSync(path.join(ws, 'models', 'tiny', 'config.json'), 'utf8')).num_hidden_layers;
      const at = positionOf(path.join(ws, 'adapter_config.json'), '"target_modules"');
      await openFile(vscode, 'adapter_config.json');
      const text = await hoverText(vscode, at.line, at.column + 3, /In llama/);
      await vscode.screenshot('validation-hover-target-modules');
      const flat = text.replace(/\s+/g, ' ');
      if (!flat.includes(`In llama (${layers} layers):`)) throw new Error(`hover: ${flat}`);
      if (!/q_projj → no module/.test(flat)) throw new Error(`hover does not say q_projj matched nothing: ${flat}`);
      if (!new RegExp(`v_proj → ${layers} module\\(s\\)`).test(flat)) throw new Error(`hover does not say v_proj matched ${layers} modules: ${flat}`);
    },
  },
  {
    name: 'r: 0 is one problem (ours; no second one from a JSON schema), and its quick fix writes PEFT\'s default 8',
    timeoutMs: 90_000,
    async run(vscode, ws) {
      const file = path.join(ws, 'adapter_config.json');
      const r = positionOf(file, '"r": ');
      await openFile(vscode, 'adapter_config.json');
      await goTo(vscode, r.line, r.column + 5);
      await vscode.page.keyboard.press('Shift+End');
      await vscode.page.keyboard.type('0,');
      const ours = /^Error: `r` should be a positive integer value but the value passed is 0 \(r is the LoRA rank\)/;
      const rows = await waitForProblems(vscode, (rs) => rs.some((x) => ours.test(x)), 60_000);
      await new Promise((res) => setTimeout(res, 1500)); // a schema validator would have reported by now too
      const onR = (await waitForProblems(vscode, () => true)).filter((x) => x.includes(`at line ${r.line} `));
      if (onR.length !== 1) throw new Error(`problems on the "r" line: ${JSON.stringify(onR)} (all: ${JSON.stringify(rows)})`);
      await vscode.screenshot('validation-r0-one-problem');
      await goTo(vscode, r.line, r.column + 6);
      await applyQuickFix(vscode, "Change to 8 (PEFT's default rank)");
      await waitForProblems(vscode, (rs) => !rs.some((x) => ours.test(x)), 30_000);
      await vscode.runCommand('File: Save');
      await waitFor(() => /"r": 8,/.test(readFileSync(file, 'utf8')), 15_000, 'adapter_config.json saved with "r": 8');
    },
  },
  {
    name: 'peft-train.yaml: a misspelt data file says "Did you mean data/train.jsonl?" and the quick fix writes it',
    timeoutMs: 90_000,
    async run(vscode, ws) {
      const recipe = path.join(ws, 'peft-train.yaml');
      const at = positionOf(recipe, 'data/train.jsonl');
      await openFile(vscode, 'peft-train.yaml');
      await goTo(vscode, at.line, at.column);
      await vscode.page.keyboard.press('Shift+End');
      await vscode.page.keyboard.type('data/trian.jsonl');
      const near = /^Error: File not found: data\/trian\.jsonl\. Did you mean data\/train\.jsonl\?/;
      await waitForProblems(vscode, (rs) => rs.some((x) => near.test(x)), 60_000);
      await vscode.screenshot('validation-near-match');
      await goTo(vscode, at.line, at.column + 3);
      await applyQuickFix(vscode, 'Change to data/train.jsonl');
      await waitForProblems(vscode, (rs) => !rs.some((x) => x.includes('trian')), 30_000);
    },
  },
];

/** Opens the quick-fix menu at the cursor (Ctrl+.) and applies the action titled `title`. */
async function applyQuickFix(vscode, title) {
  await vscode.page.keyboard.press('Control+.');
  const fix = vscode.page.locator('.action-widget .monaco-list-row').filter({ hasText: title }).first();
  await fix.waitFor({ state: 'visible', timeout: 15_000 });
  for (let i = 0; !(await fix.getAttribute('class'))?.split(' ').includes('focused'); i++) {
    if (i === 8) throw new Error(`the quick fix row never got the focus: ${await vscode.page.locator('.action-widget').innerText()}`);
    await vscode.page.keyboard.press('ArrowDown');
  }
  await vscode.page.keyboard.press('Enter');
}

/** The first CodeLens of the active editor satisfying `pred`, polled; the error lists what was shown. */
async function waitForLens(vscode, pred, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lenses = await codeLenses(vscode);
    const hit = lenses.find(pred);
    if (hit !== undefined) return hit;
    if (Date.now() > deadline) throw new Error(`no matching CodeLens within ${timeoutMs} ms; shown: ${JSON.stringify(lenses)}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}
