// The adapter server as a child process (`peft-studio serve`, never in the extension host): its log in an output
// channel, and a status-bar item with its port and requests/s (from GET /health, polled every 2 s).
import { type ChildProcess, spawn } from 'node:child_process';
import * as vscode from 'vscode';
import { log } from './log';
import { Config } from './config';

export class ServerProcess implements vscode.Disposable {
  private child: ChildProcess | undefined;
  private timer: NodeJS.Timeout | undefined;
  private last: { total: number; at: number } | undefined;
  private readonly channel = vscode.window.createOutputChannel('PEFT Adapter Server');
  private readonly item = vscode.window.createStatusBarItem('peftStudio.adapterServer', vscode.StatusBarAlignment.Left, 50);
  url: string | undefined;
  apiKey: string | undefined;

  constructor(private readonly context: vscode.ExtensionContext) {
    this.item.name = 'PEFT Adapter Server';
    this.item.command = 'peftStudio.showAdapterServerLog';
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  showLog(): void {
    this.channel.show(true);
  }

  /** Starts `peft-studio serve ARGS`; resolves with its URL once it listens, rejects when it exits first. */
  start(args: string[], cwd: string | undefined, apiKey?: string): Promise<string> {
    if (this.child !== undefined) return Promise.reject(new Error(`the adapter server is already running at ${this.url ?? '?'}`));
    const cli = this.context.asAbsolutePath('dist/cli.js');
    const node = Config.read().nodePath || process.execPath;
    const script = `require(${JSON.stringify(cli)}).main(process.argv.slice(1)).then((c) => { process.exitCode = c; })`;
    log(`$ peft-studio serve ${args.join(' ')}`);
    this.channel.appendLine(`$ peft-studio serve ${args.join(' ')}`);
    const env = { ...process.env, ELECTRON_RUN_AS_NODE: '1', ...(apiKey !== undefined ? { PEFT_STUDIO_API_KEY: apiKey } : {}) };
    const child = spawn(node, ['-e', script, '--', 'serve', ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.apiKey = apiKey;
    this.item.text = '$(loading~spin) PEFT server starting';
    this.item.show();
    return new Promise((resolve, reject) => {
      let settled = false;
      const onLine = (chunk: Buffer): void => {
        const text = chunk.toString();
        this.channel.append(text);
        const m = /Listening on (http:\/\/\S+)/.exec(text);
        if (m !== null && !settled) {
          settled = true;
          this.url = m[1]!;
          this.poll();
          resolve(this.url);
        }
      };
      child.stdout!.on('data', onLine);
      child.stderr!.on('data', onLine);
      child.on('exit', (code, signal) => {
        this.channel.appendLine(`[the adapter server exited: ${signal ?? `code ${code}`}]`);
        this.clear();
        if (!settled) {
          settled = true;
          reject(new Error(`the adapter server exited before listening (code ${code ?? signal}); see the "PEFT Adapter Server" output`));
        }
      });
    });
  }

  private poll(): void {
    const tick = async (): Promise<void> => {
      if (this.url === undefined) return;
      try {
        const res = await fetch(`${this.url}/health`);
        const h = (await res.json()) as { requests_total: number };
        const now = Date.now();
        const rate = this.last !== undefined ? ((h.requests_total - this.last.total) * 1000) / Math.max(1, now - this.last.at) : 0;
        this.last = { total: h.requests_total, at: now };
        const port = new URL(this.url).port;
        this.item.text = `$(server) PEFT :${port} · ${rate.toFixed(1)} req/s`;
        this.item.tooltip = `Adapter server at ${this.url}: ${h.requests_total} requests. Click for its log.`;
      } catch {
        this.item.text = '$(server) PEFT server (not answering)';
      }
    };
    void tick();
    this.timer = setInterval(() => void tick(), 2000);
  }

  private clear(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.child = undefined;
    this.url = undefined;
    this.last = undefined;
    this.item.hide();
  }

  /** SIGTERM (the server finishes its queued requests), then SIGKILL after 10 s. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child === undefined) return;
    await new Promise<void>((resolve) => {
      const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      child.kill('SIGTERM');
    });
  }

  dispose(): void {
    this.child?.kill('SIGTERM');
    this.clear();
    this.item.dispose();
    this.channel.dispose();
  }
}
