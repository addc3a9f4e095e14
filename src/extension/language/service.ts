// The language service of the extension host: validates open PEFT files on open and on every edit (debounced),
// lints big data sets in time-boxed slices, and caches model inventories and tokenizers per folder.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { loadTokenizer } from '../../core/hf/tokenizer';
import type { ModelInventory } from '../../core/hf/types';
import { SERVING_ENGINES, type ServingEngine } from '../../core/validate/serving';
import { DatasetLinter, datasetLintOptions, fileKind, summarizeRecipe, validate, type FileKind, type Problem, type RecipeSummary, type TokenCounter, type ValidationContext } from '../../core/validate';
import { InventoryCache, findRecipeFor } from '../../core/validate/context';
import { modelForAdapter } from '../../core/validate/adapterModel';
import { toDiagnostics } from './convert';
import { readDocumentOrDisk } from '../documents';
import { Config } from '../config';

const DEBOUNCE_MS = 300;
/** A dataset slice runs at most this long before yielding to the extension host. */
const SLICE_MS = 15;

export class LanguageService implements vscode.Disposable {
  readonly diagnostics = vscode.languages.createDiagnosticCollection('peft-studio');
  readonly inventories = new InventoryCache();
  private readonly tokenizers = new Map<string, Promise<TokenCounter | null>>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly lintRuns = new Map<string, { cancelled: boolean }>();
  private readonly changed = new vscode.EventEmitter<void>();
  /** Fires after diagnostics or caches change (CodeLens refresh). */
  readonly onDidChange = this.changed.event;

  /** The kind of a document this service handles, or null. */
  kindOf(doc: vscode.TextDocument): FileKind | null {
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
    if (kind === 'dataset') return this.lintDataset(doc);
    this.diagnostics.set(doc.uri, toDiagnostics(validate(doc.getText(), this.context(doc))));
    this.changed.fire();
  }

  /** Lints a JSONL file in slices of SLICE_MS, publishing as it goes; a newer edit cancels the run. */
  private async lintDataset(doc: vscode.TextDocument): Promise<void> {
    const key = doc.uri.toString();
    const prev = this.lintRuns.get(key);
    if (prev) prev.cancelled = true;
    const run = { cancelled: false };
    this.lintRuns.set(key, run);
    const problems = await this.lintText(doc.getText(), doc.fileName, run, (partial) => this.diagnostics.set(doc.uri, toDiagnostics(partial)));
    if (run.cancelled || doc.isClosed) return;
    this.lintRuns.delete(key);
    this.diagnostics.set(doc.uri, toDiagnostics(problems));
  }

  /** The dataset linter over `text` in time-boxed slices (yielding to the host between them). */
  private async lintText(text: string, file: string, run: { cancelled: boolean }, progress?: (partial: Problem[]) => void): Promise<Problem[]> {
    const recipe = this.recipeFor(file);
    const tokenizer = recipe?.baseModelDir ? await this.tokenizer(recipe.baseModelDir) : null;
    const linter = new DatasetLinter(text, datasetLintOptions({ path: file, recipe, tokenizer, readFile: (p) => this.openText(p) }));
    let slices = 0;
    while (!run.cancelled && !linter.step({ ms: SLICE_MS })) {
      if (progress !== undefined && ++slices % 20 === 0) progress(linter.problems());
      await new Promise((r) => setImmediate(r));
    }
    return linter.problems();
  }

  /**
   * The problems of a file as it is now (the open document's text, else the disk's), whether or not it is open, and
   * published to the Problems panel; a missing file has none here (the recipe that names it reports it).
   */
  async problemsOf(file: string, kind: Exclude<FileKind, 'unknown'>): Promise<Problem[]> {
    const text = readDocumentOrDisk(file);
    if (text === null) return [];
    const problems = kind === 'dataset'
      ? await this.lintText(text, file, { cancelled: false })
      : validate(text, { path: file, kind, recipe: kind === 'recipe' ? null : this.recipeFor(file), loadModel: (d) => this.inventories.get(d) });
    this.diagnostics.set(vscode.Uri.file(file), toDiagnostics(problems));
    return problems;
  }

  /** A file's text: the open editor's (unsaved edits included), else the disk's; null when unreadable. */
  private openText(file: string): string | null {
    return readDocumentOrDisk(path.resolve(file));
  }

  private tokenizer(dir: string): Promise<TokenCounter | null> {
    let t = this.tokenizers.get(dir);
    if (t === undefined) {
      t = loadTokenizer(dir).then(
        (tok) => ({ count: (s: string) => tok.encode(s, { addSpecialTokens: false }).length }),
        () => null,
      );
      this.tokenizers.set(dir, t);
    }
    return t;
  }

  /** A model file changed on disk: forget what was cached for its folder and revalidate every open PEFT file. */
  invalidate(file: string): void {
    this.inventories.invalidate(file);
    for (const k of [...this.tokenizers.keys()]) if (file.startsWith(k + path.sep)) this.tokenizers.delete(k);
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
    const run = this.lintRuns.get(key);
    if (run) run.cancelled = true;
    this.diagnostics.delete(doc.uri);
  }

  dispose(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    for (const r of this.lintRuns.values()) r.cancelled = true;
    this.diagnostics.dispose();
    this.changed.dispose();
  }
}
