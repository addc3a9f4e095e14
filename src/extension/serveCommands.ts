// Editor commands for shipping adapters: start/stop the adapter server (a child process), register/promote/rollback
// registry versions (the `adapters` CLI, applied to the running server), and Export Adapter… (merge / export gguf).
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { RunSummary } from '../shared/dashboard';
import { runCli } from './cli';
import type { Services } from './commands';
import { resolveRun, treeNode } from './pick';
import { ServerProcess } from './serverProcess';

type Handler = (...args: unknown[]) => unknown;

let server: ServerProcess | undefined;

function serverOf(s: Services): ServerProcess {
  if (server === undefined) {
    server = new ServerProcess(s.context);
    s.context.subscriptions.push(server, { dispose: () => { server = undefined; } });
  }
  return server;
}

function workspaceDir(): string | undefined {
  return vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
}

/** The adapter folder a command acts on: a tree node's (final adapter or checkpoint), else a run's adapter. */
async function adapterOf(s: Services, arg: unknown, placeHolder: string): Promise<{ dir: string; run: RunSummary } | undefined> {
  const node = treeNode(arg);
  if (node !== undefined && node.kind !== 'run') return { dir: node.dir, run: node.run };
  const run = await resolveRun(s.store, arg, placeHolder, (r) => r.adapterDir !== undefined);
  if (run === undefined) return undefined;
  if (run.adapterDir === undefined) {
    void vscode.window.showInformationMessage(`Run "${run.name}" has no final adapter yet: pick one of its checkpoints in the Runs view.`);
    return undefined;
  }
  return { dir: run.adapterDir, run };
}

async function cliOrThrow(s: Services, args: string[]): Promise<string> {
  const r = await runCli(s.context, args, workspaceDir());
  if (r.code !== 0) throw new Error((r.stderr.trim() || r.stdout.trim()).split('\n').slice(-4).join('\n'));
  return r.stdout.trim();
}

interface StartArgs { model?: string; adapters?: { name: string; dir: string }[]; port?: number; apiKey?: string }

const startServer = (s: Services): Handler => async (arg) => {
  const given = (typeof arg === 'object' && arg !== null && treeNode(arg) === undefined ? arg : {}) as StartArgs;
  let adapters = given.adapters;
  let model = given.model;
  if (adapters === undefined) {
    const runs = s.store.list().filter((r) => r.adapterDir !== undefined);
    const picked = await vscode.window.showQuickPick(runs.map((r) => ({ label: r.name, description: r.baseModel ?? '', run: r })), {
      canPickMany: true, placeHolder: 'Serve which runs\' adapters? (none: the base model only)',
    });
    if (picked === undefined) return;
    adapters = picked.map((p) => ({ name: p.run.name, dir: p.run.adapterDir! }));
    model ??= picked[0]?.run.baseModel;
  }
  model ??= await vscode.window.showInputBox({ prompt: 'Base model folder or hub id', ignoreFocusOut: true });
  if (model === undefined || model === '') return;
  const port = given.port ?? Number(await vscode.window.showInputBox({ prompt: 'Port (loopback only)', value: '8000', ignoreFocusOut: true }) ?? NaN);
  if (!Number.isInteger(port)) return;
  const args = ['--model', model, '--port', String(port), ...adapters.flatMap((a) => ['--adapter', `${a.name}=${a.dir}`])];
  const proc = serverOf(s);
  const url = await proc.start(args, workspaceDir(), given.apiKey);
  void vscode.window.showInformationMessage(`Adapter server listening on ${url} (OpenAI-compatible: ${url}/v1).`, 'Show Log').then((a) => { if (a !== undefined) proc.showLog(); });
};

const stopServer = (s: Services): Handler => async () => {
  if (server?.running !== true) {
    void vscode.window.showInformationMessage('No adapter server is running.');
    return;
  }
  await serverOf(s).stop();
};

const registerVersion = (s: Services): Handler => async (arg) => {
  const a = await adapterOf(s, arg, 'Register the adapter of which run?');
  if (a === undefined) return;
  const name = await vscode.window.showInputBox({ prompt: 'Adapter name in the registry (.peft-studio/adapters)', value: a.run.name.replace(/[^A-Za-z0-9._-]/g, '-'), ignoreFocusOut: true });
  if (name === undefined || name === '') return;
  void vscode.window.showInformationMessage(await cliOrThrow(s, ['adapters', 'register', name, a.dir, '--workspace', workspaceDir() ?? path.dirname(a.run.dir)]));
};

interface RegistryEntry { name: string; versions: number[]; state: { current: number | null } }

