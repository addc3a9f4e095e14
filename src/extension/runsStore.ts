// Where runs live and what they are: the output folders (each workspace recipe's output_dir, runs/ of exported
// cluster projects, the peftStudio.outputDir setting, folders of live runs), read with src/core/runs, refreshed by file watchers.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { RunSummary, RunView } from '../shared/dashboard';
import { listRunDirs, readRun, recipeOutputDir, summarize } from '../core/runs/readRuns';
import type { RunManager } from './runManager';

export class RunsStore implements vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<vscode.Uri[]>();
  /** Fires (debounced) with the changed run files when run folders change on disk or runs start/end. */
  readonly onDidChange = this.changed.event;
  private readonly disposables: vscode.Disposable[] = [];
  private recipeOutputDirs = new Map<string, string>();
  private pending: vscode.Uri[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly cache = new Map<string, { key: string; summary: RunSummary }>();

  constructor(private readonly manager: RunManager) {
    const runFiles = vscode.workspace.createFileSystemWatcher('**/{run.json,metrics.jsonl}');
    const recipes = vscode.workspace.createFileSystemWatcher('**/{peft-train.yaml,peft_studio.json}');
    const onRunFile = (u: vscode.Uri): void => {
      // a live run's metrics reach the views as events; re-reading every run at each step would be waste
      if (path.basename(u.fsPath) === 'metrics.jsonl' && manager.isLive(path.dirname(u.fsPath))) return;
      this.fireSoon(u);
    };
    const onRecipe = (u: vscode.Uri): void => {
      this.readRecipe(u);
      this.fireSoon(u);
    };
    this.disposables.push(
      runFiles, recipes, this.changed,
      runFiles.onDidChange(onRunFile), runFiles.onDidCreate(onRunFile), runFiles.onDidDelete(onRunFile),
      recipes.onDidChange(onRecipe), recipes.onDidCreate(onRecipe),
      recipes.onDidDelete((u) => { this.recipeOutputDirs.delete(u.fsPath); this.fireSoon(u); }),
      manager.onDidChangeRuns(() => this.fireSoon()),
      vscode.workspace.onDidChangeConfiguration((e) => { if (e.affectsConfiguration('peftStudio.outputDir')) this.fireSoon(); }),
      vscode.workspace.onDidChangeWorkspaceFolders(() => void this.scanRecipes()),
    );
    void this.scanRecipes();
  }

  /** Folders that hold run folders. */
  outputDirs(): string[] {
    const dirs = new Set<string>(this.recipeOutputDirs.values());
    const setting = vscode.workspace.getConfiguration('peftStudio').get<string>('outputDir', 'runs');
    for (const f of vscode.workspace.workspaceFolders ?? []) if (setting !== '') dirs.add(path.resolve(f.uri.fsPath, setting));
    for (const r of this.manager.live()) if (r.view.dir !== '') dirs.add(path.dirname(r.view.dir));
    return [...dirs];
  }

  /** Every run, newest first, with live runs' in-memory state (fresher than the files). */
  list(): RunSummary[] {
    const runs = listRunDirs(this.outputDirs())
      .map((d) => this.summaryOf(d))
      .sort((a, b) => (b.startedAt ?? '').localeCompare(a.startedAt ?? '') || a.name.localeCompare(b.name));
    for (const live of this.manager.live()) {
      if (live.view.dir === '') continue;
      const i = runs.findIndex((r) => path.resolve(r.dir) === path.resolve(live.view.dir));
      const s = summarize(live.view, runs[i]?.checkpoints, true);
      if (i >= 0) runs[i] = s;
      else runs.unshift(s);
    }
    return runs;
  }

  /** A run's summary, re-read only when one of its files or folders changed (size + mtime). */
  private summaryOf(dir: string): RunSummary {
    const key = ['run.json', 'metrics.jsonl', 'checkpoints', 'adapter'].map((f) => {
      try {
        const st = fs.statSync(path.join(dir, f));
        return `${st.mtimeMs}:${st.size}`;
      } catch {
        return '-';
      }
    }).join('|');
    const hit = this.cache.get(dir);
    if (hit?.key === key) return { ...hit.summary };
    const summary = summarize(readRun(dir));
    this.cache.set(dir, { key, summary });
    return { ...summary };
  }

  /** One run in full: the live view while it trains, else read from its folder. */
  read(dir: string): RunView {
    const live = this.manager.find(dir);
    if (live === undefined) return readRun(dir);
    const fromDisk = readRun(dir);
    return { ...live.view, info: fromDisk.info ?? live.view.info };
  }

  dispose(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    for (const d of this.disposables) d.dispose();
  }

  refresh(): void {
    void this.scanRecipes();
  }

  private async scanRecipes(): Promise<void> {
    const found = await vscode.workspace.findFiles('**/peft-train.yaml', '**/node_modules/**', 200);
    const exported = await vscode.workspace.findFiles('**/peft_studio.json', '**/node_modules/**', 200);
    this.recipeOutputDirs = new Map();
    for (const u of [...found, ...exported]) this.readRecipe(u);
    this.fireSoon();
  }

  private readRecipe(u: vscode.Uri): void {
    // a project written by `export trl` (marked by peft_studio.json) keeps its cluster runs in runs/
    const exported = path.basename(u.fsPath) === 'peft_studio.json';
    this.recipeOutputDirs.set(u.fsPath, exported ? path.join(path.dirname(u.fsPath), 'runs') : recipeOutputDir(u.fsPath));
  }

  private fireSoon(u?: vscode.Uri): void {
    if (u !== undefined) this.pending.push(u);
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const uris = this.pending;
      this.pending = [];
      this.changed.fire(uris);
    }, 500);
  }
}
