// One training run in a forked worker process (dist/worker.js): sends HostToWorker messages, folds the
// WorkerToHost events into a RunView, and turns a crash (exit without done/error) into a failed run.json.
import { fork, type ChildProcess } from 'node:child_process';
import type { HostToWorker, RunEvent } from '../../shared/protocol';
import { isRunEvent } from '../../shared/protocol';
import type { RunView } from '../../shared/dashboard';
import { markRunFailed } from './readRuns';
import { applyEvent, applyWorkerExit, emptyRunView, lastStep } from './runState';
import { errorMessage } from '../errors';

export interface WorkerRunOptions {
  /** Path of the worker bundle (dist/worker.js). */
  workerPath: string;
  /** The peft-train.yaml to train. */
  config: string;
  /** Run folder (latest checkpoint) or checkpoint folder to resume from. */
  resume?: string;
  device?: string;
  env?: NodeJS.ProcessEnv;
  /** Node binary; in desktop VS Code process.execPath is Electron, run as Node via ELECTRON_RUN_AS_NODE. */
  execPath?: string;
  /** After a stop request, how long the worker may take to write its checkpoint before it is killed. */
  stopTimeoutMs?: number;
  onEvent?: (e: RunEvent, view: RunView) => void;
  /** stdout/stderr lines of the worker, for the output channel. */
  onLog?: (line: string) => void;
}

export interface WorkerRunResult {
  view: RunView;
  exitCode: number | null;
  signal: string | null;
  /** Set when the worker ended without done/error (the run was marked failed). */
  crash?: string;
}

export class WorkerRun {
  readonly view: RunView;
  readonly finished: Promise<WorkerRunResult>;
  private readonly child: ChildProcess;
  private stopTimer: NodeJS.Timeout | undefined;
  private stopRequested = false;

  constructor(private readonly opts: WorkerRunOptions) {
    this.view = emptyRunView(opts.resume ?? '', '(starting)');
    this.child = fork(opts.workerPath, [], {
      execPath: opts.execPath ?? process.execPath,
      execArgv: [],
      env: { ...process.env, ...opts.env, ELECTRON_RUN_AS_NODE: '1' },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    this.pipeLines(this.child.stdout);
    this.pipeLines(this.child.stderr);
    this.child.on('message', (m: unknown) => this.onMessage(m));
    this.finished = new Promise((resolve) => {
      let spawnError: Error | undefined;
      let ended = false;
      const onEnd = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (ended) return;
        ended = true;
        if (this.stopTimer !== undefined) clearTimeout(this.stopTimer);
        let crash = applyWorkerExit(this.view, code, signal);
        if (crash !== undefined && spawnError !== undefined) crash = `${crash.replace(/\.$/, '')} (${spawnError.message}).`;
        if (crash !== undefined && this.view.start !== undefined) {
          try {
            markRunFailed(this.view.dir, crash, { lastStep: lastStep(this.view) });
          } catch (e) {
            this.log(`could not update run.json: ${errorMessage(e)}`);
          }
        }
        resolve({ view: this.view, exitCode: code, signal, ...(crash !== undefined ? { crash } : {}) });
      };
      this.child.on('error', (err) => {
        spawnError = err;
        this.log(`worker error: ${err.message}`);
        // a process that never started (bad execPath) emits no 'exit'
        if (this.child.pid === undefined) onEnd(null, null);
      });
      this.child.on('exit', onEnd);
    });
    const msg: HostToWorker = { type: 'train', config: opts.config };
    if (opts.resume !== undefined) msg.resume = opts.resume;
    if (opts.device !== undefined) msg.device = opts.device;
    this.send(msg);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get stopping(): boolean {
    return this.stopRequested;
  }

  /** Asks the worker to stop (it writes a checkpoint and the adapter); kills it if it has not exited in time. */
  stop(): void {
    if (this.stopRequested || this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.stopRequested = true;
    this.send({ type: 'stop' });
    this.stopTimer = setTimeout(() => {
      this.log(`worker did not stop within ${this.opts.stopTimeoutMs ?? 30000} ms; killing it`);
      this.child.kill('SIGKILL');
    }, this.opts.stopTimeoutMs ?? 30000);
  }

  /** Kills the worker at once (extension deactivation). */
  kill(): void {
    this.child.kill('SIGKILL');
  }

  private send(msg: HostToWorker): void {
    if (this.child.connected) this.child.send(msg);
  }

  private onMessage(m: unknown): void {
    if (typeof m !== 'object' || m === null) return;
    const record = (m as { type?: unknown; record?: unknown }).type === 'event' ? (m as { record?: unknown }).record : undefined;
    if (!isRunEvent(record)) return;
    applyEvent(this.view, record);
    this.opts.onEvent?.(record, this.view);
  }

  private pipeLines(stream: NodeJS.ReadableStream | null): void {
    if (stream === null) return;
    let buf = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      buf += chunk;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        this.log(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
    stream.on('end', () => {
      if (buf !== '') this.log(buf);
      buf = '';
    });
  }

  private log(line: string): void {
    this.opts.onLog?.(line);
  }
}
