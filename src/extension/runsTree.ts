// The "Runs" tree view (peftStudio.runs): runs with their checkpoints and final adapter; context values
// drive the item actions (open adapter folder, resume from here, delete run, open in dashboard, stop).
import * as vscode from 'vscode';
import type { RunSummary } from '../shared/dashboard';
import type { RunManager } from './runManager';
import type { RunsStore } from './runsStore';
import { COMMAND_IDS } from '../shared/ids';

export type RunsTreeNode =
  | { kind: 'run'; run: RunSummary }
  | { kind: 'checkpoint'; run: RunSummary; step: number; dir: string }
  | { kind: 'adapter'; run: RunSummary; dir: string };

const STATUS_ICON: Record<RunSummary['status'], [string, string | undefined]> = {
  starting: ['loading~spin', undefined],
  running: ['sync~spin', 'charts.blue'],
  completed: ['pass', 'charts.green'],
  stopped: ['debug-pause', 'charts.yellow'],
  failed: ['error', 'errorForeground'],
  unknown: ['question', undefined],
};

export class RunsTreeProvider implements vscode.TreeDataProvider<RunsTreeNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<RunsTreeNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly subs: vscode.Disposable[];
  private throttle: NodeJS.Timeout | undefined;

  constructor(private readonly store: RunsStore, manager: RunManager) {
    this.subs = [
      store.onDidChange(() => this.changed.fire(undefined)),
      // live runs' step and loss, at most once a second
      manager.onDidRunEvent(() => {
        this.throttle ??= setTimeout(() => {
          this.throttle = undefined;
          this.changed.fire(undefined);
        }, 1000);
      }),
    ];
  }

  refresh(): void {
    this.changed.fire(undefined);
  }

  getChildren(node?: RunsTreeNode): RunsTreeNode[] {
    if (node === undefined) return this.store.list().map((run) => ({ kind: 'run', run }));
    if (node.kind !== 'run') return [];
    const children: RunsTreeNode[] = [...node.run.checkpoints].reverse().map((c) => ({ kind: 'checkpoint', run: node.run, step: c.step, dir: c.dir }));
    if (node.run.adapterDir !== undefined) children.unshift({ kind: 'adapter', run: node.run, dir: node.run.adapterDir });
    return children;
  }

  getTreeItem(node: RunsTreeNode): vscode.TreeItem {
    if (node.kind === 'run') return runItem(node.run);
    if (node.kind === 'adapter') {
      const item = new vscode.TreeItem('adapter', vscode.TreeItemCollapsibleState.None);
      item.description = 'final adapter';
      item.iconPath = new vscode.ThemeIcon('package');
      item.tooltip = node.dir;
      item.resourceUri = vscode.Uri.file(node.dir);
      item.contextValue = 'peftStudio.adapter';
      item.command = { title: 'Open Adapter Folder', command: COMMAND_IDS.openAdapterFolder, arguments: [node] };
      return item;
    }
    const item = new vscode.TreeItem(`step ${node.step}`, vscode.TreeItemCollapsibleState.None);
    const best = isBestCheckpoint(node.run, node.step);
    item.description = best ? '★ best checkpoint' : 'checkpoint';
    item.iconPath = new vscode.ThemeIcon(best ? 'star-full' : 'save', best ? new vscode.ThemeColor('charts.yellow') : undefined);
    item.tooltip = best ? `${node.dir}\nThe best checkpoint by metric_for_best_model (trainer_state.json's best_model_checkpoint)` : node.dir;
    item.resourceUri = vscode.Uri.file(node.dir);
    item.contextValue = node.run.live ? 'peftStudio.checkpoint.live' : 'peftStudio.checkpoint';
    return item;
  }

  dispose(): void {
    if (this.throttle !== undefined) clearTimeout(this.throttle);
    for (const d of this.subs) d.dispose();
    this.changed.dispose();
  }
}

/** The checkpoint of `step` is the run's best (compared by folder name: a run folder may have moved since it was written). */
export function isBestCheckpoint(run: RunSummary, step: number): boolean {
  return run.bestCheckpoint !== undefined && /(?:^|[\\/])step-(\d+)[\\/]*$/.exec(run.bestCheckpoint)?.[1] === String(step);
}

function runItem(run: RunSummary): vscode.TreeItem {
  const hasChildren = run.checkpoints.length > 0 || run.adapterDir !== undefined;
  const item = new vscode.TreeItem(run.name, hasChildren ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None);
  item.id = run.dir;
  const steps = run.maxSteps !== undefined ? `${run.lastStep}/${run.maxSteps}` : `${run.lastStep}`;
  const loss = run.finalLoss ?? run.lastLoss;
  item.description = `${run.live ? 'training' : run.status} · step ${steps}${loss !== undefined ? ` · loss ${loss.toFixed(3)}` : ''}`;
  const [icon, color] = STATUS_ICON[run.status];
  item.iconPath = new vscode.ThemeIcon(icon, color !== undefined ? new vscode.ThemeColor(color) : undefined);
  const tip = new vscode.MarkdownString(`**${run.name}** — ${run.status}\n\n`);
  tip.appendMarkdown(`- started: ${run.startedAt ?? '–'}\n- base model: \`${run.baseModel ?? '–'}\`\n- device: ${run.device ?? '–'}\n- steps: ${steps}\n`);
  if (run.finalLoss !== undefined) tip.appendMarkdown(`- final loss: ${run.finalLoss.toFixed(4)}\n`);
  if (run.bestCheckpoint !== undefined) tip.appendMarkdown(`- best checkpoint: \`${run.bestCheckpoint}\`\n`);
  if (run.error !== undefined) tip.appendMarkdown(`\n${run.error}\n`);
  tip.appendMarkdown(`\n\`${run.dir}\``);
  item.tooltip = tip;
  const flags = [run.live ? 'live' : run.status, run.adapterDir !== undefined ? 'adapter' : '', run.checkpoints.length > 0 && !run.live ? 'resumable' : ''].filter((f) => f !== '');
  item.contextValue = `peftStudio.run ${flags.join(' ')}`;
  item.command = { title: 'Open in Dashboard', command: COMMAND_IDS.showRunInDashboard, arguments: [{ kind: 'run', run }] };
  return item;
}
