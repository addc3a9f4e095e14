// The host side of the generation worker: forks dist/genWorker.js, sends HostToGen messages and hands the
// GenToHost replies to a listener; a worker that dies is reported as a message, and started again on the next open.
import { fork, type ChildProcess } from 'node:child_process';
import { isGenToHost, type GenToHost, type HostToGen } from '../../shared/playground';

export interface GenClientOptions {
  /** Path of the worker bundle (dist/genWorker.js). */
  workerPath: string;
  execPath?: string;
  /** Node flags of the worker (tests run the TypeScript source with ['-r', 'tsx/cjs']). */
  execArgv?: string[];
  env?: NodeJS.ProcessEnv;
  onMessage: (m: GenToHost) => void;
  /** The worker exited unexpectedly (code/signal), or its stderr said something. */
  onLog?: (line: string) => void;
  onExit?: (message: string) => void;
}

export class GenClient {
  private child: ChildProcess | undefined;

  constructor(private readonly opts: GenClientOptions) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  send(m: HostToGen): void {
    const child = this.ensure();
    if (child.connected) child.send(m);
  }

  private ensure(): ChildProcess {
    if (this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null) return this.child;
    const child = fork(this.opts.workerPath, [], {
      execPath: this.opts.execPath ?? process.execPath,
      execArgv: this.opts.execArgv ?? [],
      env: { ...process.env, ...this.opts.env, ELECTRON_RUN_AS_NODE: '1' },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    child.stdout?.setEncoding('utf8').on('data', (s: string) => this.opts.onLog?.(s.trimEnd()));
    child.stderr?.setEncoding('utf8').on('data', (s: string) => this.opts.onLog?.(s.trimEnd()));
    child.on('message', (m: unknown) => { if (isGenToHost(m)) this.opts.onMessage(m); });
    child.on('error', (e) => this.opts.onLog?.(`generation worker error: ${e.message}`));
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      if (code !== 0 || signal !== null) this.opts.onExit?.(`the generation worker stopped (${signal ?? `exit code ${String(code)}`})`);
    });
    this.child = child;
    return child;
  }

  /** Ends the worker (it releases its session and exits on disconnect); kills it if it lingers. */
  dispose(): void {
    const child = this.child;
    this.child = undefined;
    if (child === undefined) return;
    if (child.connected) child.disconnect();
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.on('exit', () => clearTimeout(t));
  }
}
