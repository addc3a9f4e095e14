// The Playground panel (PEFT: Open Playground, Runs tree "Try in Playground"): one editor-area webview, restored
// after reload, whose generation runs in a forked worker (dist/genWorker.js) holding the base weights once.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { GenClient } from '../../core/playground/genClient';
import type { RunSummary } from '../../shared/dashboard';
import { isPlaygroundToHost, type GenToHost, type HostToPlayground, type PgSetup, type PlaygroundToHost } from '../../shared/playground';
import { errorMessage } from '../../core/errors';
import { outputChannel } from '../log';
import type { RunsStore } from '../runsStore';
import { baseModelOf, readComparison, runDirOf, writeComparison } from './comparisons';
import { playgroundHtml } from './html';
import { Config } from '../config';

const MAX_COLUMNS = 4;

export class PlaygroundPanel implements vscode.WebviewPanelSerializer, vscode.Disposable {
  static readonly viewType = 'peftStudio.playground';
  private panel: vscode.WebviewPanel | undefined;
  private ready = false;
  private queue: HostToPlayground[] = [];
  private setup: PgSetup = { columns: [], adapters: [], status: 'empty' };
  private client: GenClient | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly context: vscode.ExtensionContext, private readonly store: RunsStore) {}

  register(): vscode.Disposable[] {
    return [vscode.window.registerWebviewPanelSerializer(PlaygroundPanel.viewType, this)];
  }

  /** After a window reload: the webview sends its last model and columns with `ready`, and they are opened again. */
  deserializeWebviewPanel(panel: vscode.WebviewPanel): Promise<void> {
    this.adopt(panel);
    return Promise.resolve();
  }

  show(): void {
    if (this.panel !== undefined) {
      this.panel.reveal(this.panel.viewColumn);
      return;
    }
    // retained while hidden, as the dashboard's tab: a generation in flight keeps streaming into it (docs/ARCHITECTURE.md)
    const panel = vscode.window.createWebviewPanel(PlaygroundPanel.viewType, 'Playground', vscode.ViewColumn.Active, {
      enableScripts: true, retainContextWhenHidden: true, localResourceRoots: [vscode.Uri.joinPath(this.context.extensionUri, 'dist', 'webview')],
    });
    this.adopt(panel);
  }

  /** Shows the Playground with `adapter` in a column (next to the base model), on the base model it was trained on. */
  tryAdapter(adapter: string, baseModel?: string): void {
    this.show();
    const base = baseModel ?? baseModelOf(adapter);
    const abs = path.resolve(adapter);
    if (base !== undefined && base !== this.setup.model) this.open(base, [null, abs]);
    else if (this.setup.model === undefined) void vscode.window.showWarningMessage(`PEFT Studio: no base model is known for ${adapter}; choose one in the Playground.`);
    else if (!this.setup.columns.includes(abs)) this.open(this.setup.model, [...this.setup.columns, abs].slice(-MAX_COLUMNS));
  }

  dispose(): void {
    this.panel?.dispose();
    this.client?.dispose();
    for (const d of this.disposables) d.dispose();
  }

  private adopt(panel: vscode.WebviewPanel): void {
    this.panel = panel;
    this.ready = false;
    panel.iconPath = vscode.Uri.joinPath(this.context.extensionUri, 'media', 'peft-studio.svg');
    panel.webview.options = { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(this.context.extensionUri, 'dist', 'webview')] };
    panel.webview.html = playgroundHtml(panel.webview, this.context.extensionUri, (b, ...p) => vscode.Uri.joinPath(b, ...p));
    const subs = [
      panel.webview.onDidReceiveMessage((m: unknown) => { if (isPlaygroundToHost(m)) void this.onMessage(m).catch((e) => this.fail(e)); }),
    ];
    panel.onDidDispose(() => {
      for (const s of subs) s.dispose();
      if (this.panel === panel) this.panel = undefined;
      // the worker holds the model's memory: end it with the panel
      this.client?.dispose();
      this.client = undefined;
      this.setup = { columns: [], adapters: [], status: 'empty' };
    });
  }

  private post(m: HostToPlayground): void {
    if (!this.ready || this.panel === undefined) {
      // before ready only the latest setup and a comparison matter; streamed tokens are not replayed
      if (m.type === 'setup' || m.type === 'comparison' || m.type === 'saved') this.queue = [...this.queue.filter((q) => q.type !== m.type), m];
      return;
    }
    void this.panel.webview.postMessage(m);
  }

  private worker(): GenClient {
    const nodePath = Config.read().nodePath;
    return (this.client ??= new GenClient({
      workerPath: this.context.asAbsolutePath('dist/genWorker.js'),
      ...(nodePath !== '' ? { execPath: nodePath } : {}),
      onMessage: (m) => this.onWorker(m),
      onLog: (line) => outputChannel().appendLine(`  [playground] ${line}`),
      onExit: (message) => {
        this.setup = { ...this.setup, status: 'error', message: `${message}; choose the base model again to restart it` };
        this.post({ type: 'setup', setup: this.setup });
      },
    }));
  }

  private open(model: string, columns: (string | null)[]): void {
    const adapters = [...new Set(columns.filter((c): c is string => c !== null))];
    const runDir = adapters.map(runDirOf).find((d) => d !== undefined);
    this.setup = { model, columns, adapters: [], status: 'loading', ...(runDir !== undefined ? { runDir } : {}) };
    this.post({ type: 'setup', setup: this.setup });
    const device = Config.read().device;
    this.worker().send({ type: 'open', model, adapters, ...(device === 'cpu' || device === 'webgpu' || device === 'cuda' ? { device } : {}) });
  }

  private onWorker(m: GenToHost): void {
    if (m.type === 'opened') {
      this.setup = { ...this.setup, model: m.model, adapters: m.adapters, status: 'ready', chatTemplate: m.chatTemplate };
      this.setup.columns = this.setup.columns.map((c) => (c === null ? null : path.resolve(c)));
      this.post({ type: 'setup', setup: this.setup });
    } else if (m.type === 'openError') {
      this.setup = { ...this.setup, status: 'error', message: m.message };
      this.post({ type: 'setup', setup: this.setup });
    } else {
      this.post(m);
    }
  }

  private async onMessage(m: PlaygroundToHost): Promise<void> {
    switch (m.type) {
      case 'ready': {
        this.ready = true;
        if (this.setup.model === undefined && m.setup?.model !== undefined) this.open(m.setup.model, m.setup.columns);
        const queued = this.queue.filter((q) => q.type !== 'setup');
        this.queue = [];
        this.post({ type: 'setup', setup: this.setup });
        for (const q of queued) this.post(q);
        return;
      }
      case 'chooseModel': {
        const pick = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, title: 'Base model folder (config.json + safetensors)', openLabel: 'Use as base model' });
        if (pick?.[0] !== undefined) this.open(pick[0].fsPath, [null, ...this.setup.columns.filter((c) => c !== null)]);
        return;
      }
      case 'addColumn': {
        const dir = await this.pickAdapter();
        if (dir !== undefined && this.setup.model !== undefined && this.setup.columns.length < MAX_COLUMNS) this.open(this.setup.model, [...this.setup.columns, path.resolve(dir)]);
        return;
      }
      case 'removeColumn':
        if (this.setup.model !== undefined) this.open(this.setup.model, this.setup.columns.filter((_, i) => i !== m.column));
        return;
      case 'generate':
      case 'cancel':
        this.worker().send(m);
        return;
      case 'save':
        await this.save(m.comparison);
        return;
      case 'openComparison':
        await this.openComparison();
        return;
    }
  }

  private async pickAdapter(): Promise<string | undefined> {
    const items: (vscode.QuickPickItem & { dir?: string })[] = [];
    for (const r of this.store.list()) items.push(...adapterItems(r));
    items.push({ label: '$(folder-opened) Browse for an adapter folder…' });
    const pick = await vscode.window.showQuickPick(items, { placeHolder: 'Adapter for a new column (a run\'s final adapter, a checkpoint or a folder)' });
    if (pick === undefined) return undefined;
    if (pick.dir !== undefined) return pick.dir;
    const folder = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, title: 'Adapter folder (adapter_config.json + adapter_model.safetensors)', openLabel: 'Add column' });
    return folder?.[0]?.fsPath;
  }

  private async save(c: import('../../shared/playground').PgComparison): Promise<void> {
    let runDir = this.setup.runDir;
    if (runDir === undefined) {
      const pick = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, title: 'Folder to save the comparison in', openLabel: 'Save here' });
      runDir = pick?.[0]?.fsPath;
      if (runDir === undefined) return;
    }
    const file = writeComparison(runDir, c);
    outputChannel().appendLine(`playground: saved ${file}`);
    this.post({ type: 'saved', file });
  }

  private async openComparison(): Promise<void> {
    const dir = this.setup.runDir !== undefined ? path.join(this.setup.runDir, 'playground') : undefined;
    const pick = await vscode.window.showOpenDialog({
      canSelectFiles: true, filters: { 'Playground comparison': ['json'] }, openLabel: 'Open comparison',
      ...(dir !== undefined && fs.existsSync(dir) ? { defaultUri: vscode.Uri.file(dir) } : {}),
    });
    if (pick?.[0] === undefined) return;
    const c = readComparison(pick[0].fsPath);
    if (c.model !== '' && (c.model !== this.setup.model || JSON.stringify(c.columns.map((x) => x.adapter)) !== JSON.stringify(this.setup.columns))) this.open(c.model, c.columns.map((x) => x.adapter));
    this.post({ type: 'comparison', comparison: c, file: pick[0].fsPath });
  }

  private fail(e: unknown): void {
    void vscode.window.showErrorMessage(`PEFT Studio Playground: ${errorMessage(e)}`);
  }
}

function adapterItems(r: RunSummary): (vscode.QuickPickItem & { dir: string })[] {
  const out: (vscode.QuickPickItem & { dir: string })[] = [];
  if (r.adapterDir !== undefined) out.push({ label: `${r.name}: final adapter`, description: r.baseModel ?? '', detail: r.adapterDir, dir: r.adapterDir });
  for (const c of [...r.checkpoints].reverse()) out.push({ label: `${r.name}: checkpoint ${c.step}`, detail: c.dir, dir: c.dir });
  return out;
}
