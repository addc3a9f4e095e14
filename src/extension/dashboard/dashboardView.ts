// The "PEFT Studio" dashboard webview view: sends the runs list and the selected run's data, forwards live
// events, and answers the webview's requests. Posts nothing before the webview says `ready`.
import * as vscode from 'vscode';
import type { HostToWebview, RunView } from '../../shared/dashboard';
import { isWebviewToHost, type WebviewToHost } from '../../shared/dashboard';
import type { RunManager } from '../runManager';
import type { RunsStore } from '../runsStore';
import { dashboardHtml } from './html';

export class DashboardViewProvider implements vscode.WebviewViewProvider, vscode.Disposable {
  static readonly viewType = 'peftStudio.dashboard';
  private view: vscode.WebviewView | undefined;
  private ready = false;
  private queue: HostToWebview[] = [];
  private selected: string | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly store: RunsStore,
    private readonly manager: RunManager,
  ) {
    this.disposables.push(
      manager.onDidRunEvent((n) => {
        if (n.record.event === 'start') {
          // a run started from the editor: list it and show it
          this.selected = n.dir;
          this.post({ type: 'runs', runs: this.store.list() });
          this.post({ type: 'select', dir: n.dir });
        }
        this.post({ type: 'event', dir: n.dir, record: n.record });
      }),
      store.onDidChange((uris) => this.onRunsChanged(uris)),
    );
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    this.ready = false;
    const webviewRoot = vscode.Uri.joinPath(this.extensionUri, 'dist', 'webview');
    view.webview.options = { enableScripts: true, localResourceRoots: [webviewRoot, vscode.Uri.joinPath(this.extensionUri, 'media')] };
    view.webview.html = dashboardHtml(view.webview, this.extensionUri, (b, ...p) => vscode.Uri.joinPath(b, ...p));
    view.webview.onDidReceiveMessage((m: unknown) => {
      if (isWebviewToHost(m)) void this.onMessage(m);
    }, undefined, this.disposables);
    // Hidden webviews lose their document (no retainContextWhenHidden): queue until the reload says ready.
    view.onDidChangeVisibility(() => {
      if (!view.visible) this.ready = false;
    }, undefined, this.disposables);
    view.onDidDispose(() => {
      this.view = undefined;
      this.ready = false;
    }, undefined, this.disposables);
  }

  /** Reveals the view and selects `dir`. */
  async show(dir?: string): Promise<void> {
    if (dir !== undefined) {
      this.selected = dir;
      this.post({ type: 'select', dir });
    }
    await vscode.commands.executeCommand(`${DashboardViewProvider.viewType}.focus`);
  }

  /** Reveals the view with the chosen runs' loss curves overlaid. */
  async compare(dirs: string[]): Promise<void> {
    this.post({ type: 'compare', runs: dirs.map((d) => this.store.read(d)) });
    await vscode.commands.executeCommand(`${DashboardViewProvider.viewType}.focus`);
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }

  private post(m: HostToWebview): void {
    if (!this.ready || this.view === undefined) {
      // Only the latest of each kind matters before ready; live events are rebuilt from the run on select.
      if (m.type !== 'event') this.queue = [...this.queue.filter((q) => q.type !== m.type), m];
      return;
    }
    void this.view.webview.postMessage(m);
  }

  private async onMessage(m: WebviewToHost): Promise<void> {
    switch (m.type) {
      case 'ready': {
        this.ready = true;
        this.post({ type: 'runs', runs: this.store.list() });
        const queued = this.queue.filter((q) => q.type !== 'runs');
        this.queue = [];
        for (const q of queued) this.post(q);
        return;
      }
      case 'refresh':
        this.store.refresh();
        this.post({ type: 'runs', runs: this.store.list() });
        if (this.selected !== undefined) this.sendRun(this.selected);
        return;
      case 'selectRun':
        this.selected = m.dir;
        this.sendRun(m.dir);
        return;
      case 'compareRuns':
        this.post({ type: 'compare', runs: m.dirs.map((d) => this.store.read(d)) });
        return;
      case 'command':
        await this.runCommand(m.command, m.dir);
        return;
    }
  }

  private async runCommand(command: 'stop' | 'resume' | 'openAdapter' | 'train', dir: string | undefined): Promise<void> {
    if (command === 'stop') await this.manager.stop(dir);
    else if (command === 'resume') await vscode.commands.executeCommand('peftStudio.resume', dir);
    else if (command === 'train') await vscode.commands.executeCommand('peftStudio.train');
    else if (dir !== undefined) await vscode.commands.executeCommand('peftStudio.openAdapterFolder', dir);
  }

  private sendRun(dir: string): void {
    let run: RunView;
    try {
      run = this.store.read(dir);
    } catch {
      return;
    }
    this.post({ type: 'run', run });
  }

  private onRunsChanged(uris: vscode.Uri[]): void {
    this.post({ type: 'runs', runs: this.store.list() });
    const sel = this.selected;
    if (sel === undefined || this.manager.isLive(sel)) return;
    if (uris.length === 0 || uris.some((u) => u.fsPath.startsWith(sel))) this.sendRun(sel);
  }
}
