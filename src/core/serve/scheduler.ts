// Gathers concurrent generation requests into batches of any mix of adapters: continuous batching (requests join
// the running stacked-LoRA batch at the next step), else rounds of generateBatch; adapter loads run in between.
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
  /** `rows` requests join a batch (continuous) or start a round; `waitedMs` per row is its time in the queue. */
  onRound?: (rows: number, waitedMs: number[]) => void;
  /** A forward pass with `rows` rows (continuous: every step; rounds: once per round). */
  onStep?: (rows: number) => void;
}

export class BatchScheduler {
  private readonly queue: Job[] = [];
  private readonly exclusive: Exclusive[] = [];
  private running = false;
  private closed = false;

  private readonly continuous: boolean;

  /** `rounds`: one generateBatch per round even where continuous batching works (comparisons, benchmarks). */
  constructor(private readonly gen: Generator, private readonly maxBatch: number, private readonly events: SchedulerEvents = {}, rounds = false) {
    this.continuous = gen.continuousBatching && !rounds;
  }

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
      if (this.queue.length === 0) return;
      if (this.continuous) {
        // Requests join the running batch at the next step; it ends when nothing runs or an adapter load waits.
        await this.gen.generateContinuous((free) => {
          if (this.exclusive.length > 0 || free <= 0 || this.queue.length === 0) return [];
          const jobs = this.queue.splice(0, free);
          const now = performance.now();
          this.events.onRound?.(jobs.length, jobs.map((j) => now - j.queuedAt));
          return jobs.map((j) => ({ req: j.req, onToken: j.onToken, done: j.resolve, fail: j.reject }));
        }, this.maxBatch, this.events.onStep).catch(() => undefined); // the rows of a failed step have failed with the error
        continue;
      }
      const jobs = this.queue.splice(0, this.maxBatch);
      this.events.onStep?.(jobs.length);
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
