// The extension's output channel ("PEFT Studio", the full log of every run and command) and the one way
// errors reach the user: a notification with a "Show Log" action, never a silent failure.
import * as vscode from 'vscode';

let channel: vscode.OutputChannel | undefined;

export function outputChannel(): vscode.OutputChannel {
  channel ??= vscode.window.createOutputChannel('PEFT Studio');
  return channel;
}

export function log(line: string): void {
  outputChannel().appendLine(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
}

/** Shows an error with "Show Log" (and any extra actions); resolves with the action chosen. */
export async function showError(message: string, ...actions: string[]): Promise<string | undefined> {
  log(`error: ${message}`);
  const choice = await vscode.window.showErrorMessage(message, ...actions, 'Show Log');
  if (choice === 'Show Log') outputChannel().show(true);
  return choice;
}

export function disposeLog(): void {
  channel?.dispose();
  channel = undefined;
}
