// New Adapter Project: where (a parent folder and a project name, the folder is created), which base model (a local
// folder is inspected at once and shown — architecture, parameters, layers — before the next step), which sample data.
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { projectFolderProblem } from '../core/scaffold/scaffold';
import { describeModel, type ModelFacts } from '../shared/messages';
import { runCliJson } from './cli';
import { errorMessage } from '../core/errors';
import { log, showError } from './log';
import { RECIPE_FILE } from './pick';

const STEPS = 4;
const title = (step: number): string => `New Adapter Project (${step}/${STEPS})`;

const TEMPLATES: (vscode.QuickPickItem & { template: 'chat' | 'instruct' | 'text' })[] = [
  { label: 'chat', description: 'conversations ("messages"), rendered with the model\'s chat template', template: 'chat' },
  { label: 'instruct', description: 'instruction / input / output (alpaca)', template: 'instruct' },
  { label: 'text', description: 'plain text ("text")', template: 'text' },
];

export async function pickFolder(label: string, defaultDir?: string): Promise<string | undefined> {
  const base = defaultDir ?? vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? os.homedir();
  const picked = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, canSelectMany: false, openLabel: label, defaultUri: vscode.Uri.file(base), title: label });
  return picked?.[0]?.fsPath;
}

function freeName(parent: string, base: string): string {
  for (let i = 1; ; i++) {
    const name = i === 1 ? base : `${base}-${i}`;
    if (projectFolderProblem(parent, name) === null) return name;
  }
}

/** A local model folder, inspected and confirmed, or a hub id; undefined when the user gives up. */
async function pickModel(context: vscode.ExtensionContext): Promise<string | undefined> {
  for (;;) {
    const how = await vscode.window.showQuickPick([
      { label: '$(folder) Local model folder…', id: 'folder', description: 'a Hugging Face folder with config.json and model.safetensors' },
      { label: '$(cloud-download) Hugging Face model id…', id: 'hub', description: 'org/name, e.g. Qwen/Qwen2.5-0.5B-Instruct (only config.json is fetched now)' },
    ], { title: title(2), placeHolder: 'Base model for the adapter', ignoreFocusOut: true });
    if (how === undefined) return undefined;
    if (how.id === 'hub') {
      return (await vscode.window.showInputBox({
        title: title(2),
        prompt: 'Hugging Face model id',
        placeHolder: 'org/name[@revision]',
        ignoreFocusOut: true,
        validateInput: (v) => (/^[\w.-]+\/[\w.-]+(@[\w./-]+)?$/.test(v.trim()) ? undefined : 'Expected org/name, optionally @revision'),
      }))?.trim();
    }
    const dir = await pickFolder('Use This Model Folder');
    if (dir === undefined) continue;
    const checked = await confirmModel(context, dir);
    if (checked === 'use') return dir;
    if (checked === 'cancel') return undefined;
  }
}

/** Inspects `dir` at once and shows what it is; 'again' to pick another folder. */
async function confirmModel(context: vscode.ExtensionContext, dir: string): Promise<'use' | 'again' | 'cancel'> {
  let facts: ModelFacts;
  try {
    facts = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `PEFT: reading ${path.basename(dir)}…` },
      () => runCliJson<ModelFacts>(context, ['inspect', dir], dir));
  } catch (e) {
    const c = await vscode.window.showErrorMessage(`${path.basename(dir)} is not a model PEFT Studio can read: ${errorMessage(e)}`, 'Pick Another Folder');
    return c === 'Pick Another Folder' ? 'again' : 'cancel';
  }
  const summary = describeModel(facts);
  log(`model ${dir}: ${summary}`);
  const unsupported = facts.spec.unsupportedForTraining ?? [];
  const use = { label: '$(check) Use this model', description: path.basename(dir), detail: summary, id: 'use' as const };
  const again = { label: '$(folder) Pick another folder…', id: 'again' as const };
  const pick = await vscode.window.showQuickPick([use, again], {
    title: `${title(2)}: ${summary}`,
    placeHolder: unsupported.length > 0 ? `Readable, but training refuses: ${unsupported.join('; ')}` : `${dir}`,
    ignoreFocusOut: true,
  });
  return pick === undefined ? 'cancel' : pick.id;
}

export async function openProject(dir: string): Promise<void> {
  const recipe = vscode.Uri.file(path.join(dir, RECIPE_FILE));
  const inWorkspace = vscode.workspace.getWorkspaceFolder(recipe) !== undefined;
  if (inWorkspace) {
    await vscode.window.showTextDocument(recipe);
    return;
  }
  const c = await vscode.window.showInformationMessage(`Created the project in ${dir}.`, 'Open Folder', 'Open in New Window', 'Show peft-train.yaml');
  if (c === 'Open Folder') await vscode.commands.executeCommand('vscode.openFolder', vscode.Uri.file(dir), { forceNewWindow: false });
  else if (c === 'Open in New Window') await vscode.commands.executeCommand('vscode.openFolder', vscode.Uri.file(dir), { forceNewWindow: true });
  else if (c === 'Show peft-train.yaml') await vscode.window.showTextDocument(recipe);
}

interface InitJson {
  dir: string;
  files: string[];
  warnings: string[];
}

export async function newProject(context: vscode.ExtensionContext): Promise<void> {
  const parent = await pickFolder('Create the Project in This Folder');
  if (parent === undefined) return;
  const name = (await vscode.window.showInputBox({
    title: title(1),
    prompt: `Project name: a new folder in ${parent}`,
    value: freeName(parent, 'my-adapter'),
    ignoreFocusOut: true,
    validateInput: (v) => projectFolderProblem(parent, v),
  }))?.trim();
  if (name === undefined || name === '') return;
  const dir = path.join(parent, name);
  const model = await pickModel(context);
  if (model === undefined || model === '') return;
  const t = await vscode.window.showQuickPick(TEMPLATES, { title: title(3), placeHolder: 'Sample data format', ignoreFocusOut: true });
  if (t === undefined) return;
  try {
    const r = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `PEFT: creating ${name}… (${title(4)})` },
      () => runCliJson<InitJson>(context, ['init', dir, '--model', model, '--template', t.template], parent));
    for (const w of r.warnings) log(`warning: ${w}`);
    log(`created ${r.files.join(', ')}`);
    await openProject(dir);
  } catch (e) {
    await showError(`Could not create the project: ${errorMessage(e)}`);
  }
}
