// `PEFT: Inspect Dataset` (command palette, explorer/editor menus, the JSONL "Inspect" CodeLens): finds the recipe
// that trains on the file, picks the split and the example (the lens's line, else the cursor's), opens the inspector.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { showError } from '../log';
import { InspectorPanel } from './inspectorPanel';
import { inspectTarget } from './target';

function uriOf(arg: unknown): vscode.Uri | undefined {
  if (arg instanceof vscode.Uri) return arg;
  return vscode.window.activeTextEditor?.document.uri;
}

function readOpenOrDisk(p: string): string | null {
  const open = vscode.workspace.textDocuments.find((d) => path.resolve(d.fileName) === p);
  if (open !== undefined) return open.getText();
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return null;
  }
}

export async function inspectDataset(context: vscode.ExtensionContext, arg?: unknown, lineArg?: unknown): Promise<void> {
  const uri = uriOf(arg);
  if (uri === undefined) {
    await showError('Open a JSONL data set (or its peft-train.yaml) to inspect it.');
    return;
  }
  let line = typeof lineArg === 'number' ? lineArg : undefined;
  const editor = vscode.window.activeTextEditor;
  if (line === undefined && editor !== undefined && editor.document.uri.toString() === uri.toString() && uri.fsPath.endsWith('.jsonl')) {
    // The cursor's example, or the first example below it when it sits on a blank line.
    let l = editor.selection.active.line;
    while (l < editor.document.lineCount - 1 && editor.document.lineAt(l).isEmptyOrWhitespace) l++;
    line = l + 1;
  }
  const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
  // The CLI reads the files from disk: save pending edits of the data set first.
  if (doc?.isDirty === true) await doc.save();
  const target = inspectTarget(uri.fsPath, line, readOpenOrDisk);
  if (typeof target === 'string') {
    await showError(target);
    return;
  }
  InspectorPanel.show(context, target);
}
