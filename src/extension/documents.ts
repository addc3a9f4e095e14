// A file's text as the user sees it: the open editor's (possibly unsaved) document, else the file on disk.
// The one reader the language features, the CodeLens and the training preflight share.
import * as fs from 'node:fs';
import * as vscode from 'vscode';

/** The open document's text, else the disk's; null when the file cannot be read. */
export function readDocumentOrDisk(file: string): string | null {
  const open = vscode.workspace.textDocuments.find((d) => d.fileName === file);
  if (open !== undefined) return open.getText();
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}
