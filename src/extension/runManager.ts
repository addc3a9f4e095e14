// The run manager: starts training in a forked worker (never in the extension host), and shows each run as a
// cancellable progress notification, a status bar item (step/loss/ETA) and the output channel's full log.
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { RunEvent } from '../shared/protocol';
import type { RunView } from '../shared/dashboard';
import { WorkerRun } from '../core/runs/workerProcess';
import { describeEvent, fractionDone, statusLine } from '../core/runs/runState';
import { refusedAtStart } from '../shared/messages';
import { log, outputChannel, showError } from './log';
import { Config } from './config';
import { COMMAND_IDS, TRAINING_CONTEXT_KEY } from '../shared/ids';
import { AlertNotifier } from './alertNotices';

export interface LiveRun {
  readonly worker: WorkerRun;
  readonly config: string;
  readonly view: RunView;
}

export interface RunEventNotice {
  dir: string;
  record: RunEvent;
}

export class RunManager implements vscode.Disposable {
  private readonly runs = new Set<LiveRun>();
  private readonly statusItem: vscode.StatusBarItem;
  private readonly changed = new vscode.EventEmitter<void>();
  private readonly events = new vscode.EventEmitter<RunEventNotice>();
  private readonly alerts = new AlertNotifier();
  /** Fires when a run starts or ends (the runs list changes). */
  readonly onDidChangeRuns = this.changed.event;
  /** Every event of every live run, as it arrives. */
  readonly onDidRunEvent = this.events.event;

  constructor(private readonly context: vscode.ExtensionContext) {
    this.statusItem = vscode.window.createStatusBarItem('peftStudio.training', vscode.StatusBarAlignment.Left, 50);
    this.statusItem.name = 'PEFT Studio Training';
    this.statusItem.command = COMMAND_IDS.openDashboard;
  }

  live(): LiveRun[] {
    return [...this.runs];
  }

  /** The live run training in `dir`, if any. */
  find(dir: string): LiveRun | undefined {
    const d = path.resolve(dir);
    return this.live().find((r) => r.view.dir !== '' && path.resolve(r.view.dir) === d);
  }

  isLive(dir: string): boolean {
    return this.find(dir) !== undefined;
  }

  /** Starts training `config`; `resume` is a run folder (latest checkpoint) or a checkpoint folder. */
  async start(config: string, opts: { resume?: string } = {}): Promise<LiveRun | undefined> {
    if (!vscode.workspace.isTrusted) {
      const choice = await vscode.window.showErrorMessage(
        'Training is disabled in Restricted Mode: it loads the model, tokenizer and chat template from this workspace and runs them. Trust the workspace to train.',
        'Manage Workspace Trust');
      if (choice === 'Manage Workspace Trust') await vscode.commands.executeCommand('workbench.trust.manage');
      return undefined;
    }
    const busy = this.live()[0];
    if (busy !== undefined) {
      const go = await vscode.window.showWarningMessage(`"${busy.view.name}" is still training. Start another run at the same time? Both share this machine's cores and memory.`, { modal: true }, 'Start Anyway');
      if (go !== 'Start Anyway') return undefined;
    }
    const { device, nodePath, stopTimeoutMs } = Config.read();
    log(`starting training: ${config}${opts.resume !== undefined ? ` (resume from ${opts.resume})` : ''}`);
    const worker = new WorkerRun({
      workerPath: this.context.asAbsolutePath('dist/worker.js'),
      config,
      ...(opts.resume !== undefined ? { resume: opts.resume } : {}),
      ...(device !== 'recipe' ? { device } : {}),
      ...(nodePath !== '' ? { execPath: nodePath } : {}),
      stopTimeoutMs,
      onEvent: (e, view) => this.onEvent(e, view),
      onLog: (line) => outputChannel().appendLine(`  ${line}`),
    });
    const run: LiveRun = { worker, config, view: worker.view };
    this.runs.add(run);
    this.updateContext();
    this.showProgress(run);
    void worker.finished.then((r) => this.onFinished(run, r.crash));
    return run;
  }

