// Turns a command's argument (an explorer/editor Uri, a CodeLens path, a runs-tree node, a run folder from
// the dashboard, or nothing) into the file or run it means, asking with a quick pick only when ambiguous.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { RunSummary } from '../shared/dashboard';
import type { RunsTreeNode } from './runsTree';
import type { RunsStore } from './runsStore';
import { COMMAND_IDS } from '../shared/ids';

export const RECIPE_FILE = 'peft-train.yaml';
export const ADAPTER_CONFIG_FILE = 'adapter_config.json';

/** A path from a Uri, a string path or a tree node; undefined otherwise. */
export function pathOf(arg: unknown): string | undefined {
  if (arg instanceof vscode.Uri) return arg.fsPath;
  if (typeof arg === 'string' && arg !== '') return arg.startsWith('file:') ? vscode.Uri.parse(arg).fsPath : arg;
  const node = treeNode(arg);
  if (node !== undefined) return node.kind === 'run' ? node.run.dir : node.dir;
  return undefined;
}

export function treeNode(arg: unknown): RunsTreeNode | undefined {
  if (typeof arg !== 'object' || arg === null) return undefined;
  const k = (arg as { kind?: unknown }).kind;
  return k === 'run' || k === 'checkpoint' || k === 'adapter' ? (arg as RunsTreeNode) : undefined;
}

/**
 * The file a command acts on: its argument, else the active editor's document (saved first when dirty and `save`;
 * Train leaves saving to its pre-flight check, which asks).
 */
async function targetFile(arg: unknown, save = true): Promise<string | undefined> {
  const p = pathOf(arg);
  if (p !== undefined) return p;
  const doc = vscode.window.activeTextEditor?.document;
  if (doc === undefined || doc.uri.scheme !== 'file') return undefined;
  if (save && doc.isDirty) await doc.save();
  return doc.uri.fsPath;
}

/** The training recipe for Train Adapter: the given/active peft-train.yaml, the one beside an adapter_config.json, or a pick. */
export async function resolveRecipe(arg: unknown): Promise<string | undefined> {
  const file = await targetFile(arg, false);
  if (file !== undefined) {
    if (/\.ya?ml$/i.test(file)) return file;
    const sibling = path.join(path.dirname(file), RECIPE_FILE);
    if (path.basename(file) === ADAPTER_CONFIG_FILE && fs.existsSync(sibling)) return sibling;
  }
  const found = await vscode.workspace.findFiles(`**/${RECIPE_FILE}`, '**/node_modules/**', 100);
  if (found.length === 1) return found[0]?.fsPath;
  if (found.length === 0) {
    const c = await vscode.window.showErrorMessage(`No ${RECIPE_FILE} found in this workspace: create an adapter project first.`, 'New Adapter Project', 'Open Demo Project');
    if (c === 'New Adapter Project') await vscode.commands.executeCommand(COMMAND_IDS.newProject);
    if (c === 'Open Demo Project') await vscode.commands.executeCommand(COMMAND_IDS.openDemo);
    return undefined;
  }
  const pick = await vscode.window.showQuickPick(found.map((u) => ({ label: vscode.workspace.asRelativePath(u), uri: u })), { placeHolder: 'Train which recipe?' });
  return pick?.uri.fsPath;
}

/** An adapter_config.json or peft-train.yaml for Count / Estimate. */
export async function resolveConfigFile(arg: unknown, verb: string): Promise<string | undefined> {
  const file = await targetFile(arg);
  if (file !== undefined && (path.basename(file) === ADAPTER_CONFIG_FILE || /\.ya?ml$/i.test(file))) return file;
  const found = await vscode.workspace.findFiles(`**/{${ADAPTER_CONFIG_FILE},${RECIPE_FILE}}`, '**/{node_modules,runs,checkpoints,adapter}/**', 100);
  if (found.length === 0) {
    void vscode.window.showErrorMessage(`Open an ${ADAPTER_CONFIG_FILE} or ${RECIPE_FILE} to ${verb}.`);
    return undefined;
  }
  if (found.length === 1) return found[0]?.fsPath;
  const pick = await vscode.window.showQuickPick(found.map((u) => ({ label: vscode.workspace.asRelativePath(u), uri: u })), { placeHolder: `${verb[0]?.toUpperCase() ?? ''}${verb.slice(1)} for which file?` });
  return pick?.uri.fsPath;
}

function runLabel(r: RunSummary): vscode.QuickPickItem & { run: RunSummary } {
  const loss = r.finalLoss ?? r.lastLoss;
  return {
    label: r.name,
    description: `${r.live ? 'training' : r.status} · step ${r.lastStep}${r.maxSteps !== undefined ? `/${r.maxSteps}` : ''}${loss !== undefined ? ` · loss ${loss.toFixed(3)}` : ''}`,
    detail: r.dir,
    run: r,
  };
}

/** A run from the argument (tree node, run folder) or a pick among `filter`ed runs. */
export async function resolveRun(store: RunsStore, arg: unknown, placeHolder: string, filter: (r: RunSummary) => boolean = () => true): Promise<RunSummary | undefined> {
  const runs = store.list();
  const node = treeNode(arg);
  if (node !== undefined) return runs.find((r) => r.dir === node.run.dir) ?? node.run;
  const p = pathOf(arg);
  if (p !== undefined) {
    const abs = path.resolve(p);
    return runs.find((r) => path.resolve(r.dir) === abs || abs.startsWith(path.resolve(r.dir) + path.sep));
  }
  const candidates = runs.filter(filter);
  if (candidates.length === 0) {
    void vscode.window.showInformationMessage('No matching runs found. Runs are read from each recipe\'s output_dir and the peftStudio.outputDir setting.');
    return undefined;
  }
  return (await vscode.window.showQuickPick(candidates.map(runLabel), { placeHolder, matchOnDetail: true }))?.run;
}

export async function pickRuns(store: RunsStore, placeHolder: string): Promise<RunSummary[]> {
  const runs = store.list().filter((r) => r.lastStep > 0);
  if (runs.length < 2) {
    void vscode.window.showInformationMessage('Compare Runs needs at least two runs with logged steps.');
    return [];
  }
  return (await vscode.window.showQuickPick(runs.map(runLabel), { placeHolder, canPickMany: true, matchOnDetail: true }))?.map((p) => p.run) ?? [];
}

/**
 * The checkpoint to resume `run` from: the run folder itself means "latest checkpoint" (the trainer's
 * --resume RUN_DIR); an older one is passed as its checkpoints/step-N folder.
 */
export async function pickCheckpoint(run: RunSummary): Promise<string | undefined> {
  const cps = [...run.checkpoints].reverse();
  const latest = cps[0];
  if (latest === undefined) {
    void vscode.window.showErrorMessage(`Run "${run.name}" has no checkpoint to resume from (set training.save_steps to checkpoint during training).`);
    return undefined;
  }
  if (cps.length === 1) return run.dir;
  const items = cps.map((c, i) => ({ label: `step ${c.step}`, description: i === 0 ? 'latest' : '', target: i === 0 ? run.dir : c.dir }));
  return (await vscode.window.showQuickPick(items, { placeHolder: `Resume "${run.name}" from which checkpoint?` }))?.target;
}
