// The training dashboard's two homes, one host implementation (DashboardHost) for both: the "Dashboard" webview
// view in the PEFT Studio side bar, and a wide editor-area panel (Open Training Dashboard) restored after reload.
import * as vscode from 'vscode';
import type { RunManager } from '../runManager';
import type { RunsStore } from '../runsStore';
import { VIEW_IDS } from '../../shared/ids';
import { DashboardHost, webviewOptions, type SelectionHub } from './dashboardHost';

export class DashboardViewProvider implements vscode.WebviewViewProvider, vscode.WebviewPanelSerializer, vscode.Disposable, SelectionHub {
  static readonly viewType = VIEW_IDS.dashboard;
  static readonly panelType = VIEW_IDS.dashboardPanel;
  private readonly hosts = new Set<DashboardHost>();
  private panel: { panel: vscode.WebviewPanel; host: DashboardHost } | undefined;
  private readonly disposables: vscode.Disposable[] = [];
  /** The run selected in any dashboard: the side view and the panel show the same one. */
  private current: string | undefined;

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly store: RunsStore,
    private readonly manager: RunManager,
  ) {
    this.disposables.push(
      manager.onDidRunEvent((n) => {
        if (n.record.event === 'start') this.current = n.dir; // a new run is shown everywhere
        for (const h of this.hosts) h.runEvent(n.dir, n.record);
      }),
      store.onDidChange((uris) => { for (const h of this.hosts) h.runsChanged(uris); }),
    );
  }

  /** Registers the side view and the panel serializer; returns their disposables. */
  register(): vscode.Disposable[] {
    return [
      vscode.window.registerWebviewViewProvider(DashboardViewProvider.viewType, this),
      vscode.window.registerWebviewPanelSerializer(DashboardViewProvider.panelType, this),
    ];
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    const host = this.attach(view.webview, 'view');
    view.onDidChangeVisibility(() => { if (!view.visible) host.hidden(); });
    view.onDidDispose(() => this.detach(host));
  }

  /** Restores the panel after a window reload; the webview restores its own selection from getState. */
  deserializeWebviewPanel(panel: vscode.WebviewPanel): Promise<void> {
    this.adoptPanel(panel);
    return Promise.resolve();
  }

  /** Opens (or reveals) the wide dashboard panel and selects `dir` in it. */
  show(dir?: string, opts: { preserveFocus?: boolean } = {}): Promise<void> {
    const host = this.openPanel(opts.preserveFocus === true);
    if (dir !== undefined) {
      host.select(dir);
      this.current = dir;
      for (const h of this.hosts) if (h !== host) h.select(dir);
    }
    return Promise.resolve();
  }

  /** Opens the panel with the chosen runs' loss curves overlaid. */
  compare(dirs: string[]): Promise<void> {
    this.openPanel(false).compare(dirs);
    return Promise.resolve();
  }

  selected(dir: string, from: DashboardHost): void {
    if (dir === this.current) return;
    this.current = dir;
    for (const h of this.hosts) if (h !== from) h.select(dir);
  }

  open(dir: string): void {
    void this.show(dir);
  }

  dispose(): void {
    this.panel?.panel.dispose();
    for (const h of this.hosts) h.dispose();
    this.hosts.clear();
    for (const d of this.disposables) d.dispose();
  }

  private openPanel(preserveFocus: boolean): DashboardHost {
    if (this.panel !== undefined) {
      if (!this.panel.panel.visible) this.panel.panel.reveal(this.panel.panel.viewColumn, preserveFocus);
      return this.panel.host;
    }
    // The panel keeps its document while hidden behind other editors: live charts keep their points, and revealing a
    // discarded webview from the extension left it blank in VS Code 1.100 (web); the side view reloads (getState).
    const panel = vscode.window.createWebviewPanel(DashboardViewProvider.panelType, 'Training Dashboard',
      { viewColumn: vscode.ViewColumn.Active, preserveFocus }, { ...webviewOptions(this.extensionUri), retainContextWhenHidden: true });
    return this.adoptPanel(panel);
  }

  private adoptPanel(panel: vscode.WebviewPanel): DashboardHost {
    panel.iconPath = vscode.Uri.joinPath(this.extensionUri, 'media', 'peft-studio.svg');
    const host = this.attach(panel.webview, 'panel');
    this.panel = { panel, host };
    panel.onDidDispose(() => {
      if (this.panel?.panel === panel) this.panel = undefined;
      this.detach(host);
    });
    return host;
  }

  private attach(webview: vscode.Webview, place: 'view' | 'panel'): DashboardHost {
    const host = new DashboardHost(webview, place, this.extensionUri, this.store, this.manager, this);
    this.hosts.add(host);
    if (this.current !== undefined) host.select(this.current);
    return host;
  }

  private detach(host: DashboardHost): void {
    host.dispose();
    this.hosts.delete(host);
  }
}
