// The editor's cluster commands, thin over the CLI: "Export for Cluster…" asks for the strategy and size and runs
// `peft-studio export trl`; "Launch on Cluster" runs the configured launch command in a terminal in that folder.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { runCliJson } from './cli';
import { Config } from './config';
import { errorMessage } from '../core/errors';
import { outputChannel, showError } from './log';
import { pathOf, resolveRecipe } from './pick';

const LAST_EXPORT = 'peftStudio.lastClusterExport';
const STRATEGIES: { label: string; description: string }[] = [
  { label: 'single_gpu', description: 'one process, one GPU' },
  { label: 'multi_gpu', description: 'DDP: the model on every GPU' },
  { label: 'zero2', description: 'DeepSpeed ZeRO-2: optimizer state and gradients sharded' },
  { label: 'zero3', description: 'DeepSpeed ZeRO-3: parameters sharded too' },
  { label: 'fsdp2', description: 'PyTorch FSDP2, transformer-layer wrapping' },
];

const positive = (v: string): string | undefined => (/^[1-9]\d*$/.test(v.trim()) ? undefined : 'A positive whole number');

interface ExportJson { dir: string; files: string[]; notes: { level: string; topic: string; message: string }[] }

export async function exportForCluster(context: vscode.ExtensionContext, arg: unknown): Promise<void> {
  const recipe = await resolveRecipe(arg);
  if (recipe === undefined) return;
  const strategy = await vscode.window.showQuickPick(STRATEGIES, { placeHolder: 'Distributed strategy (accelerate)' });
  if (strategy === undefined) return;
  let gpus = '1';
  let nodes = '1';
  if (strategy.label !== 'single_gpu') {
    const g = await vscode.window.showInputBox({ prompt: 'GPUs per node', value: '8', validateInput: positive });
    if (g === undefined) return;
    const n = await vscode.window.showInputBox({ prompt: 'Nodes (machines)', value: '1', validateInput: positive });
    if (n === undefined) return;
    [gpus, nodes] = [g.trim(), n.trim()];
  }
  const quant = await vscode.window.showQuickPick([{ label: 'none', description: 'base weights as the recipe says' }, { label: '4bit', description: 'QLoRA: NF4 base weights (bitsandbytes)' }], { placeHolder: 'Quantization of the base model' });
  if (quant === undefined) return;
  const precision = await vscode.window.showQuickPick([
    { label: 'recipe', description: 'as peft-train.yaml says (fp32 unless fp16)' },
    { label: 'bf16', description: 'bf16 mixed precision: what a large base model wants on recent GPUs' },
    { label: 'fp16', description: 'fp16 mixed precision with loss scaling' },
    { label: 'fp32', description: 'full precision, as a local CPU run' },
  ], { placeHolder: 'Precision on the cluster' });
  if (precision === undefined) return;
  const out = await vscode.window.showInputBox({ prompt: 'Folder for the exported project', value: path.join(path.dirname(recipe), `cluster-${strategy.label}`) });
  if (out === undefined || out.trim() === '') return;
  const args = ['export', 'trl', recipe, out.trim(), '--accelerate', strategy.label, '--gpus', gpus, '--nodes', nodes, ...(quant.label === '4bit' ? ['--quantization', '4bit'] : []), ...(precision.label !== 'recipe' ? ['--precision', precision.label] : [])];
  try {
    const r = await runCliJson<ExportJson>(context, args, path.dirname(recipe));
    await context.workspaceState.update(LAST_EXPORT, r.dir);
    const ch = outputChannel();
    ch.appendLine(`\nExported ${recipe} for ${strategy.label} (${gpus} GPU(s) × ${nodes} node(s)) to ${r.dir}:`);
    for (const n of r.notes) ch.appendLine(`  ${n.level === 'warning' ? 'warning' : 'note'}: ${n.topic}: ${n.message}`);
    const warnings = r.notes.filter((n) => n.level === 'warning').length;
    const pick = await vscode.window.showInformationMessage(
      `Exported a TRL project to ${r.dir}${warnings > 0 ? ` (${warnings} difference${warnings > 1 ? 's' : ''} from a local run: see the README)` : ''}.`,
      'Open README', 'Launch on Cluster');
    if (pick === 'Open README') await vscode.window.showTextDocument(vscode.Uri.file(path.join(r.dir, 'README.md')));
    if (pick === 'Launch on Cluster') await launchOnCluster(context, r.dir);
  } catch (e) {
    await showError(`Export for Cluster failed: ${errorMessage(e)}`);
  }
}

/** The export folder: the argument (a folder or a file in it), else the last export, else ask. */
async function exportDir(context: vscode.ExtensionContext, arg: unknown): Promise<string | undefined> {
  const p = pathOf(arg);
  const candidates = [p !== undefined && fs.existsSync(p) && fs.statSync(p).isFile() ? path.dirname(p) : p, context.workspaceState.get<string>(LAST_EXPORT)];
  const found = candidates.find((d): d is string => d !== undefined && fs.existsSync(path.join(d, 'sft_config.yaml')));
  if (found !== undefined) return found;
  const picked = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, openLabel: 'Launch this export' });
  return picked?.[0]?.fsPath;
}

export async function launchOnCluster(context: vscode.ExtensionContext, arg: unknown): Promise<void> {
  if (!vscode.workspace.isTrusted) {
    await showError('Launch on Cluster runs a command from your settings: trust this workspace first.');
    return;
  }
  const dir = await exportDir(context, arg);
  if (dir === undefined) return;
  if (!fs.existsSync(path.join(dir, 'sft_config.yaml'))) {
    await showError(`${dir} is not an exported project (no sft_config.yaml): run PEFT: Export for Cluster… first.`);
    return;
  }
  const config = Config.read(vscode.Uri.file(dir));
  const command = config.clusterLaunchCommand;
  if (command === '') {
    await showError('Set peftStudio.clusterLaunchCommand (e.g. "sky launch -c peft sky.yaml" or "kubectl apply -f k8s-job.yaml").');
    return;
  }
  const terminal = vscode.window.createTerminal({ name: `PEFT cluster: ${path.basename(dir)}`, cwd: dir });
  terminal.show();
  terminal.sendText(command);
  // Pull the run folder while it trains: the Runs view and dashboard watch <export>/runs.
  const sync = config.clusterSyncCommand;
  const every = config.clusterSyncSeconds;
  if (sync !== '') {
    const puller = vscode.window.createTerminal({ name: `PEFT cluster sync: ${path.basename(dir)}`, cwd: dir });
    puller.sendText(`while true; do ${sync}; sleep ${every}; done`);
  }
  outputChannel().appendLine(`Launch on Cluster: \`${command}\` in ${dir}; its run folder appears under ${path.join(dir, 'runs')}${sync !== '' ? ` (pulled every ${every} s by \`${sync}\`)` : ''}.`);
}
