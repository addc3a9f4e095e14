// The server's Prometheus metrics (prom-client, one registry per server): requests, tokens, queue, batch sizes and
// latency histograms, labelled by the adapter that served them; /metrics returns their text format.
import * as prom from 'prom-client';

const LATENCY = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export class ServeMetrics {
  readonly registry = new prom.Registry();
  readonly requests = new prom.Counter({ name: 'peft_serve_requests_total', help: 'Requests answered, by served model (adapter) and HTTP status', labelNames: ['model', 'status'] as const, registers: [this.registry] });
  readonly generated = new prom.Counter({ name: 'peft_serve_generated_tokens_total', help: 'New tokens generated, by served model', labelNames: ['model'] as const, registers: [this.registry] });
  readonly prompt = new prom.Counter({ name: 'peft_serve_prompt_tokens_total', help: 'Prompt tokens processed, by served model', labelNames: ['model'] as const, registers: [this.registry] });
  readonly latency = new prom.Histogram({ name: 'peft_serve_request_duration_seconds', help: 'Time from request to last token, by served model', labelNames: ['model'] as const, buckets: LATENCY, registers: [this.registry] });
  readonly ttft = new prom.Histogram({ name: 'peft_serve_time_to_first_token_seconds', help: 'Time from request to first token, by served model', labelNames: ['model'] as const, buckets: LATENCY, registers: [this.registry] });
  readonly queueWait = new prom.Histogram({ name: 'peft_serve_queue_wait_seconds', help: 'Time a request waited for its batch', buckets: LATENCY, registers: [this.registry] });
  readonly batchSize = new prom.Histogram({ name: 'peft_serve_batch_rows', help: 'Rows (requests) in each forward pass', buckets: [1, 2, 4, 8, 16, 32, 64], registers: [this.registry] });
  readonly queued = new prom.Gauge({ name: 'peft_serve_queue_depth', help: 'Requests waiting for a batch', registers: [this.registry] });
  readonly running = new prom.Gauge({ name: 'peft_serve_running_requests', help: 'Requests being answered (queued or generating)', registers: [this.registry] });
  readonly adapters = new prom.Gauge({ name: 'peft_serve_loaded_adapters', help: 'Adapters loaded on the base model', registers: [this.registry] });

  /** Total requests answered so far (all models and statuses), for /health and a requests/s display. */
  async total(): Promise<number> {
    const m = await this.requests.get();
    return m.values.reduce((s, v) => s + v.value, 0);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
