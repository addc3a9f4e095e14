// The extension's entry point: registers the command table, language features and the dashboard.
// Everything here is a thin adapter over src/core; training runs in a forked worker (src/worker).
import type * as vscode from 'vscode';

export function activate(_context: vscode.ExtensionContext): void {
  // Filled in by the command table, language features and dashboard modules.
}

export function deactivate(): void {
  // Nothing to release: disposables are owned by the context.
}