  /** Asks one run (or the only/chosen live run) to stop: it writes a checkpoint and the adapter. */
  async stop(dir?: string): Promise<void> {
    let run = dir !== undefined ? this.find(dir) : undefined;
    if (run === undefined) {
      const live = this.live();
      if (live.length === 0) {
        void vscode.window.showInformationMessage('No training run is in progress.');
        return;
      }
      run = live.length === 1 ? live[0] : (await vscode.window.showQuickPick(live.map((r) => ({ label: r.view.name, description: statusLine(r.view), run: r })), { placeHolder: 'Stop which run?' }))?.run;
    }
    if (run === undefined) return;
    log(`stopping ${run.view.name}`);
    run.worker.stop();
  }

  dispose(): void {
    for (const r of this.runs) r.worker.kill();
    this.statusItem.dispose();
    this.changed.dispose();
    this.events.dispose();
  }

  private onEvent(e: RunEvent, view: RunView): void {
    if (e.event !== 'system') log(describeEvent(e)); // every 2 s: the dashboard's strip shows them
    if (e.event === 'alert') this.alerts.notify(view.dir, e);
    if (e.event === 'start' || e.event === 'done' || e.event === 'error' || e.event === 'checkpoint') this.changed.fire();
    this.events.fire({ dir: view.dir, record: e });
    this.updateStatusBar();
  }

  private onFinished(run: LiveRun, crash: string | undefined): void {
    this.runs.delete(run);
    this.updateContext();
    this.updateStatusBar();
    this.changed.fire();
    const v = run.view;
    if (v.status === 'completed' || v.status === 'stopped') {
      const adapter = v.done?.adapter_dir;
      void vscode.window.showInformationMessage(`${v.name}: ${statusLine(v)}.${adapter !== undefined ? ` Adapter in ${adapter}.` : ''}`, 'Open Dashboard', 'Reveal Adapter').then((c) => {
        if (c === 'Open Dashboard') void vscode.commands.executeCommand(COMMAND_IDS.openDashboard, v.dir);
        if (c === 'Reveal Adapter' && adapter !== undefined) void vscode.commands.executeCommand('revealFileInOS', vscode.Uri.file(adapter));
      });
      return;
    }
    const message = crash ?? v.error?.message ?? 'the worker stopped without saying why.';
    if (refusedAtStart(v)) {
      // the trainer refused its inputs before the first step (a missing file, a model it cannot train): nothing ran
      void showError(`Can't start training: ${message}`, 'Open Recipe').then((c) => {
        if (c === 'Open Recipe') void vscode.window.showTextDocument(vscode.Uri.file(run.config));
      });
      return;
    }
    const kept = v.error?.checkpoint !== undefined ? ` Last good checkpoint: ${v.error.checkpoint}.` : '';
    void showError(`Training ${v.name !== '(starting)' ? `"${v.name}" ` : ''}failed: ${message}${kept}`, 'Open Dashboard').then((c) => {
      if (c === 'Open Dashboard') void vscode.commands.executeCommand(COMMAND_IDS.openDashboard, v.dir);
    });
  }

  private showProgress(run: LiveRun): void {
    void vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'PEFT: training', cancellable: true }, (progress, token) => {
      token.onCancellationRequested(() => {
        progress.report({ message: 'stopping (writing checkpoint)…' });
        run.worker.stop();
      });
      let reported = 0;
      const sub = this.onDidRunEvent((n) => {
        if (n.dir !== run.view.dir) return;
        const f = fractionDone(run.view);
        const increment = f !== undefined ? Math.max(0, 100 * f - reported) : undefined;
        if (increment !== undefined) reported += increment;
        progress.report({ message: `${run.view.name}: ${statusLine(run.view)}`, ...(increment !== undefined ? { increment } : {}) });
      });
      return run.worker.finished.finally(() => sub.dispose());
    });
  }

  private updateStatusBar(): void {
    const live = this.live();
    const first = live[0];
    if (first === undefined) {
      this.statusItem.hide();
      return;
    }
    const more = live.length > 1 ? ` (+${live.length - 1})` : '';
    this.statusItem.text = `$(sync~spin) PEFT ${statusLine(first.view)}${more}`;
    const tip = new vscode.MarkdownString(live.map((r) => `**${r.view.name}** — ${statusLine(r.view)}`).join('\n\n'));
    tip.appendMarkdown('\n\nClick to open the training dashboard.');
    this.statusItem.tooltip = tip;
    this.statusItem.show();
  }

  private updateContext(): void {
    void vscode.commands.executeCommand('setContext', TRAINING_CONTEXT_KEY, this.runs.size > 0);
  }
}
