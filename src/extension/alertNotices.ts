// Training alerts in the editor: a warning notification per alert kind and run, whose "Show in Recipe" (like the
// dashboard banner's) opens peft-train.yaml at the key's line.
import * as fs from 'node:fs';
import * as vscode from 'vscode';
import type { AlertEvent } from '../shared/protocol';
import { log } from './log';

const SHOW = 'Show in Recipe';

/** Opens `file` (a recipe: .yaml/.yml that exists) with 1-based `line` selected. */
export async function showInRecipe(file: string, line: number): Promise<void> {
  if (!/\.ya?ml$/i.test(file) || !fs.existsSync(file)) {
    log(`Show in Recipe: ${file} is not a recipe file that exists`);
    return;
  }
  const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(file));
  const at = Math.min(Math.max(0, line - 1), doc.lineCount - 1);
  const range = doc.lineAt(at).range;
  await vscode.window.showTextDocument(doc, { selection: new vscode.Selection(range.start, range.end), preview: false });
}

/** Notifies each kind of alert once per run (the run may raise a kind again after it cleared; once is enough here). */
export class AlertNotifier {
  private readonly seen = new Set<string>();

  notify(dir: string, e: AlertEvent): void {
    const key = `${dir}\n${e.kind}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    const actions = e.file !== undefined ? [SHOW] : [];
    void vscode.window.showWarningMessage(`PEFT training alert: ${e.message}`, ...actions).then((c) => {
      if (c === SHOW && e.file !== undefined) void showInRecipe(e.file, e.line ?? 1);
    });
  }
}
