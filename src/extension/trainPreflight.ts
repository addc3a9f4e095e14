// Before a run starts: every file the recipe uses (the recipe, its adapter config, its data sets) is saved — after
// asking — and checked; any error refuses the start with the full list, so a run never trains what the user did not see.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { summarizeRecipe, type FileKind, type Problem } from '../core/validate';
import type { LanguageService } from './language/service';
import { readDocumentOrDisk } from './documents';

interface UsedFile {
  file: string;
  kind: Exclude<FileKind, 'unknown'>;
}

/** The files `recipe` uses, read from its open document when there is one (the text the user sees). */
function usedFiles(recipe: string): UsedFile[] {
  const text = readDocumentOrDisk(recipe);
  const s = text === null ? null : summarizeRecipe(text, recipe);
  const out: UsedFile[] = [{ file: recipe, kind: 'recipe' }];
  if (s?.adapterConfig) out.push({ file: s.adapterConfig, kind: 'adapter_config' });
  for (const d of s?.datasets ?? []) out.push({ file: d, kind: 'dataset' });
  return out;
}

/** Asks to save the recipe's unsaved files, then checks them all; true when training may start. */
export async function preflight(service: LanguageService | undefined, recipe: string): Promise<boolean> {
  const dirty = (): vscode.TextDocument[] => {
    const files = new Set(usedFiles(recipe).map((u) => path.resolve(u.file)));
    return vscode.workspace.textDocuments.filter((d) => d.isDirty && files.has(path.resolve(d.fileName)));
  };
  const unsaved = dirty();
  if (unsaved.length > 0) {
    const names = unsaved.map((d) => vscode.workspace.asRelativePath(d.uri));
    const save = `Save and Train`;
    const choice = await vscode.window.showWarningMessage(
      `Save ${unsaved.length} file${unsaved.length > 1 ? 's' : ''} and train?`,
      { modal: true, detail: `Training reads the files on disk. Unsaved: ${names.join(', ')}.` },
      save,
    );
    if (choice !== save) return false;
    for (const d of unsaved) {
      if (!(await d.save())) {
        void vscode.window.showErrorMessage(`Can't start training: ${vscode.workspace.asRelativePath(d.uri)} could not be saved.`);
        return false;
      }
    }
  }
  if (service === undefined) return true; // validation could not start: the worker still checks the inputs
  const errors: { file: string; p: Problem }[] = [];
  for (const u of usedFiles(recipe)) {
    for (const p of await service.problemsOf(u.file, u.kind)) if (p.severity === 'error') errors.push({ file: u.file, p });
  }
  if (errors.length === 0) return true;
  const n = errors.length;
  const listed = errors.slice(0, 3).map((e) => `${path.basename(e.file)}:${e.p.range.start.line + 1}: ${e.p.message}`);
  const more = n > listed.length ? ` … and ${n - listed.length} more` : '';
  void vscode.window.showErrorMessage(`Can't start training: ${n} problem${n > 1 ? 's' : ''}. ${listed.join(' · ')}${more}`, 'Show Problems').then((choice) => {
    if (choice === 'Show Problems') void vscode.commands.executeCommand('workbench.actions.view.problems');
  });
  return false;
}
