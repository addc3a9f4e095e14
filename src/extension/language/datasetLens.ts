// The "Inspect" CodeLens on each example of a JSONL data set that a recipe trains on: opens the dataset inspector
// at that line (PEFT: Inspect Dataset). Lenses stop after the first LENS_LINES examples to stay cheap on huge files.
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { LanguageService } from './service';

const LENS_LINES = 2000;

export class DatasetLensProvider implements vscode.CodeLensProvider {
  readonly onDidChangeCodeLenses: vscode.Event<void>;

  constructor(private readonly service: LanguageService) {
    this.onDidChangeCodeLenses = service.onDidChange;
  }

  provideCodeLenses(doc: vscode.TextDocument): vscode.CodeLens[] {
    if (this.service.kindOf(doc) !== 'dataset') return [];
    // The inspector needs the recipe (model, tokenizer, max_length) that trains on this file.
    if (this.service.recipeFor(doc.fileName)?.datasets.includes(path.resolve(doc.fileName)) !== true) return [];
    const out: vscode.CodeLens[] = [];
    const n = Math.min(doc.lineCount, LENS_LINES);
    for (let i = 0; i < n; i++) {
      if (doc.lineAt(i).isEmptyOrWhitespace) continue;
      out.push(new vscode.CodeLens(new vscode.Range(i, 0, i, 0), {
        title: 'Inspect',
        tooltip: 'Show the tokens the trainer feeds for this example: trained vs masked, special tokens, truncation (PEFT: Inspect Dataset)',
        command: 'peftStudio.inspectDataset',
        arguments: [doc.uri, i + 1],
      }));
    }
    return out;
  }
}
