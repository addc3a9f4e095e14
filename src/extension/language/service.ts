// The language service of the extension host: validates open PEFT files on open and on every edit (debounced) in a
// worker process with a time budget (core/validate/workerClient), and caches model inventories for hovers and lenses.
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ModelInventory } from '../../core/hf/types';
import { SERVING_ENGINES, type ServingEngine } from '../../core/validate/serving';
import { fileKind, summarizeRecipe, type FileKind, type Problem, type RecipeSummary, type ValidationContext } from '../../core/validate';
import { InventoryCache, findRecipeFor } from '../../core/validate/context';
import type { ValidationJob } from '../../core/validate/job';
import { ValidationWorkers } from '../../core/validate/workerClient';
import { modelForAdapter } from '../../core/validate/adapterModel';
import { toDiagnostics } from './convert';
import { readDocumentOrDisk } from '../documents';
import { Config } from '../config';

const DEBOUNCE_MS = 300;
/** A validation running longer than this shows "PEFT: validating" in the status bar. */
const BUSY_MS = 300;

export class LanguageService implements vscode.Disposable {
  readonly diagnostics = vscode.languages.createDiagnosticCollection('peft-studio');
  readonly inventories = new InventoryCache();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly workers: ValidationWorkers;
  private oneOffs = 0;
  /** "PEFT: validating…" in the status bar while a validation has run longer than BUSY_MS. */
  private readonly busyItem = vscode.window.createStatusBarItem('peftStudio.validating', vscode.StatusBarAlignment.Left, 40);
  private inFlight = 0;
  private busyTimer: NodeJS.Timeout | undefined;
  private readonly changed = new vscode.EventEmitter<void>();
  /** Fires after diagnostics or caches change (CodeLens refresh). */
  readonly onDidChange = this.changed.event;

  /** `workerPath`: the validation worker bundle (dist/validateWorker.js). */
  constructor(workerPath: string) {
    this.workers = new ValidationWorkers({ workerPath, timeLimitMs: () => Config.read().validationTimeLimitMs });
    this.busyItem.name = 'PEFT Studio validation';
    this.busyItem.text = '$(sync~spin) PEFT: validating';
    this.busyItem.tooltip = 'PEFT Studio is checking the open files against the base model in the background';
  }

  /** Runs a job in the worker, keeping the status bar's "validating" item up while any job is in flight. */
  private async runJob(key: string, job: ValidationJob, partial?: (ps: Problem[]) => void): Promise<Problem[] | null> {
    if (this.inFlight++ === 0) this.busyTimer = setTimeout(() => this.busyItem.show(), BUSY_MS);
    try {
      return await this.workers.run(key, job, partial);
    } finally {
      if (--this.inFlight === 0) {
        clearTimeout(this.busyTimer);
        this.busyItem.hide();
      }
    }
  }

  /** The kind of a document this service handles, or null. */
  kindOf(doc: vscode.TextDocument): Exclude<FileKind, 'unknown'> | null {
    if (doc.uri.scheme !== 'file' && doc.uri.scheme !== 'untitled') return null;
    const kind = fileKind(doc.fileName);
    if (kind === 'adapter_config') return kind;
    if (kind === 'recipe') return /peft[-_.]?train.*\.ya?ml$|\.peft\.ya?ml$/i.test(path.basename(doc.fileName)) ? kind : null;
    if (kind === 'dataset') {
      if (doc.fileName.split(path.sep).includes('data')) return kind;
      const r = this.recipeFor(doc.fileName);
      return r?.datasets.includes(path.resolve(doc.fileName)) === true || r?.evalPromptsFile === path.resolve(doc.fileName) ? kind : null;
    }
    return null;
  }

  /** The recipe beside a file, reading open (unsaved) documents before the disk. */
  recipeFor(file: string): RecipeSummary | null {
    return findRecipeFor(file, readDocumentOrDisk);
  }

  context(doc: vscode.TextDocument): ValidationContext {
    const kind = this.kindOf(doc) ?? 'unknown';
    const ctx: ValidationContext = { path: doc.fileName, kind, recipe: kind === 'recipe' ? null : this.recipeFor(doc.fileName), loadModel: (d) => this.inventories.get(d) };
    if (kind === 'adapter_config') {
      // the serving engines the user deploys to (peftStudio.servingEngines): what they refuse or ignore
      const known = Config.read(doc.uri).servingEngines.filter((e): e is ServingEngine => (SERVING_ENGINES as readonly string[]).includes(e));
      if (known.length > 0) ctx.servingEngines = known;
    }
    return ctx;
  }

