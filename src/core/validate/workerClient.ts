// The host side of the validation worker (a forked process, so that not even an out-of-memory abort reaches the
// editor): one job at a time, the newest job per document, and a time budget per job — past it the worker is killed
// and the job ends with a "validation gave up" problem.
import { fork, type ChildProcess } from 'node:child_process';
import { problem, ZERO_RANGE } from './text';
import type { ValidationJob } from './job';
import type { HostToValidator, ValidatorToHost } from './workerProtocol';
import type { Problem } from './types';

export interface ValidationWorkerOptions {
  /** The worker bundle (dist/validateWorker.js), or a .ts entry with `execArgv` that loads a TypeScript hook (tests). */
  workerPath: string;
  execArgv?: string[];
  /** Node binary; in desktop VS Code process.execPath is Electron, run as Node via ELECTRON_RUN_AS_NODE. */
  execPath?: string;
  /** The time budget of one job in milliseconds (read when the job starts). */
  timeLimitMs: () => number;
  /** Heap limit of the worker process (default 2048 MB): past it the job ends as "gave up", not the editor. */
  maxHeapMb?: number;
}

interface Pending {
  key: string;
  job: ValidationJob;
  partial: ((ps: Problem[]) => void) | undefined;
  resolve: (ps: Problem[] | null) => void;
}

interface Running extends Pending {
  id: number;
  timer: NodeJS.Timeout;
  limitMs: number;
  latest: Problem[];
  superseded: boolean;
}

/** What a job is, for the "gave up" message. */
const WHAT: Record<ValidationJob['kind'], string> = {
  adapter_config: 'checking adapter_config.json against the base model took too long',
  recipe: 'checking peft-train.yaml, its base model and its tokenizer\'s chat template took too long (a template that loops?)',
  dataset: 'the data set lint took too long (the problems found so far are shown)',
};

/** The problem that ends a job abandoned after `seconds` (a warning: it blocks nothing; the CLI can still check). */
export function gaveUpProblem(kind: ValidationJob['kind'], seconds: number, why = WHAT[kind]): Problem {
  const s = Number.isInteger(seconds) ? String(seconds) : seconds.toFixed(1);
  return problem(ZERO_RANGE, 'warning', 'validation-gave-up', `Validation gave up after ${s} s: ${why}. Run \`peft-studio validate\` on the file for the full check, or raise the peftStudio.validationTimeLimitSeconds setting.`);
}

export class ValidationWorkers {
  private worker: ChildProcess | null = null;
  private running: Running | null = null;
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private disposed = false;

  constructor(private readonly opts: ValidationWorkerOptions) {}

  /**
   * The problems of `job`, run off this thread; null when a newer job for the same `key` (document) replaced it.
   * `partial` gets the problems found so far while a data set is linted.
   */
  run(key: string, job: ValidationJob, partial?: (ps: Problem[]) => void): Promise<Problem[] | null> {
    return new Promise((resolve) => {
      if (this.disposed) return resolve(null);
      for (let i = this.queue.length - 1; i >= 0; i--) {
        if (this.queue[i]!.key === key) this.queue.splice(i, 1)[0]!.resolve(null);
      }
      if (this.running?.key === key) {
        this.running.superseded = true;
        this.post({ type: 'cancel', id: this.running.id });
      }
      this.queue.push({ key, job, partial, resolve });
      this.pump();
    });
  }

  /** A model file changed: the worker forgets what it cached for that folder. */
  invalidate(file: string): void {
    this.post({ type: 'invalidate', file });
  }

  dispose(): void {
    this.disposed = true;
    for (const p of this.queue.splice(0)) p.resolve(null);
    this.finish(null);
    this.stopWorker();
  }

  private post(m: HostToValidator): void {
    if (this.worker?.connected === true) this.worker.send(m);
  }

  private pump(): void {
    if (this.running !== null || this.disposed) return;
    const next = this.queue.shift();
    if (next === undefined) return;
    const worker = this.worker ?? this.startWorker();
    const id = this.nextId++;
    const limitMs = Math.max(100, this.opts.timeLimitMs());
    const timer = setTimeout(() => this.giveUp(gaveUpProblem(next.job.kind, limitMs / 1000)), limitMs);
    this.running = { ...next, id, timer, limitMs, latest: [], superseded: false };
    if (worker.connected) worker.send({ type: 'run', id, job: next.job } satisfies HostToValidator);
  }

  private startWorker(): ChildProcess {
    const w = fork(this.opts.workerPath, [], {
      execPath: this.opts.execPath ?? process.execPath,
      execArgv: [...(this.opts.execArgv ?? []), `--max-old-space-size=${this.opts.maxHeapMb ?? 2048}`],
      env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    let stderr = '';
    w.stderr?.setEncoding('utf8').on('data', (t: string) => {
      stderr = (stderr + t).slice(-4000);
    });
    w.on('message', (m: ValidatorToHost) => this.onMessage(w, m));
    w.on('error', (e) => {
      if (w !== this.worker) return;
      if (this.running !== null) this.giveUp(problem(ZERO_RANGE, 'warning', 'validation-gave-up', `Validation gave up: the validation worker could not run (${e.message}). Run \`peft-studio validate\` on the file for the full check.`));
      else this.stopWorker();
    });
    w.on('exit', (code, signal) => {
      if (w !== this.worker) return;
      this.worker = null;
      if (this.running === null) return;
      const why = /heap out of memory|Reached heap limit/.test(stderr) ? 'it ran out of memory (a huge file or model header?)' : `the validation worker stopped (${signal ?? `exit code ${String(code)}`})`;
      this.giveUp(problem(ZERO_RANGE, 'warning', 'validation-gave-up', `Validation gave up: ${why}. Run \`peft-studio validate\` on the file for the full check.`));
    });
    this.worker = w;
    return w;
  }

  private stopWorker(): void {
    const w = this.worker;
    this.worker = null;
    if (w !== null && w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
  }

  private onMessage(w: ChildProcess, m: ValidatorToHost): void {
    const r = this.running;
    if (w !== this.worker || r === null || m.id !== r.id) return;
    if (m.type === 'partial') {
      r.latest = m.problems;
      if (!r.superseded) r.partial?.(m.problems);
    } else if (m.type === 'done') {
      this.finish(m.problems);
    } else {
      this.finish([problem(ZERO_RANGE, 'error', 'internal', `Validator error (please report): ${m.message}`)]);
    }
  }

  /** The job in flight is abandoned: the worker is killed (a fresh one takes the next job). */
  private giveUp(p: Problem): void {
    const r = this.running;
    if (r === null) return;
    this.stopWorker();
    this.finish([...r.latest, p]);
  }

  private finish(problems: Problem[] | null): void {
    const r = this.running;
    if (r === null) return;
    clearTimeout(r.timer);
    this.running = null;
    r.resolve(r.superseded || problems === null ? null : problems);
    this.pump();
  }
}