async function pickRegistered(s: Services, placeHolder: string): Promise<RegistryEntry | undefined> {
  const list = JSON.parse(await cliOrThrow(s, ['adapters', 'list', '--json', '--workspace', workspaceDir() ?? '.'])) as RegistryEntry[];
  if (list.length === 0) {
    void vscode.window.showInformationMessage('No registered adapters yet: use "PEFT: Register Adapter Version" on a run first.');
    return undefined;
  }
  return (await vscode.window.showQuickPick(list.map((e) => ({ label: e.name, description: `current v${e.state.current ?? '-'} of ${e.versions.map((v) => `v${v}`).join(' ')}`, e })), { placeHolder }))?.e;
}

function serverArgs(): string[] {
  return server?.url !== undefined ? ['--server', server.url, ...(server.apiKey !== undefined ? ['--api-key', server.apiKey] : [])] : [];
}

const promoteVersion = (s: Services): Handler => async () => {
  const e = await pickRegistered(s, 'Promote a version of which adapter?');
  if (e === undefined) return;
  const v = await vscode.window.showQuickPick(e.versions.map((x) => `v${x}`).reverse(), { placeHolder: 'Which version?' });
  if (v === undefined) return;
  const w = await vscode.window.showInputBox({ prompt: 'Share of requests for it, in % (100: make it current; less: a canary beside current)', value: '100', ignoreFocusOut: true });
  if (w === undefined) return;
  void vscode.window.showInformationMessage(await cliOrThrow(s, ['adapters', 'promote', e.name, v, '--weight', w, '--workspace', workspaceDir() ?? '.', ...serverArgs()]));
};

const rollbackVersion = (s: Services): Handler => async () => {
  const e = await pickRegistered(s, 'Roll back which adapter?');
  if (e === undefined) return;
  void vscode.window.showInformationMessage(await cliOrThrow(s, ['adapters', 'rollback', e.name, '--workspace', workspaceDir() ?? '.', ...serverArgs()]));
};

const FORMATS = [
  { id: 'merged', label: 'Merged Hugging Face folder', detail: 'W + scaling·B·A in safetensors; transformers loads it as a plain model' },
  { id: 'gguf-adapter', label: 'GGUF base + GGUF adapter', detail: 'for llama.cpp (--lora) and node-llama-cpp' },
  { id: 'gguf-merged', label: 'Merged GGUF', detail: 'one file with the adapter merged in' },
  { id: 'ollama', label: 'Ollama', detail: 'GGUF base + adapter and a Modelfile (ollama create NAME -f Modelfile)' },
] as const;

interface ExportArgs { format?: string; model?: string; out?: string }

const exportAdapter = (s: Services): Handler => async (arg, opts) => {
  const a = await adapterOf(s, arg, 'Export the adapter of which run?');
  if (a === undefined) return;
  const o = (typeof opts === 'object' && opts !== null ? opts : {}) as ExportArgs;
  const format = o.format ?? (await vscode.window.showQuickPick(FORMATS.map((f) => ({ ...f })), { placeHolder: 'Export as…' }))?.id;
  if (format === undefined) return;
  const model = o.model ?? await vscode.window.showInputBox({ prompt: 'Base model folder or hub id', value: a.run.baseModel ?? '', ignoreFocusOut: true });
  if (model === undefined || model === '') return;
  const out = o.out ?? await vscode.window.showInputBox({ prompt: 'Output folder', value: path.join(a.run.dir, 'export', format), ignoreFocusOut: true });
  if (out === undefined || out === '') return;
  const steps: string[][] = format === 'merged' ? [['merge', '--model', model, '--adapter', a.dir, out]]
    : format === 'gguf-merged' ? [['export', 'gguf', model, path.join(out, 'model.gguf'), '--adapter', a.dir, '--merge']]
    : [['export', 'gguf', model, path.join(out, 'base.gguf')],
      ['export', 'gguf-adapter', a.dir, path.join(out, 'adapter.gguf'), '--model', model, ...(format === 'ollama' ? ['--ollama', out, '--base-gguf', path.join(out, 'base.gguf')] : [])]];
  await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Exporting ${a.run.name} (${format})…` }, async () => {
    await vscode.workspace.fs.createDirectory(vscode.Uri.file(format === 'merged' ? path.dirname(out) : out));
    for (const step of steps) await cliOrThrow(s, step);
  });
  const action = await vscode.window.showInformationMessage(`Exported ${a.run.name} to ${out}`, 'Reveal');
  if (action === 'Reveal') await vscode.commands.executeCommand('revealFileInOS', vscode.Uri.file(out));
};

/** The factories, listed by id in the command table (commands.ts); package.json lists the same ids. */
export const SERVE_COMMANDS = {
  startServer, stopServer, showServerLog: (s: Services): Handler => () => serverOf(s).showLog(),
  registerVersion, promoteVersion, rollbackVersion, exportAdapter,
};
