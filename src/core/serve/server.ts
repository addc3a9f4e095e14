// The OpenAI-compatible adapter server: one base model and its LoRA adapters in one Generator (stacked LoRA, so a
// batch mixes adapters), routes with weights, vLLM's runtime adapter endpoints, /health and Prometheus /metrics.
import * as http from 'node:http';
import * as path from 'node:path';
import { InputError, PeftStudioError } from '../errors';
import { Generator } from '../generate/generator';
import type { DeviceName } from '../train/engineApi';
import { complete } from './completions';
import { HttpError, allowedFolder, authorized, readJson, sendError, sendJson } from './http';
import { ServeMetrics } from './metrics';
import { ModelTable, type RouteTarget } from './models';
import { MANIFEST, verifyVersion } from './registry';
import { BatchScheduler } from './scheduler';
import * as fs from 'node:fs';

export interface ServeOptions {
  modelDir: string;
  /** The base model's name in /v1/models (default: the model folder's name). */
  baseName?: string;
  adapters?: { name: string; dir: string }[];
  routes?: { name: string; targets: RouteTarget[] }[];
  host?: string;
  port?: number;
  apiKey?: string;
  /** Folders under which /v1/load_lora_adapter may load adapters (default: the cwd). */
  allowRoots?: string[];
  maxBodyBytes?: number;
  maxTokens?: number;
  requestTimeoutMs?: number;
  maxBatch?: number;
  /** 'continuous' (default where the cache is on the host) or 'rounds' (one batch per round). */
  batching?: 'continuous' | 'rounds';
  routeSeed?: number;
  device?: DeviceName;
  threads?: number;
  cacheDir?: string;
  log?: (line: string) => void;
}

/** An adapter folder checked before loading: a registered version must still match its manifest's sha256. */
function checkAdapterFolder(dir: string): void {
  if (fs.existsSync(path.join(dir, MANIFEST))) verifyVersion(dir);
}

export class AdapterServer {
  private readonly http: http.Server;
  private readonly started = Date.now();

  private constructor(
    readonly gen: Generator,
    readonly table: ModelTable,
    readonly scheduler: BatchScheduler,
    readonly metrics: ServeMetrics,
    private readonly o: Required<Pick<ServeOptions, 'maxBodyBytes' | 'maxTokens' | 'requestTimeoutMs' | 'allowRoots'>> & ServeOptions,
  ) {
    this.http = http.createServer((req, res) => void this.handle(req, res));
    this.http.requestTimeout = 0;
    this.http.headersTimeout = 30_000;
  }

  static async start(opts: ServeOptions): Promise<AdapterServer> {
    const adapters = opts.adapters ?? [];
    const table = new ModelTable(opts.baseName ?? path.basename(path.resolve(opts.modelDir)), opts.routeSeed ?? Date.now() % 2 ** 32);
    const dirs = new Map<string, string>();
    for (const a of adapters) {
      table.checkNewName(a.name);
      const abs = path.resolve(a.dir);
      if (dirs.has(abs)) throw new InputError('serve-adapter', `adapters "${dirs.get(abs)}" and "${a.name}" are the same folder`, { file: abs });
      dirs.set(abs, a.name);
      checkAdapterFolder(abs);
      table.adapters.set(a.name, { id: '', path: abs });
    }
    const gen = await Generator.open(opts.modelDir, {
      adapters: adapters.map((a) => path.resolve(a.dir)), lora: 'stacked',
      ...(opts.device !== undefined ? { device: opts.device } : {}), ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
      ...(opts.cacheDir !== undefined ? { cacheDir: opts.cacheDir } : {}),
    });
    gen.adapterIds.forEach((id, i) => { table.adapters.get(adapters[i]!.name)!.id = id; });
    for (const r of opts.routes ?? []) {
      table.checkNewName(r.name);
      table.setRoute(r.name, r.targets);
    }
    const metrics = new ServeMetrics();
    metrics.adapters.set(adapters.length);
    const scheduler = new BatchScheduler(gen, opts.maxBatch ?? 16, {
      onRound: (_rows, waited) => { for (const w of waited) metrics.queueWait.observe(w / 1000); },
      onStep: (rows) => metrics.batchSize.observe(rows),
    }, opts.batching === 'rounds');
    const server = new AdapterServer(gen, table, scheduler, metrics, {
      maxBodyBytes: 1 << 20, maxTokens: 2048, requestTimeoutMs: 300_000, allowRoots: [process.cwd()], ...opts,
    });
    await new Promise<void>((resolve, reject) => {
      server.http.once('error', reject);
      server.http.listen(opts.port ?? 8000, opts.host ?? '127.0.0.1', () => { server.http.off('error', reject); resolve(); });
    });
    return server;
  }

