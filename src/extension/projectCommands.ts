// The project commands: Open Demo Project, Count Trainable Parameters and Estimate Training Memory (New Adapter
// Project is newProject.ts), each through the bundled CLI's --json output (CONTRACTS.md §3) in a child process, off the extension host.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { parse as parseYaml } from 'yaml';
import { runCliJson } from './cli';
import { errorMessage } from '../core/errors';
import { log, outputChannel, showError } from './log';
import { openProject, pickFolder } from './newProject';
import { RECIPE_FILE, resolveConfigFile } from './pick';

/** A small llama model and data set made locally (no download) with a ready recipe, to try training at once. */
export async function openDemo(context: vscode.ExtensionContext): Promise<void> {
  const parent = await pickFolder('Create the Demo Project in This Folder');
  if (parent === undefined) return;
  const dir = path.join(parent, 'peft-studio-demo');
  const modelDir = path.join(dir, 'models', 'demo-llama');
  try {
    await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'PEFT: creating the demo project' }, async (progress) => {
      if (!fs.existsSync(path.join(modelDir, 'config.json'))) {
        progress.report({ message: 'making a small Llama model and tokenizer…' });
        await runCliJson<unknown>(context, ['fixture', '--arch', 'llama', '--size', 'small', '--seed', '42', modelDir], parent);
      }
      if (!fs.existsSync(path.join(dir, RECIPE_FILE))) {
        progress.report({ message: 'writing adapter_config.json, peft-train.yaml and data…' });
        await runCliJson<unknown>(context, ['init', dir, '--model', modelDir, '--template', 'instruct'], parent);
      }
    });
    log(`demo project ready in ${dir}`);
    await openProject(dir);
  } catch (e) {
    await showError(`Could not create the demo project: ${errorMessage(e)}`);
  }
}

interface CountJson {
  trainable: number;
  total: number;
  percent: number;
  modules: { name: string; r: number; in: number; out: number; params: number }[];
}

/** For a recipe, the adapter config it names and its base model folder (when local). */
function adapterAndModel(file: string): { config: string; model?: string } {
  if (!/\.ya?ml$/i.test(file)) return { config: file };
  const doc: unknown = parseYaml(fs.readFileSync(file, 'utf8'));
  const o = typeof doc === 'object' && doc !== null ? (doc as Record<string, unknown>) : {};
  const dir = path.dirname(file);
  const config = path.resolve(dir, typeof o['adapter_config'] === 'string' ? o['adapter_config'] : 'adapter_config.json');
  const base = typeof o['base_model'] === 'string' ? path.resolve(dir, o['base_model']) : undefined;
  return base !== undefined && fs.existsSync(path.join(base, 'config.json')) ? { config, model: base } : { config };
}

export async function count(context: vscode.ExtensionContext, arg: unknown): Promise<void> {
  const file = await resolveConfigFile(arg, 'count trainable parameters');
  if (file === undefined) return;
  try {
    const { config, model } = adapterAndModel(file);
    const r = await runCliJson<CountJson>(context, ['count', config, ...(model !== undefined ? ['--model', model] : [])], path.dirname(config));
    const ch = outputChannel();
    ch.appendLine(`\nTrainable parameters of ${config}:`);
    ch.appendLine(`  trainable ${r.trainable.toLocaleString('en-US')} of ${r.total.toLocaleString('en-US')} (${r.percent.toFixed(4)}%)`);
    for (const m of r.modules) ch.appendLine(`  ${m.name.padEnd(48)} r=${m.r} in=${m.in} out=${m.out} params=${m.params.toLocaleString('en-US')}`);
    const c = await vscode.window.showInformationMessage(
      `trainable params: ${r.trainable.toLocaleString('en-US')} || all params: ${r.total.toLocaleString('en-US')} || trainable%: ${r.percent.toFixed(4)} (${r.modules.length} adapted modules)`,
      'Show Modules');
    if (c === 'Show Modules') ch.show(true);
  } catch (e) {
    await showError(`Count Trainable Parameters failed: ${errorMessage(e)}`);
  }
}

function formatGiB(bytes: number): string {
  return bytes >= 1024 ** 3 ? `${(bytes / 1024 ** 3).toFixed(2)} GiB` : `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}

export async function estimate(context: vscode.ExtensionContext, arg: unknown): Promise<void> {
  const file = await resolveConfigFile(arg, 'estimate training memory');
  if (file === undefined) return;
  try {
    // an adapter_config.json with a recipe beside it: the recipe knows batch size and sequence length
    const sibling = path.join(path.dirname(file), RECIPE_FILE);
    const config = !/\.ya?ml$/i.test(file) && fs.existsSync(sibling) ? sibling : file;
    const r = await runCliJson<unknown>(context, ['estimate', config], path.dirname(config));
    const o = typeof r === 'object' && r !== null ? (r as Record<string, unknown>) : {};
    const total = typeof o['totalBytes'] === 'number' ? o['totalBytes'] : typeof o['total_bytes'] === 'number' ? o['total_bytes'] : undefined;
    const comps = Array.isArray(o['components']) ? (o['components'] as unknown[]) : [];
    const ch = outputChannel();
    ch.appendLine(`\nTraining memory estimate for ${config}:`);
    for (const c of comps) {
      const x = typeof c === 'object' && c !== null ? (c as Record<string, unknown>) : {};
      if (typeof x['name'] === 'string' && typeof x['bytes'] === 'number') ch.appendLine(`  ${x['name'].padEnd(40)} ${formatGiB(x['bytes'])}`);
    }
    if (total !== undefined) ch.appendLine(`  ${'total'.padEnd(40)} ${formatGiB(total)}`);
    const c = await vscode.window.showInformationMessage(`Estimated peak training memory: ${total !== undefined ? formatGiB(total) : 'see the log'} (${comps.length} components).`, 'Show Breakdown');
    if (c === 'Show Breakdown') ch.show(true);
  } catch (e) {
    await showError(`Estimate Training Memory failed: ${errorMessage(e)}`);
  }
}
