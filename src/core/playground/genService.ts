// The Playground's generation service: one stacked-LoRA Generator (base weights once, every adapter a feed set)
// that answers HostToGen messages and streams GenToHost replies; run in the generation worker (src/worker/genWorker.ts).
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { errorMessage } from '../errors';
import { type LoadedAdapter, loadAdapter } from '../generate/adapter';
import { stackRefusal } from '../generate/adapterInputs';
import { Generator } from '../generate/generator';
import { loadModel } from '../hf/loadModel';
import type { GenerateRequest } from '../generate/types';
import type { DeviceName } from '../train/engineApi';
import type { GenToHost, HostToGen, PgAdapterInfo, PgColumnRequest } from '../../shared/playground';

/** sha256 of an adapter's weights (adapter_model.safetensors), hex; undefined when the file is missing. */
export function adapterSha256(dir: string): string | undefined {
  const file = path.join(dir, 'adapter_model.safetensors');
  if (!fs.existsSync(file)) return undefined;
  const h = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0;) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

export interface GenServiceOptions {
  /** Graph cache folder (tests); default the Generator's. */
  cacheDir?: string;
}

export class GenService {
  private gen: Generator | undefined;
  private readonly failed = new Map<string, string>();
  private readonly running = new Map<number, AbortController>();
  private opening: Promise<void> = Promise.resolve();

  constructor(private readonly send: (m: GenToHost) => void, private readonly opts: GenServiceOptions = {}) {}

  /** Handles one message; resolves when it has been answered in full (a generation: after its `done`). */
  handle(m: HostToGen): Promise<void> {
    switch (m.type) {
      case 'open':
        this.opening = this.opening.then(() => this.open(m));
        return this.opening;
      case 'generate':
        return this.opening.then(() => this.generate(m.id, m.columns));
      case 'cancel':
        this.running.get(m.id)?.abort();
        return Promise.resolve();
    }
  }

  async dispose(): Promise<void> {
    for (const c of this.running.values()) c.abort();
    await this.gen?.dispose();
    this.gen = undefined;
  }

  /**
   * Opens the model with every adapter that loads, in one session: the adapters are checked against the model first
   * (so that a bad one is its column's message) and then all open together, because adding them one by one could
   * rebuild the session and briefly hold two sessions' weights.
   */
  private async open(m: Extract<HostToGen, { type: 'open' }>): Promise<void> {
    await this.dispose();
    this.failed.clear();
    const good: LoadedAdapter[] = [];
    const adapters: PgAdapterInfo[] = [];
    let gen: Generator;
    try {
      const inv = loadModel(m.model);
      for (const dir of m.adapters) {
        const abs = path.resolve(dir);
        try {
          const loaded = loadAdapter(abs, inv);
          const refusal = stackRefusal(inv, loaded);
          if (refusal !== null) throw refusal;
          const id = loaded.dir;
          good.push(loaded);
          const sha = adapterSha256(id);
          adapters.push({ dir: id, ...(sha !== undefined ? { sha256: sha } : {}) });
        } catch (e) {
          this.failed.set(abs, errorMessage(e));
          adapters.push({ dir: abs, error: errorMessage(e) });
        }
      }
      gen = await Generator.open(m.model, {
        // The adapters as loaded here (read once: the Generator does not read their files again).
        lora: 'stacked', memoryAdapters: good, ...(m.device !== undefined ? { device: m.device as DeviceName } : {}),
        ...(m.threads !== undefined ? { threads: m.threads } : {}), ...(m.prepack !== undefined ? { prepack: m.prepack } : {}),
        ...(this.opts.cacheDir !== undefined ? { cacheDir: this.opts.cacheDir } : {}),
      });
    } catch (e) {
      this.send({ type: 'openError', message: errorMessage(e) });
      return;
    }
    this.gen = gen;
    this.send({
      type: 'opened', model: gen.inventory.dir, adapters, maxLength: gen.maxLength,
      tokenizer: gen.tokenizer !== null, chatTemplate: gen.tokenizer?.chatTemplate != null,
    });
  }

  /** Checks a column before the batch: its adapter loaded, its prompt tokenizable and short enough. */
  private columnRequest(c: PgColumnRequest): GenerateRequest {
    const gen = this.gen!;
    const adapter = c.adapter === null ? null : path.resolve(c.adapter);
    if (adapter !== null && this.failed.has(adapter)) throw new Error(this.failed.get(adapter));
    const s = c.sampling;
    const req: GenerateRequest = {
      adapter, maxNewTokens: s.maxNewTokens, temperature: s.temperature, topK: s.topK, topP: s.topP, repetitionPenalty: s.repetitionPenalty, seed: s.seed,
      ...(c.messages !== undefined ? { messages: c.messages.map((t) => ({ role: t.role, content: t.content })) } : { prompt: c.prompt ?? '' }),
    };
    gen.promptIds(req);
    return req;
  }

  private async generate(id: number, columns: PgColumnRequest[]): Promise<void> {
    const gen = this.gen;
    if (gen === undefined) {
      columns.forEach((_, column) => this.send({ type: 'columnError', id, column, message: 'no model is open: choose a base model first' }));
      this.send({ type: 'done', id });
      return;
    }
    const ok: { column: number; req: GenerateRequest }[] = [];
    columns.forEach((c, column) => {
      try {
        ok.push({ column, req: this.columnRequest(c) });
      } catch (e) {
        this.send({ type: 'columnError', id, column, message: errorMessage(e) });
      }
    });
    const controller = new AbortController();
    this.running.set(id, controller);
    try {
      if (ok.length > 0) {
        const results = await gen.generateBatch(ok.map((o) => o.req), {
          signal: controller.signal,
          onToken: (t) => this.send({ type: 'token', id, column: ok[t.row]!.column, token: t.id, text: t.text ?? '' }),
        });
        results.forEach((r, i) => this.send({
          type: 'columnDone', id, column: ok[i]!.column,
          result: { tokenIds: r.tokenIds, text: r.text ?? '', finishReason: r.finishReason, promptTokens: r.promptTokens, ttftMs: r.ttftMs, tokensPerS: r.tokensPerS },
        }));
      }
    } catch (e) {
      for (const o of ok) this.send({ type: 'columnError', id, column: o.column, message: errorMessage(e) });
    } finally {
      this.running.delete(id);
      this.send({ type: 'done', id });
    }
  }
}
