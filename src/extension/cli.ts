// Runs the bundled peft-studio CLI (dist/cli.js) in a child process for one-shot commands (count, estimate,
// init, fixture), so the editor and the terminal share one code path and heavy work stays off the host.
import { execFile } from 'node:child_process';
import * as vscode from 'vscode';
import { log } from './log';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCli(context: vscode.ExtensionContext, args: string[], cwd?: string): Promise<CliResult> {
  const cli = context.asAbsolutePath('dist/cli.js');
  const node = vscode.workspace.getConfiguration('peftStudio').get<string>('nodePath') || process.execPath;
  log(`$ peft-studio ${args.join(' ')}`);
  return new Promise((resolve) => {
    // dist/cli.js exports main(argv) (bin/peft-studio.js calls it; bin/ is not shipped in the extension)
    const script = `require(${JSON.stringify(cli)}).main(process.argv.slice(1)).then((c) => { process.exitCode = c; })`;
    execFile(node, ['-e', script, '--', ...args], { cwd, env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' }, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      if (stderr.trim() !== '') log(stderr.trimEnd());
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs a `--json` CLI command and parses its output; throws with the CLI's own message on failure. */
export async function runCliJson<T>(context: vscode.ExtensionContext, args: string[], cwd?: string): Promise<T> {
  const r = await runCli(context, [...args, '--json'], cwd);
  if (r.code !== 0) {
    const detail = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-6).join('\n');
    throw new Error(detail !== '' ? detail : `peft-studio ${args[0] ?? ''} exited with code ${r.code}`);
  }
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`peft-studio ${args[0] ?? ''} printed no JSON: ${r.stdout.slice(0, 200)}`);
  }
}

/**
 * Runs a long CLI command (a sweep) in a VS Code terminal, where its progress is visible and Ctrl-C stops it; the runs
 * it writes reach the dashboard through the run-folder watchers.
 */
export function runCliInTerminal(context: vscode.ExtensionContext, name: string, args: string[], cwd?: string): vscode.Terminal {
  const cli = context.asAbsolutePath('dist/cli.js');
  const node = vscode.workspace.getConfiguration('peftStudio').get<string>('nodePath') || process.execPath;
  const script = `require(${JSON.stringify(cli)}).main(process.argv.slice(1)).then((c) => { process.exitCode = c; })`;
  log(`$ peft-studio ${args.join(' ')} (terminal "${name}")`);
  const terminal = vscode.window.createTerminal({ name, shellPath: node, shellArgs: ['-e', script, '--', ...args], ...(cwd !== undefined ? { cwd } : {}), env: { ELECTRON_RUN_AS_NODE: '1' } });
  terminal.show(true);
  return terminal;
}
