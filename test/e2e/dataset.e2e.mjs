// The data set features in a real VS Code: a planted API key and a planted duplicate show in the Problems panel at
// their lines, and the "Inspect" CodeLens opens the dataset inspector with trained and masked tokens coloured.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { REPO, codeLenses, goTo, openFile, waitForProblems } from './harness.mjs';

function cli(...args) {
  const script = `require(${JSON.stringify(path.join(REPO, 'dist', 'cli.js'))}).main(process.argv.slice(1)).then((c) => { process.exitCode = c; })`;
  const r = spawnSync(process.execPath, ['-e', script, '--', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`peft-studio ${args.join(' ')} failed (${r.status}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** The key is assembled from parts so that no scanner mistakes this file for a leak. */
const KEY = ['AKIA', 'QWERTYUIOPASDF23'].join('');
let secretLine = 0;
let duplicateLine = 0;

/** A tiny llama fixture and a scaffolded instruct project; a line with an AWS key and a copy of line 1 appended. */
export function workspace() {
  const dir = mkdtempSync(path.join(tmpdir(), 'peft-e2e-dataset-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  cli('fixture', '--arch', 'llama', '--size', 'tiny', path.join(dir, 'models', 'tiny'));
  cli('init', dir, '--model', path.join(dir, 'models', 'tiny'), '--template', 'instruct');
  const data = path.join(dir, 'data', 'train.jsonl');
  const lines = readFileSync(data, 'utf8').split('\n').filter((l) => l.trim() !== '');
  lines.push(JSON.stringify({ instruction: 'How do I deploy?', input: '', output: `Put ${KEY} in the config file.` }));
  secretLine = lines.length;
  lines.push(lines[0]);
  duplicateLine = lines.length;
  writeFileSync(data, lines.join('\n') + '\n');
  return dir;
}

export const tests = [
  {
    name: 'a planted API key (error) and a planted duplicate (warning) are in Problems at their lines',
    timeoutMs: 90_000,
    async run(vscode) {
      await openFile(vscode, 'train.jsonl');
      const secret = new RegExp(`^Error: Possible secret: an AWS access key id .* at line ${secretLine} and character \\d+\\b`);
      const duplicate = new RegExp(`^Warning: Duplicate of line 1 .*at line ${duplicateLine} and character 1\\b`);
      await waitForProblems(vscode, (rows) => rows.some((r) => secret.test(r)) && rows.some((r) => duplicate.test(r)), 60_000);
      await vscode.screenshot('dataset-lint-problems');
    },
  },
  {
    name: 'the Inspect CodeLens opens the inspector with trained and masked tokens coloured',
    timeoutMs: 120_000,
    async run(vscode) {
      await openFile(vscode, 'train.jsonl');
      await goTo(vscode, 1, 1);
      const deadline = Date.now() + 30_000;
      while (!(await codeLenses(vscode)).some((l) => l.text === 'Inspect')) {
        if (Date.now() > deadline) throw new Error(`no Inspect CodeLens; shown: ${JSON.stringify(await codeLenses(vscode))}`);
        await new Promise((r) => setTimeout(r, 300));
      }
      await vscode.page.locator('.editor-group-container.active .monaco-editor .codelens-decoration a').filter({ hasText: 'Inspect' }).first().click();
      const frame = await vscode.webviewFrame('#tokens', 90_000);
      const trained = Number(await frame.locator('#tokens').getAttribute('data-trained'));
      const masked = Number(await frame.locator('#tokens').getAttribute('data-masked'));
      if (!(trained > 0 && masked > 0)) throw new Error(`expected trained and masked tokens, got ${trained} trained, ${masked} masked`);
      if ((await frame.locator('#tokens .tok.trained').count()) !== trained) throw new Error('trained spans differ from data-trained');
      const title = await frame.locator('h2').first().textContent();
      if (!/train data · example 0 \(line 1\)/.test(title ?? '')) throw new Error(`inspector heading: ${title}`);
      await vscode.screenshot('dataset-inspector');
    },
  },
];
