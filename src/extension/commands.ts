// The command table: every `peftStudio.*` command is a factory here, registered in one loop (as
// rust-analyzer's editors/code does). Each factory gets the extension's services and returns the handler.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { revealFirstTrial } from './sweepReveal';
import { runCliInTerminal } from './cli';
import type { RunManager } from './runManager';
import type { RunsStore } from './runsStore';
import type { RunsTreeProvider } from './runsTree';
import type { DashboardViewProvider } from './dashboard/dashboardView';
import type { PlaygroundPanel } from './playground/playgroundPanel';
import { errorMessage } from '../core/errors';
import { outputChannel, showError } from './log';
import { pathOf, pickCheckpoint, pickRuns, resolveRecipe, resolveRun, treeNode } from './pick';
import { exportForCluster, launchOnCluster } from './clusterCommands';
import { newProject } from './newProject';
import { count, estimate, openDemo } from './projectCommands';
import { inspectDataset } from './inspector/inspectCommand';
import type { LanguageService } from './language/service';
import { preflight } from './trainPreflight';
import type { CommandId } from '../shared/ids';
import { SERVE_COMMANDS } from './serveCommands';

export interface Services {
  context: vscode.ExtensionContext;
  manager: RunManager;
  store: RunsStore;
  tree: RunsTreeProvider;
  dashboard: DashboardViewProvider;
  playground: PlaygroundPanel;
  /** Validation (undefined when it could not start): Train checks the recipe's files with it first. */
  language: LanguageService | undefined;
}

type Handler = (...args: unknown[]) => unknown;
type CommandFactory = (s: Services) => Handler;

const train: CommandFactory = (s) => async (arg) => {
  const recipe = await resolveRecipe(arg);
  if (recipe === undefined) return;
  if (!(await preflight(s.language, recipe))) return;
  const run = await s.manager.start(recipe);
  if (run !== undefined) await s.dashboard.show(undefined, { preserveFocus: true });
};

const resume: CommandFactory = (s) => async (arg) => {
  const node = treeNode(arg);
  const run = await resolveRun(s.store, arg, 'Resume which run?', (r) => !r.live && r.checkpoints.length > 0);
  if (run === undefined) return;
  if (run.live) {
    void vscode.window.showInformationMessage(`"${run.name}" is training right now.`);
    return;
  }
  // A checkpoint node resumes from that checkpoint; else pick one (the latest = the run folder).
  const latest = run.checkpoints[run.checkpoints.length - 1];
  const from = node?.kind === 'checkpoint' ? (node.step === latest?.step ? run.dir : node.dir) : await pickCheckpoint(run);
  if (from === undefined) return;
  const config = s.store.read(run.dir).info?.config_file;
  if (config === undefined || config === '') {
    await showError(`Run "${run.name}" has no run.json naming its recipe (config_file), so it cannot be resumed.`);
    return;
  }
  if (!(await preflight(s.language, config))) return;
  const started = await s.manager.start(config, { resume: from });
  if (started !== undefined) await s.dashboard.show(run.dir);
};

/** Run Sweep: the recipe's sweep: section through `peft-studio sweep` in a terminal (after the same pre-flight as Train). */
const sweep: CommandFactory = (s) => async (arg) => {
  if (!vscode.workspace.isTrusted) {
    void vscode.window.showErrorMessage('Sweeps train models and are disabled in Restricted Mode: trust the workspace to run one.');
    return;
  }
  const recipe = await resolveRecipe(arg);
  if (recipe === undefined) return;
  if (!(await preflight(s.language, recipe))) return;
  runCliInTerminal(s.context, `PEFT sweep: ${path.basename(path.dirname(recipe))}`, ['sweep', recipe], path.dirname(recipe));
  await s.dashboard.show(undefined, { preserveFocus: true });
  revealFirstTrial(recipe, (dir) => void s.dashboard.show(dir, { preserveFocus: true }));
};

const deleteRun: CommandFactory = (s) => async (arg) => {
  const run = await resolveRun(s.store, arg, 'Delete which run?', (r) => !r.live);
  if (run === undefined) return;
  if (s.manager.isLive(run.dir)) {
    void vscode.window.showErrorMessage(`"${run.name}" is training: stop it before deleting it.`);
    return;
  }
  const n = run.checkpoints.length;
  const ok = await vscode.window.showWarningMessage(`Delete run "${run.name}"?`, {
    modal: true,
    detail: `This deletes the folder ${run.dir}${n > 0 ? `, its ${n} checkpoint${n > 1 ? 's' : ''}` : ''}${run.adapterDir !== undefined ? ' and its trained adapter' : ''}.`,
  }, 'Delete');
  if (ok !== 'Delete') return;
  const uri = vscode.Uri.file(run.dir);
  try {
    await vscode.workspace.fs.delete(uri, { recursive: true, useTrash: true });
  } catch {
    try {
      await vscode.workspace.fs.delete(uri, { recursive: true, useTrash: false });
    } catch (e) {
      await showError(`Could not delete ${run.dir}: ${errorMessage(e)}`);
    }
  }
  s.tree.refresh();
  s.store.refresh();
};