  /** The base model for a document (adapter: recipe / base_model_name_or_path; recipe: its base_model). */
  modelFor(doc: vscode.TextDocument): ModelInventory | null {
    const kind = this.kindOf(doc);
    if (kind === 'recipe') {
      const s = summarizeRecipe(doc.getText(), doc.fileName);
      return s?.baseModelDir ? this.inventories.get(s.baseModelDir) : null;
    }
    if (kind !== 'adapter_config') return null;
    let base: unknown;
    try {
      base = (JSON.parse(doc.getText()) as Record<string, unknown>)['base_model_name_or_path'];
    } catch {
      base = undefined;
    }
    return modelForAdapter(this.context(doc), base);
  }

  schedule(doc: vscode.TextDocument, delay = DEBOUNCE_MS): void {
    if (this.kindOf(doc) === null) return;
    const key = doc.uri.toString();
    clearTimeout(this.timers.get(key));
    this.timers.set(key, setTimeout(() => {
      this.timers.delete(key);
      void this.validateNow(doc);
    }, delay));
  }

  async validateNow(doc: vscode.TextDocument): Promise<void> {
    const kind = this.kindOf(doc);
    if (kind === null || doc.isClosed) return;
    const publish = (ps: Problem[]): void => {
      if (!doc.isClosed) this.diagnostics.set(doc.uri, toDiagnostics(ps));
    };
    const problems = await this.runJob(doc.uri.toString(), this.job(doc.getText(), doc.fileName, kind, doc.uri), publish);
    if (problems === null || doc.isClosed) return; // a newer edit's validation replaced this one
    publish(problems);
    this.changed.fire();
  }

  /** What the worker needs to validate a file: its text, kind, recipe, serving engines and open data sets' texts. */
  private job(text: string, file: string, kind: Exclude<FileKind, 'unknown'>, uri?: vscode.Uri): ValidationJob {
    const ctx = kind === 'recipe' ? { recipe: null } : { recipe: this.recipeFor(file) };
    const job: ValidationJob = { text, path: path.resolve(file), kind, recipe: ctx.recipe };
    if (kind === 'adapter_config') {
      // the serving engines the user deploys to (peftStudio.servingEngines): what they refuse or ignore
      const known = Config.read(uri).servingEngines.filter((e): e is ServingEngine => (SERVING_ENGINES as readonly string[]).includes(e));
      if (known.length > 0) job.servingEngines = known;
    }
    if (kind === 'dataset' && ctx.recipe?.trainFile) {
      const open = vscode.workspace.textDocuments.find((d) => d.fileName === ctx.recipe?.trainFile);
      if (open !== undefined) job.openTexts = { [ctx.recipe.trainFile]: open.getText() };
    }
    return job;
  }

  /**
   * The problems of a file as it is now (the open document's text, else the disk's), whether or not it is open, and
   * published to the Problems panel; a missing file has none here (the recipe that names it reports it).
   */
  async problemsOf(file: string, kind: Exclude<FileKind, 'unknown'>): Promise<Problem[]> {
    const text = readDocumentOrDisk(file);
    if (text === null) return [];
    // a key of its own: this answer is never replaced by an edit's validation, nor replaces one
    const problems = (await this.runJob(`problemsOf#${++this.oneOffs}`, this.job(text, file, kind))) ?? [];
    this.diagnostics.set(vscode.Uri.file(file), toDiagnostics(problems));
    return problems;
  }

  /** A model file changed on disk: forget what was cached for its folder and revalidate every open PEFT file. */
  invalidate(file: string): void {
    this.inventories.invalidate(file);
    this.workers.invalidate(file);
    this.revalidateAll();
  }

  revalidateAll(): void {
    for (const d of vscode.workspace.textDocuments) this.schedule(d, 50);
    this.changed.fire();
  }

  forget(doc: vscode.TextDocument): void {
    const key = doc.uri.toString();
    clearTimeout(this.timers.get(key));
    this.timers.delete(key);
    this.diagnostics.delete(doc.uri);
  }

  dispose(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.workers.dispose();
    clearTimeout(this.busyTimer);
    this.busyItem.dispose();
    this.diagnostics.dispose();
    this.changed.dispose();
  }
}