  get port(): number {
    return (this.http.address() as { port: number }).port;
  }

  get url(): string {
    const host = this.o.host ?? '127.0.0.1';
    return `http://${host.includes(':') ? `[${host}]` : host}:${this.port}`;
  }

  private log(line: string): void {
    this.o.log?.(line);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const t0 = performance.now();
    const url = (req.url ?? '/').split('?')[0]!;
    let model = '-';
    let status = 200;
    this.metrics.running.inc();
    try {
      if (url === '/health' && req.method === 'GET') {
        sendJson(res, 200, { status: 'ok', model: this.table.baseName, adapters: [...this.table.adapters.keys()], routes: [...this.table.routes.keys()], requests_total: await this.metrics.total(), queue: this.scheduler.queued, uptime_s: (Date.now() - this.started) / 1000 });
        return;
      }
      if (this.o.apiKey !== undefined && !authorized(req, this.o.apiKey)) throw new HttpError(401, 'missing or wrong API key (send Authorization: Bearer KEY)', 'authentication_error');
      const route = `${req.method} ${url}`;
      if (route === 'GET /metrics') {
        this.metrics.queued.set(this.scheduler.queued);
        const text = await this.metrics.text();
        res.writeHead(200, { 'content-type': this.metrics.contentType });
        res.end(text);
        return;
      }
      if (route === 'GET /v1/models') {
        const created = Math.floor(this.started / 1000);
        sendJson(res, 200, { object: 'list', data: this.table.names().map((n) => ({ id: n.id, object: 'model', created, owned_by: 'peft-studio', root: n.kind === 'adapter' ? this.table.adapters.get(n.id)!.path : this.gen.inventory.dir, parent: n.kind === 'base' ? null : this.table.baseName, kind: n.kind, ...(n.kind === 'route' ? { targets: this.table.routes.get(n.id) } : {}) })) });
        return;
      }
      if (route === 'GET /v1/routes') {
        sendJson(res, 200, { routes: Object.fromEntries(this.table.routes) });
        return;
      }
      if (req.method !== 'POST') throw new HttpError(404, `no route ${route}`);
      const body = await readJson(req, this.o.maxBodyBytes);
      if (url === '/v1/completions' || url === '/v1/chat/completions') {
        this.metrics.queued.set(this.scheduler.queued + 1);
        const r = await complete({
          table: this.table, scheduler: this.scheduler, metrics: this.metrics, maxTokens: this.o.maxTokens, timeoutMs: this.o.requestTimeoutMs,
          hasTokenizer: this.gen.tokenizer !== null, log: (l) => this.log(l),
        }, url === '/v1/completions' ? 'completions' : 'chat', body, res);
        model = r.model;
        status = r.status;
      } else if (url === '/v1/load_lora_adapter') {
        await this.loadAdapter(body);
        res.writeHead(200, { 'content-type': 'text/plain' }).end(`Success: LoRA adapter '${(body as Record<string, string>)['lora_name']}' added successfully.`);
      } else if (url === '/v1/unload_lora_adapter') {
        await this.unloadAdapter(body);
        res.writeHead(200, { 'content-type': 'text/plain' }).end(`Success: LoRA adapter '${(body as Record<string, string>)['lora_name']}' removed successfully.`);
      } else if (url === '/v1/routes') {
        this.setRoute(body);
        sendJson(res, 200, { routes: Object.fromEntries(this.table.routes) });
      } else {
        throw new HttpError(404, `no route ${route}`);
      }
    } catch (e) {
      status = e instanceof HttpError ? e.status : e instanceof InputError ? (e.code === 'serve-unknown-model' ? 404 : 400) : 500;
      const message = e instanceof Error ? e.message : String(e);
      sendError(res, status, message, e instanceof HttpError ? e.type : status === 404 ? 'not_found_error' : status === 400 ? 'invalid_request_error' : 'server_error');
      if (status === 500 && !(e instanceof PeftStudioError)) this.log(`error: ${e instanceof Error ? e.stack ?? message : message}`);
    } finally {
      this.metrics.running.dec();
      if (url.startsWith('/v1/') && url.includes('completions')) this.metrics.requests.inc({ model, status: String(status) });
      this.log(`${req.method} ${url} ${status} model=${model} ${(performance.now() - t0).toFixed(0)} ms`);
    }
  }

