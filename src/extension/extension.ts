// The extension's entry point: registers the command table, language features, the runs tree and the
// dashboard (side view + editor panel). Everything here is a thin adapter over src/core; training runs in a forked worker (src/worker).
import * as vscode from 'vscode';
import { registerCommands } from './commands';
import { DashboardViewProvider } from './dashboard/dashboardView';
import { PlaygroundPanel } from './playground/playgroundPanel';
import { registerLanguageFeatures } from './language/index';
import type { LanguageService } from './language/service';
import { errorMessage } from '../core/errors';
import { disposeLog, showError } from './log';
import { RunManager } from './runManager';
import { RunsStore } from './runsStore';
import { RunsTreeProvider } from './runsTree';
import { TRAINING_CONTEXT_KEY, VIEW_IDS } from '../shared/ids';

export function activate(context: vscode.ExtensionContext): void {
  const manager = new RunManager(context);
  const store = new RunsStore(manager);
  const tree = new RunsTreeProvider(store, manager);
  const dashboard = new DashboardViewProvider(context.extensionUri, store, manager);
  const playground = new PlaygroundPanel(context, store);
  context.subscriptions.push(
    manager, store, tree, dashboard, playground,
    ...dashboard.register(),
    ...playground.register(),
    vscode.window.createTreeView(VIEW_IDS.runs, { treeDataProvider: tree, showCollapseAll: true }),
  );
  let language: LanguageService | undefined;
  try {
    language = registerLanguageFeatures(context);
  } catch (e) {
    // validation is independent of training and the dashboard: report it and keep the rest working
    void showError(`PEFT Studio could not start config validation: ${errorMessage(e)}`);
  }
  registerCommands({ context, manager, store, tree, dashboard, playground, language });
  void vscode.commands.executeCommand('setContext', TRAINING_CONTEXT_KEY, false);
}

export function deactivate(): void {
  disposeLog();
}
