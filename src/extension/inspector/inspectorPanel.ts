// The dataset inspector's editor panel: one webview (strict CSP with a nonce, bundled script, theme colours) that
// shows `peft-studio inspect-data --json` run in a child process, so a large data set never blocks the editor.
import * as vscode from 'vscode';
import { isInspectorToHost, type HostToInspector, type InspectorToHost, type DataInspectionView } from '../../shared/inspector';
import { runCliJson } from '../cli';
import { errorMessage } from '../../core/errors';
import { log } from '../log';
import { inspectorHtml } from './html';
import type { InspectTarget } from './target';

export class InspectorPanel implements vscode.Disposable {
  private static current: InspectorPanel | undefined;
  private ready = false;
  private pending: HostToInspector | undefined;
  private target: InspectTarget | undefined;
  private generation = 0;
  private readonly disposables: vscode.Disposable[] = [];

  /** The inspector panel (created beside the active editor on first use) showing `target`. */
  static show(context: vscode.ExtensionContext, target: InspectTarget): InspectorPanel {
    let p = InspectorPanel.current;
    if (p === undefined) {
      const panel = vscode.window.createWebviewPanel('peftStudio.inspector', 'Dataset Inspector', { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, {
        enableScripts: true,
        localResourceRoots: [vscode.Uri.joinPath(context.extensionUri, 'dist', 'webview')],
      });
      p = new InspectorPanel(panel, context);
      InspectorPanel.current = p;
    } else p.panel.reveal(undefined, true);
    void p.load(target);
    return p;
  }

  private constructor(readonly panel: vscode.WebviewPanel, private readonly context: vscode.ExtensionContext) {
    panel.webview.html = inspectorHtml(panel.webview, context.extensionUri, (b, ...p) => vscode.Uri.joinPath(b, ...p));
    panel.iconPath = vscode.Uri.joinPath(context.extensionUri, 'media', 'peft-studio.svg');
    panel.webview.onDidReceiveMessage((m: unknown) => {
      if (isInspectorToHost(m)) void this.onMessage(m);
    }, undefined, this.disposables);
    // Hidden without retainContextWhenHidden, the document is rebuilt on show: it says ready again and gets the last view.
    panel.onDidChangeViewState(() => {
      if (!panel.visible) this.ready = false;
    }, undefined, this.disposables);
    panel.onDidDispose(() => this.dispose(), undefined, this.disposables);
  }

  /** Runs the CLI for `target` and shows the result (a newer load supersedes an older one still running). */
  async load(target: InspectTarget): Promise<DataInspectionView | undefined> {
    this.target = target;
    const gen = ++this.generation;
    const which = target.line !== undefined ? `line ${target.line}` : `example ${target.index ?? 0}`;
    this.post({ type: 'loading', what: `${target.split} data, ${which}` });
    const args = ['inspect-data', target.recipe, '--split', target.split, ...(target.line !== undefined ? ['--line', String(target.line)] : ['--index', String(target.index ?? 0)])];
    try {
      const inspection = await runCliJson<DataInspectionView>(this.context, args);
      if (gen === this.generation) {
        this.panel.title = `Inspect: ${inspection.stats.file.split(/[\\/]/).pop() ?? 'data'} line ${inspection.example.line}`;
        this.post({ type: 'inspection', inspection });
      }
      return inspection;
    } catch (e) {
      log(`inspect-data failed: ${errorMessage(e)}`);
      if (gen === this.generation) this.post({ type: 'error', message: errorMessage(e) });
      return undefined;
    }
  }

  private post(m: HostToInspector): void {
    this.pending = m;
    if (this.ready) void this.panel.webview.postMessage(m);
  }

  private async onMessage(m: InspectorToHost): Promise<void> {
    switch (m.type) {
      case 'ready':
        this.ready = true;
        if (this.pending !== undefined) void this.panel.webview.postMessage(this.pending);
        return;
      case 'goto':
        if (this.target !== undefined) await this.load({ recipe: this.target.recipe, split: this.target.split, index: m.index });
        return;
      case 'openLine': {
        const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(m.file));
        const pos = new vscode.Position(Math.max(0, m.line - 1), 0);
        await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.One, selection: new vscode.Range(pos, pos) });
        return;
      }
    }
  }

  dispose(): void {
    if (InspectorPanel.current === this) InspectorPanel.current = undefined;
    for (const d of this.disposables) d.dispose();
    this.disposables.length = 0;
  }
}