  private field(body: unknown, name: string): string {
    const v = typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[name] : undefined;
    if (typeof v !== 'string' || v === '') throw new InputError('serve-request', `"${name}" must be a non-empty string`);
    return v;
  }

  private async loadAdapter(body: unknown): Promise<void> {
    const name = this.field(body, 'lora_name');
    this.table.checkNewName(name);
    const dir = allowedFolder(this.field(body, 'lora_path'), this.o.allowRoots);
    const same = [...this.table.adapters].find(([, a]) => a.path === dir);
    if (same !== undefined) throw new InputError('serve-adapter', `that folder is already loaded as "${same[0]}"`, { file: dir });
    checkAdapterFolder(dir);
    const id = await this.scheduler.runExclusive(() => this.gen.addAdapter(dir));
    this.table.adapters.set(name, { id, path: dir });
    this.metrics.adapters.set(this.table.adapters.size);
  }

  private async unloadAdapter(body: unknown): Promise<void> {
    const name = this.field(body, 'lora_name');
    const a = this.table.adapters.get(name);
    if (a === undefined) throw new HttpError(404, `no adapter "${name}" is loaded`, 'not_found_error');
    const routes = this.table.routesUsing(name);
    if (routes.length > 0) throw new InputError('serve-adapter-in-route', `adapter "${name}" is in route ${routes.map((r) => `"${r}"`).join(', ')}`, { hint: 'Change the route first (POST /v1/routes)' });
    this.table.adapters.delete(name);
    await this.scheduler.runExclusive(async () => this.gen.removeAdapter(a.id));
    this.metrics.adapters.set(this.table.adapters.size);
  }

  /** POST /v1/routes {"name", "targets": [{"adapter", "weight"}] | {"ADAPTER": WEIGHT}}: sets or replaces a route. */
  private setRoute(body: unknown): void {
    const name = this.field(body, 'name');
    const raw = (body as Record<string, unknown>)['targets'];
    let targets: RouteTarget[];
    if (Array.isArray(raw)) targets = raw.map((t) => ({ adapter: String((t as Record<string, unknown>)?.['adapter']), weight: Number((t as Record<string, unknown>)?.['weight']) }));
    else if (typeof raw === 'object' && raw !== null) targets = Object.entries(raw).map(([adapter, weight]) => ({ adapter, weight: Number(weight) }));
    else throw new InputError('serve-request', '"targets" must be a list of {"adapter", "weight"} or an object ADAPTER → WEIGHT');
    if (!this.table.routes.has(name)) this.table.checkNewName(name);
    this.table.setRoute(name, targets);
  }

  /** Stops accepting connections, lets the queued requests finish, and releases the model. */
  async close(): Promise<void> {
    this.scheduler.close();
    await new Promise<void>((resolve) => {
      this.http.close(() => resolve());
      this.http.closeIdleConnections();
    });
    await this.scheduler.runExclusive(async () => undefined);
    await this.gen.dispose();
  }
}
