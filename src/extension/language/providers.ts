// VS Code providers over core/validate: quick fixes from Problem.fix, completions (keys, enum values, the model's
// module names), hovers (docs, defaults, what target_modules matched) and the "▶ Train · …" CodeLens.
import * as fs from 'node:fs';
import * as vscode from 'vscode';
import { summarizeRecipe } from '../../core/validate';
import { defaultAvailableDevices } from '../../core/validate/env';
import { adapterCompletions, adapterHover, recipeCompletions, recipeHover, type Completion } from '../../core/validate/assist';
import { lensTitle, trainSummary } from '../../core/validate/lens';
import { PeftDiagnostic, toRange } from './convert';
import type { LanguageService } from './service';

export class QuickFixProvider implements vscode.CodeActionProvider {
  static readonly kinds = [vscode.CodeActionKind.QuickFix];

  provideCodeActions(doc: vscode.TextDocument, _range: vscode.Range, ctx: vscode.CodeActionContext): vscode.CodeAction[] {
    const out: vscode.CodeAction[] = [];
    for (const d of ctx.diagnostics) {
      if (!(d instanceof PeftDiagnostic) || d.problem.fix === undefined) continue;
      for (const [i, fix] of [d.problem.fix, ...(d.problem.moreFixes ?? [])].entries()) {
        const action = new vscode.CodeAction(fix.title, vscode.CodeActionKind.QuickFix);
        action.diagnostics = [d];
        action.isPreferred = i === 0;
        action.edit = new vscode.WorkspaceEdit();
        for (const e of fix.edits) action.edit.replace(doc.uri, toRange(e.range), e.newText);
        out.push(action);
      }
    }
    return out;
  }
}

const KIND: Record<Completion['kind'], vscode.CompletionItemKind> = {
  property: vscode.CompletionItemKind.Property,
  value: vscode.CompletionItemKind.Value,
  module: vscode.CompletionItemKind.Module,
};

export class CompletionProvider implements vscode.CompletionItemProvider {
  constructor(private readonly service: LanguageService) {}

  provideCompletionItems(doc: vscode.TextDocument, pos: vscode.Position): vscode.CompletionItem[] {
    const kind = this.service.kindOf(doc);
    let items: Completion[] = [];
    if (kind === 'adapter_config') items = adapterCompletions(doc.getText(), doc.offsetAt(pos), this.service.modelFor(doc), false);
    else if (kind === 'recipe') items = recipeCompletions(doc.getText(), pos.line, pos.character);
    return items.map((c) => {
      const item = new vscode.CompletionItem(c.label, KIND[c.kind]);
      item.insertText = c.insertText;
      if (c.range !== undefined) item.range = toRange(c.range);
      if (c.detail !== undefined) item.detail = c.detail;
      if (c.documentation !== undefined) item.documentation = new vscode.MarkdownString(c.documentation);
      item.filterText = c.insertText;
      return item;
    });
  }
}

export class HoverProvider implements vscode.HoverProvider {
  constructor(private readonly service: LanguageService) {}

  provideHover(doc: vscode.TextDocument, pos: vscode.Position): vscode.Hover | null {
    const kind = this.service.kindOf(doc);
    const offset = doc.offsetAt(pos);
    const h = kind === 'adapter_config' ? adapterHover(doc.getText(), offset, this.service.modelFor(doc), false) : kind === 'recipe' ? recipeHover(doc.getText(), offset) : null;
    return h === null ? null : new vscode.Hover(new vscode.MarkdownString(h.markdown), toRange(h.range));
  }
}

export class TrainLensProvider implements vscode.CodeLensProvider {
  readonly onDidChangeCodeLenses: vscode.Event<void>;

  constructor(private readonly service: LanguageService) {
    this.onDidChangeCodeLenses = service.onDidChange;
  }

  provideCodeLenses(doc: vscode.TextDocument): vscode.CodeLens[] {
    const kind = this.service.kindOf(doc);
    if (kind !== 'adapter_config' && kind !== 'recipe') return [];
    const range = new vscode.Range(0, 0, 0, 0);
    let title = '▶ Train';
    let tooltip = 'Train this adapter (PEFT: Train Adapter)';
    const model = this.service.modelFor(doc);
    if (model !== null) {
      const recipe = kind === 'recipe' ? summarizeRecipe(doc.getText(), doc.fileName) : this.service.recipeFor(doc.fileName);
      const adapterPath = kind === 'recipe' ? recipe?.adapterConfig : doc.fileName;
      const text = adapterPath ? this.read(adapterPath) : null;
      if (text !== null) {
        const s = trainSummary(text, model, recipe, defaultAvailableDevices());
        title = lensTitle(s);
        tooltip = typeof s === 'string' ? `Cannot count yet: ${s}` : `${s.trainable.toLocaleString()} trainable of ${s.total.toLocaleString()} parameters; estimated peak memory on ${s.device} (PEFT: Estimate Training Memory for the breakdown)`;
      }
    }
    return [new vscode.CodeLens(range, { title, tooltip, command: 'peftStudio.train', arguments: [doc.uri] })];
  }

  private read(file: string): string | null {
    const open = vscode.workspace.textDocuments.find((d) => d.fileName === file);
    if (open !== undefined) return open.getText();
    try {
      return fs.readFileSync(file, 'utf8');
    } catch {
      return null;
    }
  }
}
