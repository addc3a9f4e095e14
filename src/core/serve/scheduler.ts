// Gathers concurrent generation requests into batches: each round takes what is queued (up to maxBatch rows, any
// mix of adapters) into one stacked-LoRA generateBatch; adapter loads and unloads run between rounds.
import type { GenerateRequest, GenerateResult, Generator, TokenEvent } from '../generate/generator';

interface Job {
  req: GenerateRequest;
  onToken: ((t: TokenEvent) => void) | undefined;
  queuedAt: number;
  resolve: (r: GenerateResult) => void;
  reject: (e: unknown) => void;
}

interface Exclusive {
  fn: () => Promise<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

export interface SchedulerEvents {
  /** A round starts with `rows` requests; `waitedMs` per row is its time in the queue. */
  onRound?: (rows: number, waitedMs: number[]) => void;
}

export class BatchScheduler {
  private readonly queue: Job[] = [];
  private readonly exclusive: Exclusive[] = [];
  private running = false;
  private closed = false;

  constructor(private readonly gen: Generator, private readonly maxBatch: number, private readonly events: SchedulerEvents = {}) {}

  /** Requests waiting for a round. */
  get queued(): number {
    return this.queue.length;
  }

  /** Resolves with the request's result once its round ends (or it is aborted through req.signal). */
  submit(req: GenerateRequest, onToken?: (t: TokenEvent) => void): Promise<GenerateResult> {
    if (this.closed) return Promise.reject(new Error('the server is shutting down'));
    return new Promise((resolve, reject) => {
      this.queue.push({ req, onToken, queuedAt: performance.now(), resolve, reject });
      this.kick();
    });
  }

  /** Runs fn alone, between rounds (adapter loading changes the Generator's feeds). */
  runExclusive<T>(fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.exclusive.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      this.kick();
    });
  }

  /** Refuses new requests; the queued ones still run. */
  close(): void {
    this.closed = true;
  }

  private kick(): void {
    if (this.running) return;
    this.running = true;
    // One event-loop turn first, so that requests arriving together share the first round as well.
    void new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.loop()).finally(() => {
      this.running = false;
      if (this.queue.length > 0 || this.exclusive.length > 0) this.kick();
    });
  }

  private async loop(): Promise<void> {
    for (;;) {
      const ex = this.exclusive.shift();
      if (ex !== undefined) {
        try {
          ex.resolve(await ex.fn());
        } catch (e) {
          ex.reject(e);
        }
        continue;
      }
      const jobs = this.queue.splice(0, this.maxBatch);
      if (jobs.length === 0) return;
      const now = performance.now();
      this.events.onRound?.(jobs.length, jobs.map((j) => now - j.queuedAt));
      await this.round(jobs);
    }
  }

  private async round(jobs: Job[]): Promise<void> {
    // A request whose input is bad fails alone, not with its round: plan each row first by a dry check.
    const ok: Job[] = [];
    for (const j of jobs) {
      try {
        this.gen.promptIds(j.req);
        ok.push(j);
      } catch (e) {
        j.reject(e);
      }
    }
    if (ok.length === 0) return;
    try {
      const results = await this.gen.generateBatch(ok.map((j) => j.req), { onToken: (t) => ok[t.row]!.onToken?.(t) });
      results.forEach((r, i) => ok[i]!.resolve(r));
    } catch (e) {
      // Requests are checked when they are parsed, so a failing round is a real fault: all its rows get the error.
      for (const j of ok) j.reject(e);
    }
  }
}
