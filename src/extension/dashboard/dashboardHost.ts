// One dashboard webview, wherever it lives (the side view or an editor-area panel): sets its HTML, answers its
// requests, and posts the runs list, the selected run and live events — nothing before the webview says `ready`.
import * as vscode from 'vscode';
import type { HostToWebview, RunCommand, RunView, StartCommand } from '../../shared/dashboard';
import type { RunEvent } from '../../shared/protocol';
import { isWebviewToHost, type WebviewToHost } from '../../shared/dashboard';
import type { RunManager } from '../runManager';
import type { RunsStore } from '../runsStore';
import { dashboardHtml, type DashboardPlace } from './html';
import { COMMAND_IDS } from '../../shared/ids';
import { showInRecipe } from '../alertNotices';
import { sweepOfRun } from '../../core/sweep/sweepView';

/** The Get Started walkthrough: publisher.name#id of package.json's contributes.walkthroughs. */
export const WALKTHROUGH = 'peft-studio.peft-studio#gettingStarted';

export function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewOptions {
  return {
    enableScripts: true,
    localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist', 'webview'), vscode.Uri.joinPath(extensionUri, 'media')],
  };
}

/** What a dashboard tells the others (DashboardViewProvider): one selection shared by all, and "open this run". */
export interface SelectionHub {
  /** The user selected `dir` in `from`: every other dashboard follows. */
  selected(dir: string, from: DashboardHost): void;
  /** A side-view row: show `dir` in the editor-area dashboard. */
  open(dir: string): void;
}

export class DashboardHost implements vscode.Disposable {
  private ready = false;
  private queue: HostToWebview[] = [];
  private selected: string | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    readonly webview: vscode.Webview,
    readonly place: DashboardPlace,
    extensionUri: vscode.Uri,
    private readonly store: RunsStore,
    private readonly manager: RunManager,
    private readonly hub?: SelectionHub,
  ) {
    webview.options = webviewOptions(extensionUri);
    webview.html = dashboardHtml(webview, extensionUri, (b, ...p) => vscode.Uri.joinPath(b, ...p), place);
    webview.onDidReceiveMessage((m: unknown) => {
      if (isWebviewToHost(m)) void this.onMessage(m);
    }, undefined, this.disposables);
  }

  /** The webview's document is gone (hidden without retainContextWhenHidden): queue until it reloads and says ready. */
  hidden(): void {
    this.ready = false;
  }

  /** Selects `dir` in this webview (now, or once it is ready). */
  select(dir: string): void {
    if (this.selected === dir && this.ready) return;
    this.selected = dir;
    this.post({ type: 'select', dir });
  }

  compare(dirs: string[]): void {
    this.post({ type: 'compare', runs: dirs.map((d) => this.store.read(d)) });
  }

  /** A live run's event: a start lists the run and shows it; every event is forwarded. */
  runEvent(dir: string, record: RunEvent): void {
    if (record.event === 'start') {
      this.selected = dir;
      this.post({ type: 'runs', runs: this.store.list() });
      this.post({ type: 'select', dir });
    }
    this.post({ type: 'event', dir, record });
  }

  /** Run folders changed on disk: a new runs list, and the selected run again when its files changed. */
  runsChanged(uris: vscode.Uri[]): void {
    this.post({ type: 'runs', runs: this.store.list() });
    const sel = this.selected;
    if (sel !== undefined && this.place === 'panel') this.sendSweep(sel); // other trials of its sweep may have moved on
    if (sel === undefined || this.manager.isLive(sel)) return;
    if (uris.length === 0 || uris.some((u) => u.fsPath.startsWith(sel))) this.sendRun(sel);
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
    this.disposables.length = 0;
  }

  private post(m: HostToWebview): void {
    if (!this.ready) {
      // Only the latest of each kind matters before ready; live events are rebuilt from the run on select.
      if (m.type !== 'event') this.queue = [...this.queue.filter((q) => q.type !== m.type), m];
      return;
    }
    void this.webview.postMessage(m);
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
        if (this.place === 'panel') this.sendRun(m.dir); // the side view shows no run details
        this.hub?.selected(m.dir, this);
        return;
      case 'openRun':
        this.hub?.open(m.dir);
        return;
      case 'compareRuns':
        this.post({ type: 'compare', runs: m.dirs.map((d) => this.store.read(d)) });
        return;
      case 'command':
        await this.runCommand(m.command, m.dir);
        return;
      case 'showInRecipe':
        if (typeof m.file === 'string' && typeof m.line === 'number') await showInRecipe(m.file, m.line);
        return;
    }
  }

  private async runCommand(command: RunCommand | StartCommand, dir: string | undefined): Promise<void> {
    if (command === 'newProject') await vscode.commands.executeCommand(COMMAND_IDS.newProject);
    else if (command === 'openDemo') await vscode.commands.executeCommand(COMMAND_IDS.openDemo);
    else if (command === 'walkthrough') await vscode.commands.executeCommand('workbench.action.openWalkthrough', WALKTHROUGH, false);
    else if (command === 'stop') await this.manager.stop(dir);
    else if (command === 'resume') await vscode.commands.executeCommand(COMMAND_IDS.resume, dir);
    else if (command === 'train') await vscode.commands.executeCommand(COMMAND_IDS.train);
    else if (dir !== undefined) await vscode.commands.executeCommand(COMMAND_IDS.openAdapterFolder, dir);
  }

  private sendRun(dir: string): void {
    let run: RunView;
    try {
      run = this.store.read(dir);
    } catch {
      return;
    }
    this.post({ type: 'run', run });
    this.sendSweep(dir);
  }

  private sendSweep(dir: string): void {
    let sweep = null;
    try {
      sweep = sweepOfRun(dir);
    } catch {
      // a half-written trial folder: no sweep view this time
    }
    this.post({ type: 'sweep', dir, sweep });
  }
}
