// POST /v1/completions and /v1/chat/completions: a request resolved to its adapter (routes drawn), queued for a
// batch, answered as one JSON object or as server-sent events, with per-request timeout and disconnect handling.
import type * as http from 'node:http';
import * as crypto from 'node:crypto';
import { InputError } from '../errors';
import type { GenerateResult, TokenEvent } from '../generate/types';
import { HttpError, sendJson } from './http';
import type { ServeMetrics } from './metrics';
import type { ModelTable } from './models';
import { type Endpoint, StopCutter, chunkObject, finishReason, parseBody, responseObject, usage } from './openai';
import type { BatchScheduler } from './scheduler';

export interface CompletionContext {
  table: ModelTable;
  scheduler: BatchScheduler;
  metrics: ServeMetrics;
  maxTokens: number;
  timeoutMs: number;
  hasTokenizer: boolean;
  log: (line: string) => void;
}

/** Answers one completion request; returns the served model name and the HTTP status. */
export async function complete(ctx: CompletionContext, endpoint: Endpoint, body: unknown, res: http.ServerResponse): Promise<{ model: string; status: number }> {
  const p = parseBody(body, endpoint, { maxTokens: ctx.maxTokens });
  if (p.stop.length > 0 && !ctx.hasTokenizer) throw new InputError('serve-request', '"stop" needs the model\'s tokenizer (tokenizer.json)');
  if (endpoint === 'chat' && !ctx.hasTokenizer) throw new InputError('serve-request', 'chat completions need the model\'s tokenizer and chat template; use /v1/completions with token ids');
  const { name, adapterId } = ctx.table.resolve(p.model);
  const t0 = performance.now();
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => { timedOut = true; controller.abort(); }, ctx.timeoutMs);
  const onClose = (): void => { if (!res.writableEnded) controller.abort(); };
  res.on('close', onClose);
  const id = `${endpoint === 'chat' ? 'chatcmpl' : 'cmpl'}-${crypto.randomUUID().replace(/-/g, '')}`;
  const created = Math.floor(Date.now() / 1000);
  const cutter = new StopCutter(p.stop);
  let firstAt: number | undefined;
  let onToken: ((t: TokenEvent) => void) | undefined;
  const send = (o: unknown): void => { if (!res.writableEnded) res.write(`data: ${JSON.stringify(o)}\n\n`); };
  if (p.stream) {
    onToken = (t) => {
      firstAt ??= performance.now();
      if (!res.headersSent) {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
        if (endpoint === 'chat') send(chunkObject(endpoint, id, created, name, { role: true, text: '' }, null));
      }
      const text = cutter.push(t.text ?? '');
      if (text !== '' || p.returnTokenIds) send(chunkObject(endpoint, id, created, name, { text, ...(p.returnTokenIds ? { tokenIds: [t.id] } : {}) }, null));
    };
  } else {
    onToken = () => { firstAt ??= performance.now(); };
  }
  let r: GenerateResult;
  try {
    r = await ctx.scheduler.submit({ ...p.gen, adapter: adapterId, signal: controller.signal }, onToken);
  } finally {
    clearTimeout(timer);
    res.off('close', onClose);
  }
  const seconds = (performance.now() - t0) / 1000;
  ctx.metrics.latency.observe({ model: name }, seconds);
  if (firstAt !== undefined) ctx.metrics.ttft.observe({ model: name }, (firstAt - t0) / 1000);
  ctx.metrics.generated.inc({ model: name }, r.tokenIds.length);
  ctx.metrics.prompt.inc({ model: name }, r.promptTokens);
  if (timedOut) {
    if (p.stream && res.headersSent) {
      send({ error: { message: `the request timed out after ${ctx.timeoutMs / 1000} s`, type: 'timeout', code: 504 } });
      res.end('data: [DONE]\n\n');
      return { model: name, status: 504 };
    }
    throw new HttpError(504, `the request timed out after ${ctx.timeoutMs / 1000} s (${r.tokenIds.length} tokens generated)`, 'timeout');
  }
  if (r.finishReason === 'abort') {
    if (!res.writableEnded) res.end();
    return { model: name, status: 499 };
  }
  if (p.stream) {
    if (!res.headersSent) {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      if (endpoint === 'chat') send(chunkObject(endpoint, id, created, name, { role: true, text: '' }, null));
    }
    const rest = cutter.finish(r.text);
    if (rest !== '') send(chunkObject(endpoint, id, created, name, { text: rest }, null));
    send(chunkObject(endpoint, id, created, name, {}, finishReason(r)));
    if (p.includeUsage) send({ id, object: endpoint === 'chat' ? 'chat.completion.chunk' : 'text_completion', created, model: name, choices: [], usage: usage(r) });
    res.end('data: [DONE]\n\n');
  } else {
    if (r.text !== undefined) cutter.push(r.text);
    sendJson(res, 200, responseObject(endpoint, id, created, name, r, cutter.full, p.returnTokenIds));
  }
  return { model: name, status: 200 };
}
