// The whole editor flow in a real VS Code, from the command palette only: New Adapter Project on a fixture model (its
// folder prompts answered in the simple file dialog), a planted mistake in Problems, Train, Stop, Resume, and the wide
// dashboard in the light and the dark theme (screenshots test-output/e2e/dashboard-light.png and dashboard-dark.png).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { cli, goTo, openFile, quickInput, runWhenAvailable, waitFor, waitForProblems } from './harness.mjs';

const STEPS = 300;
const EVAL_STEPS = 100;
/** The Train test leaves the run held here by the trainer's test gate (harness holdRun), where the Stop test stops it. */
const HELD_AT = 8;
const RUN = 'palette-run';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A workspace with only the tiny llama fixture and an empty folder for the project. */
export function workspace() {
  const dir = mkdtempSync(path.join(tmpdir(), 'peft-e2e-project-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true })); // run.mjs only removes the folders it made
  cli('fixture', '--arch', 'llama', path.join(dir, 'models', 'tiny'));
  return dir;
}

const quickRow = (vscode, text) => vscode.page.locator('.quick-input-widget .quick-input-list .monaco-list-row').filter({ hasText: text }).first();

/**
 * Answers showOpenDialog, which code-server shows as its simple file dialog: a quick input holding a path, listing that
 * folder's subfolders, with the dialog's open label as its OK button. Types `folder`, waits for its listing (`shows`:
 * the row labels, in order), clicks OK.
 */
async function answerFolderDialog(vscode, folder, shows, okLabel) {
  const input = quickInput(vscode);
  await input.waitFor({ state: 'visible', timeout: 15_000 });
  const widget = vscode.page.locator('.quick-input-widget');
  await widget.locator('.monaco-list-row').first().waitFor({ state: 'visible', timeout: 15_000 }); // the dialog has listed its start folder
  await input.fill(`${folder}/`);
  const rows = widget.locator('.quick-input-list .monaco-list-row');
  await waitFor(async () => JSON.stringify((await rows.allInnerTexts()).map((t) => t.trim())) === JSON.stringify(shows), 15_000, `the dialog to list ${folder}`);
  await widget.locator('.monaco-button').filter({ hasText: okLabel }).first().click();
  await waitFor(async () => !(await widget.locator('.monaco-button').filter({ hasText: okLabel }).first().isVisible().catch(() => false)), 15_000, `the dialog to accept ${folder}`);
}

async function pickRow(vscode, text) {
  const row = quickRow(vscode, text);
  await row.waitFor({ state: 'visible', timeout: 15_000 });
  await row.click();
}

/** The dashboard panel's frame, once it shows `selector`. */
const dashboard = (vscode, selector = '#runs-list', timeoutMs = 30_000) => vscode.webviewFrame(`body[data-place="panel"] ${selector}`, timeoutMs);

/** Preferences: Color Theme from the palette, the theme typed into its picker. */
async function setColorTheme(vscode, theme) {
  await vscode.runCommand('Preferences: Color Theme');
  const input = quickInput(vscode);
  await input.waitFor({ state: 'visible', timeout: 10_000 });
  await input.fill(theme);
  const row = vscode.page.locator('.quick-input-widget .quick-input-list .monaco-list-row').filter({ hasText: theme }).first();
  await row.waitFor({ state: 'visible', timeout: 10_000 });
  await row.click();
  await input.waitFor({ state: 'hidden', timeout: 10_000 });
}

export const tests = [
  {
    name: 'New Adapter Project from the palette scaffolds a project on the fixture model and opens its files',
    timeoutMs: 120_000,
    async run(vscode, ws) {
      const proj = path.join(ws, 'my-adapter');
      await runWhenAvailable(vscode, 'PEFT: New Adapter Project');
      await answerFolderDialog(vscode, ws, ['..', 'models'], 'Create the Project in This Folder'); // the parent folder
      // the project name: a box that proposes a free name; the folder does not exist yet and is created
      const input = quickInput(vscode);
      await vscode.page.locator('.quick-input-widget .quick-input-title').filter({ hasText: 'New Adapter Project (1/4)' }).waitFor({ timeout: 15_000 });
      if ((await input.inputValue()) !== 'my-adapter') throw new Error(`proposed name "${await input.inputValue()}"`);
      await input.fill('my adapter/x');
      await vscode.page.locator('.quick-input-widget .quick-input-message').filter({ hasText: 'not a path' }).waitFor({ timeout: 10_000 });
      await input.fill('my-adapter');
      await vscode.page.keyboard.press('Enter');
      await pickRow(vscode, 'Local model folder');
      await answerFolderDialog(vscode, path.join(ws, 'models', 'tiny'), ['..'], 'Use This Model Folder'); // files are not listed
      // the picked folder is read at once and shown before the next step
      const titleRow = vscode.page.locator('.quick-input-widget .quick-input-title').filter({ hasText: 'LlamaForCausalLM (llama)' });
      await titleRow.waitFor({ timeout: 30_000 });
      const modelTitle = await titleRow.innerText();
      const layers = JSON.parse(readFileSync(path.join(ws, 'models', 'tiny', 'config.json'), 'utf8')).num_hidden_layers;
      if (!modelTitle.includes(`${layers} layers`) || !/\d(\.\d+)?[KMB]? parameters/.test(modelTitle)) throw new Error(`model summary: ${modelTitle}`);
      await vscode.screenshot('new-project-model-summary');
      await pickRow(vscode, 'Use this model');
      await pickRow(vscode, 'instruct');
      await vscode.page.locator('.tab.active').filter({ hasText: 'peft-train.yaml' }).first().waitFor({ timeout: 60_000 });
      for (const f of ['adapter_config.json', 'peft-train.yaml', path.join('data', 'train.jsonl')]) {
        if (!existsSync(path.join(proj, f))) throw new Error(`New Adapter Project did not write ${f}`);
      }
      const recipe = readFileSync(path.join(proj, 'peft-train.yaml'), 'utf8');
      if (!recipe.includes(path.join(ws, 'models', 'tiny'))) throw new Error(`the recipe does not name the chosen model:\n${recipe}`);
      await openFile(vscode, 'train.jsonl');
      await openFile(vscode, 'adapter_config.json');
      await vscode.screenshot('project-created');
    },
  },
  {
    name: 'a mistake typed into adapter_config.json shows in the Problems panel, and goes with the undo',
    timeoutMs: 90_000,
    async run(vscode, ws) {
      const file = path.join(ws, 'my-adapter', 'adapter_config.json');
      const lines = readFileSync(file, 'utf8').split('\n');
      const line = lines.findIndex((l) => l.includes('"q_proj"')) + 1;
      if (line === 0) throw new Error('the scaffolded adapter_config.json targets no q_proj');
      await openFile(vscode, 'adapter_config.json');
      await goTo(vscode, line, lines[line - 1].indexOf('q_proj"') + 1 + 'q_proj'.length);
      await vscode.page.keyboard.type('x');
      const planted = new RegExp(`^Error: Target module "q_projx" is not found in the base model \\(llama\\).* at line ${line}\\b`);
      await waitForProblems(vscode, (rows) => rows.some((r) => planted.test(r)), 60_000);
      await vscode.screenshot('project-problem');
      await goTo(vscode, line, 1);
      await vscode.page.keyboard.press('Control+Z');
      await waitForProblems(vscode, (rows) => !rows.some((r) => r.includes('q_projx')), 30_000);
      await vscode.runCommand('File: Save');
    },
  },
  {
    name: 'Train Adapter from the palette: the panel\'s loss chart grows live and its parameter table matches count',
    timeoutMs: 150_000,
    async run(vscode, ws) {
      const proj = path.join(ws, 'my-adapter');
      const recipe = path.join(proj, 'peft-train.yaml');
      writeFileSync(recipe, readFileSync(recipe, 'utf8').replace(/max_steps: *-?\d+/, `max_steps: ${STEPS}`).replace(/eval_steps: *\d+/, `eval_steps: ${EVAL_STEPS}`)
        .replace(/learning_rate: *\S+/, 'learning_rate: 1.0e-3').replace(/run_name: *\S+/, `run_name: ${RUN}`).replace(/device: *\S+/, 'device: cpu'));
      await openFile(vscode, 'peft-train.yaml');
      vscode.holdRun(RUN, 2);
      await runWhenAvailable(vscode, 'PEFT: Train Adapter');
      const runDir = path.join(proj, 'runs', RUN);
      const frame = await dashboard(vscode, `#run-detail[data-run-dir="${runDir}"]`, 60_000);
      // the run advances two steps at a time through the gate; the chart must grow at each while the run is running
      const seen = [];
      for (let held = 2; held <= HELD_AT; held += 2) {
        await waitFor(async () => {
          const running = await frame.locator(`#run-detail[data-status="running"]`).count() > 0;
          const n = Number(await frame.locator('#loss-chart').getAttribute('data-points'));
          return running && n > (seen[seen.length - 1] ?? 0) && (seen.push(n), true);
        }, 60_000, `the loss chart to receive the points of steps up to ${held} while the run trains`);
        if (held < HELD_AT) vscode.holdRun(RUN, held + 2);
      }
      for (let i = 1; i < seen.length; i++) if (!(seen[i] > seen[i - 1])) throw new Error(`data-points did not grow: ${seen.join(', ')}`);
      const expected = JSON.parse(cli('count', path.join(proj, 'adapter_config.json'), '--json'));
      const table = frame.locator('#param-table');
      const shown = [Number(await table.getAttribute('data-trainable')), Number(await table.getAttribute('data-total'))];
      if (shown[0] !== expected.trainable || shown[1] !== expected.total) throw new Error(`parameter table ${shown.join('/')} vs count ${expected.trainable}/${expected.total}`);
      console.log(`    loss chart points seen while training: ${seen.join(' → ')}; params ${shown.join(' / ')}`);
    },
  },
  {
    name: 'Stop Training and Resume Training from the palette: the run continues from its checkpoint to the end',
    timeoutMs: 240_000,
    async run(vscode, ws) {
      const runDir = path.join(ws, 'my-adapter', 'runs', RUN);
      if (!existsSync(runDir)) throw new Error(`no run folder ${runDir}: the Train test failed`);
      await vscode.runCommand('PEFT: Stop Training');
      const stopped = await vscode.waitForNotification(new RegExp(`${RUN}: stopped · step \\d+/${STEPS}`), 90_000);
      const at = Number(/step (\d+)\//.exec(stopped)?.[1]);
      if (at !== HELD_AT) throw new Error(`stopped at step ${at}, not at step ${HELD_AT} where the gate held it`);
      vscode.releaseRun(RUN);
      if (!existsSync(path.join(runDir, 'checkpoints', `step-${at}`))) throw new Error(`no checkpoint step-${at} after the stop`);
      await vscode.runCommand('Notifications: Clear All Notifications').catch(() => {});
      await runWhenAvailable(vscode, 'PEFT: Resume Training');
      await pickRow(vscode, RUN);
      await vscode.waitForNotification(new RegExp(`${RUN}: done · step ${STEPS}/${STEPS}`), 200_000);
      const frame = await dashboard(vscode, `#run-detail[data-run-dir="${runDir}"][data-status="completed"]`, 30_000);
      const step = await frame.locator('[data-stat="step"] dd').innerText();
      if (step !== `${STEPS} / ${STEPS}`) throw new Error(`dashboard step: ${step}`);
      const records = readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      const resumed = records.filter((r) => r.event === 'start' && r.resumed_from_step !== undefined);
      if (resumed.length !== 1 || resumed[0].resumed_from_step !== at) throw new Error(`start records after the resume: ${JSON.stringify(resumed.map((r) => r.resumed_from_step))} (stopped at ${at})`);
      const steps = records.filter((r) => r.event === 'step' && r.step > at).map((r) => r.step);
      if (steps[0] !== at + 1 || steps[steps.length - 1] !== STEPS) throw new Error(`resumed steps ran ${steps[0]}..${steps[steps.length - 1]}`);
      console.log(`    stopped at step ${at}, resumed to ${STEPS}`);
    },
  },
  {
    name: 'the wide panel in the light and the dark theme (screenshots), re-themed live',
    timeoutMs: 120_000,
    async run(vscode, ws) {
      const runDir = path.join(ws, 'my-adapter', 'runs', RUN);
      await vscode.runCommand('Notifications: Clear All Notifications').catch(() => {});
      await vscode.runCommand('View: Hide Panel').catch(() => {});
      await vscode.runCommand('View: Close Primary Side Bar').catch(() => {});
      await runWhenAvailable(vscode, 'PEFT: Open Training Dashboard');
      const frame = await dashboard(vscode, `#run-detail[data-run-dir="${runDir}"][data-status="completed"]`, 30_000);
      const colors = {};
      for (const [theme, kind] of [['Default Light Modern', 'vscode-light'], ['Default Dark Modern', 'vscode-dark']]) {
        await setColorTheme(vscode, theme);
        await frame.locator(`body.${kind}`).waitFor({ timeout: 30_000 });
        await sleep(1000);
        colors[kind] = await frame.locator('#loss-chart').getAttribute('data-colors');
        await vscode.page.mouse.move(5, 880);
        await vscode.screenshot(`dashboard-${kind.replace('vscode-', '')}`);
      }
      if (colors['vscode-light'] === colors['vscode-dark']) throw new Error(`the chart colours did not follow the theme: ${colors['vscode-light']}`);
      const wide = await frame.locator('body').evaluate(() => {
        const r = (id) => document.getElementById(id)?.getBoundingClientRect();
        const loss = r('loss-chart-panel');
        const lr = r('lr-chart-panel');
        const mem = r('memory-chart-panel');
        return { width: window.innerWidth, height: window.innerHeight, lossRight: loss?.right ?? 0, lrLeft: lr?.left ?? 0, memBottom: mem?.bottom ?? Infinity };
      });
      if (!(wide.lrLeft >= wide.lossRight)) throw new Error(`not laid out as a grid: ${JSON.stringify(wide)}`);
      if (!(wide.memBottom <= wide.height)) throw new Error(`charts below the fold: ${JSON.stringify(wide)}`);
    },
  },
];
