// registerLanguageFeatures(context): diagnostics on open and on every edit, quick fixes, completions, hovers and the
// Train CodeLens for adapter_config.json, peft-train.yaml and data sets; model caches invalidated by a file watcher.
import * as vscode from 'vscode';
import { CompletionProvider, HoverProvider, QuickFixProvider, TrainLensProvider } from './providers';
import { LanguageService } from './service';
import { DatasetLensProvider } from './datasetLens';

/** Files the features apply to; the service narrows further by name (kindOf). */
const SELECTOR: vscode.DocumentSelector = [
  { scheme: 'file', pattern: '**/adapter_config.json' },
  { scheme: 'file', pattern: '**/*.{yaml,yml}' },
  { scheme: 'file', pattern: '**/*.jsonl' },
  { scheme: 'untitled', language: 'json' },
];

export function registerLanguageFeatures(context: vscode.ExtensionContext): LanguageService {
  const service = new LanguageService(context.asAbsolutePath('dist/validateWorker.js'));
  const watcher = vscode.workspace.createFileSystemWatcher('**/{config.json,*.safetensors,model.safetensors.index.json,tokenizer.json,tokenizer_config.json,peft-train.yaml,peft-train.yml}');
  const onModelFile = (uri: vscode.Uri): void => service.invalidate(uri.fsPath);
  context.subscriptions.push(
    service,
    watcher,
    watcher.onDidChange(onModelFile),
    watcher.onDidCreate(onModelFile),
    watcher.onDidDelete(onModelFile),
    vscode.workspace.onDidOpenTextDocument((d) => service.schedule(d, 0)),
    vscode.workspace.onDidChangeTextDocument((e) => {
      service.schedule(e.document);
      // a recipe edit changes what its adapter config and data sets are checked against
      if (service.kindOf(e.document) === 'recipe') for (const d of vscode.workspace.textDocuments) if (d !== e.document) service.schedule(d);
    }),
    vscode.workspace.onDidCloseTextDocument((d) => service.forget(d)),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('peftStudio.servingEngines')) for (const d of vscode.workspace.textDocuments) service.schedule(d, 0);
    }),
    vscode.languages.registerCodeActionsProvider(SELECTOR, new QuickFixProvider(), { providedCodeActionKinds: QuickFixProvider.kinds }),
    vscode.languages.registerCompletionItemProvider(SELECTOR, new CompletionProvider(service), '"', ':', ' '),
    vscode.languages.registerHoverProvider(SELECTOR, new HoverProvider(service)),
    vscode.languages.registerCodeLensProvider(SELECTOR, new TrainLensProvider(service)),
    vscode.languages.registerCodeLensProvider({ scheme: 'file', pattern: '**/*.jsonl' }, new DatasetLensProvider(service)),
  );
  for (const d of vscode.workspace.textDocuments) service.schedule(d, 0);
  return service;
}