const openAdapterFolder: CommandFactory = (s) => async (arg) => {
  const node = treeNode(arg);
  let dir = node?.kind === 'adapter' || node?.kind === 'checkpoint' ? node.dir : undefined;
  if (dir === undefined) {
    const run = await resolveRun(s.store, arg, 'Open the adapter of which run?', (r) => r.adapterDir !== undefined);
    if (run === undefined) return;
    dir = run.adapterDir ?? run.dir;
  }
  const uri = vscode.Uri.file(dir);
  if (vscode.workspace.getWorkspaceFolder(uri) !== undefined) await vscode.commands.executeCommand('revealInExplorer', uri);
  else await vscode.commands.executeCommand('revealFileInOS', uri);
};

/** Try in Playground: a run's final adapter (else its latest checkpoint), a checkpoint or an adapter node. */
const tryInPlayground: CommandFactory = (s) => async (arg) => {
  const node = treeNode(arg);
  let dir = node?.kind === 'adapter' || node?.kind === 'checkpoint' ? node.dir : undefined;
  let run = node?.run;
  if (dir === undefined) {
    run ??= await resolveRun(s.store, arg, 'Try the adapter of which run?', (r) => r.adapterDir !== undefined || r.checkpoints.length > 0);
    if (run === undefined) return;
    dir = run.adapterDir ?? run.checkpoints.at(-1)?.dir;
    if (dir === undefined) return;
  }
  s.playground.tryAdapter(dir, run?.baseModel);
};

/** The table: command id → factory. package.json `contributes.commands` lists the same ids. */
/** One handler per contributed command (src/shared/ids.ts): the type makes the table complete. */
export const COMMANDS: Readonly<Record<CommandId, CommandFactory>> = {
  'peftStudio.newProject': (s) => () => newProject(s.context),
  'peftStudio.openDemo': (s) => () => openDemo(s.context),
  'peftStudio.train': train,
  'peftStudio.sweep': sweep,
  'peftStudio.stop': (s) => (arg) => s.manager.stop(pathOf(arg)),
  'peftStudio.resume': resume,
  'peftStudio.openDashboard': (s) => (arg) => s.dashboard.show(pathOf(arg)),
  'peftStudio.count': (s) => (arg) => count(s.context, arg),
  'peftStudio.estimate': (s) => (arg) => estimate(s.context, arg),
  'peftStudio.exportForCluster': (s) => (arg) => exportForCluster(s.context, arg),
  'peftStudio.launchOnCluster': (s) => (arg) => launchOnCluster(s.context, arg),
  'peftStudio.compareRuns': (s) => async () => {
    const runs = await pickRuns(s.store, 'Pick the runs to compare (two or more)');
    if (runs.length >= 2) await s.dashboard.compare(runs.map((r) => r.dir));
  },
  'peftStudio.refreshRuns': (s) => () => {
    s.store.refresh();
    s.tree.refresh();
  },
  'peftStudio.showRunInDashboard': (s) => (arg) => s.dashboard.show(pathOf(arg)),
  'peftStudio.resumeFromHere': resume,
  'peftStudio.deleteRun': deleteRun,
  'peftStudio.openAdapterFolder': openAdapterFolder,
  'peftStudio.showLog': () => () => outputChannel().show(),
  'peftStudio.inspectDataset': (s) => (arg, line) => inspectDataset(s.context, arg, line),
  'peftStudio.openPlayground': (s) => () => s.playground.show(),
  'peftStudio.tryInPlayground': tryInPlayground,
  'peftStudio.startAdapterServer': SERVE_COMMANDS.startServer,
  'peftStudio.stopAdapterServer': SERVE_COMMANDS.stopServer,
  'peftStudio.showAdapterServerLog': SERVE_COMMANDS.showServerLog,
  'peftStudio.registerAdapterVersion': SERVE_COMMANDS.registerVersion,
  'peftStudio.promoteAdapterVersion': SERVE_COMMANDS.promoteVersion,
  'peftStudio.rollbackAdapterVersion': SERVE_COMMANDS.rollbackVersion,
  'peftStudio.exportAdapter': SERVE_COMMANDS.exportAdapter,
};

/** "Train Adapter" for peftStudio.train: the title the palette shows, from the manifest (the id when missing). */
function titles(context: vscode.ExtensionContext): Map<string, string> {
  const pkg = context.extension.packageJSON as { contributes?: { commands?: { command: string; title: string }[] } };
  return new Map((pkg.contributes?.commands ?? []).map((c) => [c.command, c.title]));
}

export function registerCommands(s: Services): void {
  const title = titles(s.context);
  for (const [id, factory] of Object.entries(COMMANDS)) {
    const handler = factory(s);
    s.context.subscriptions.push(vscode.commands.registerCommand(id, async (...args: unknown[]) => {
      try {
        await handler(...args);
      } catch (e) {
        await showError(`${title.get(id) ?? id} failed: ${errorMessage(e)}`);
      }
    }));
  }
}
