// The generation engine: opens a model's inference graph once (one onnxruntime session, base weights once), holds
// adapters as feed sets, and generates token by token with a KV cache, streaming, sampling and cancellation.
import * as os from 'node:os';
import * as path from 'node:path';
import { InputError } from '../errors';
import { GraphSession } from '../graph';
import { loadModel } from '../hf/loadModel';
import { type ChatMessage, type HfTokenizer, loadTokenizer } from '../hf/tokenizer';
import type { ModelInventory, ModuleInfo } from '../hf/types';
import { cacheKey, prepareGraphFolder } from '../train/graphCache';
import { sessionOptions } from '../train/engine';
import type { DeviceName } from '../train/engineApi';
import { Rng } from '../util/random';
import { type LoadedAdapter, loadAdapter } from './adapter';
import { type Feeds, KvCache, adapterFeeds } from './feeds';
import { type GenerationDefaults, readGenerationDefaults } from './generationConfig';
import { GEN, buildInferenceGraph } from './graph';
import { type SamplingOptions, checkSampling, chooseToken, logProb } from './sampling';
import { TextStream } from './textStream';

export interface GeneratorOptions {
  device?: DeviceName;
  /** ORT intra-op threads (default: all cores). */
  threads?: number;
  /** Adapter folders to load now; their modules decide the graph's LoRA inputs. */
  adapters?: string[];
  /** Folder for the compiled graph (hard links to the weights); default $PEFT_STUDIO_GRAPH_CACHE or the OS temp dir. */
  cacheDir?: string;
}

/** What to generate from: exactly one of inputIds, prompt (tokenized as is) or messages (the chat template). */
export interface GenerateRequest extends SamplingOptions {
  inputIds?: readonly number[];
  prompt?: string;
  messages?: readonly ChatMessage[];
  /** An id from addAdapter, or null/undefined for the base model. */
  adapter?: string | null;
  maxNewTokens?: number;
  /** Seed of the sampling Rng (default 0): the same seed and settings give the same tokens. */
  seed?: number;
  /** Generation stops once the new text contains one of these (it is kept in the text, as transformers). */
  stop?: readonly string[];
  /** Extra ids that end generation, besides generation_config.json's eos_token_id. */
  eosTokenIds?: readonly number[];
  /** Generate max_new_tokens even past an EOS token (benchmarks, parity tests). */
  ignoreEos?: boolean;
}

export interface TokenEvent {
  event: 'token';
  id: number;
  /** The text this token completes ('' while a multi-byte character is still incomplete; absent without a tokenizer). */
  text?: string;
  logprob: number;
}

export type FinishReason = 'eos' | 'length' | 'stop' | 'abort';

export interface GenerateResult {
  tokenIds: number[];
  logprobs: number[];
  text?: string;
  promptTokens: number;
  finishReason: FinishReason;
  /** Time from the call to the first new token. */
  ttftMs: number;
  /** Decode speed: (n − 1) tokens over the time from the first to the last token (n / total time when n < 2). */
  tokensPerS: number;
}

export interface GenerateControls {
  signal?: AbortSignal;
  onToken?: (t: TokenEvent) => void;
}

export class Generator {
  private session: GraphSession | undefined;
  private modules: ModuleInfo[] = [];
  private readonly adapters = new Map<string, { adapter: LoadedAdapter; feeds: Feeds | undefined }>();
  private baseFeeds: Feeds | undefined;
  private busy = false;

  private constructor(
    readonly inventory: ModelInventory,
    readonly tokenizer: HfTokenizer | null,
    readonly defaults: GenerationDefaults,
    private readonly opts: GeneratorOptions,
  ) {}

  /** Loads the model (config, safetensors headers, tokenizer when present), the adapters, and opens the session. */
  static async open(modelDir: string, opts: GeneratorOptions = {}): Promise<Generator> {
    const inv = loadModel(modelDir);
    if (inv.source !== 'safetensors') throw new InputError('generate.noWeights', 'the model folder has no safetensors weights', { file: inv.dir });
    let tokenizer: HfTokenizer | null = null;
    try {
      tokenizer = await loadTokenizer(inv.dir);
    } catch (e) {
      if (!(e instanceof InputError && e.code === 'tokenizer.missing')) throw e;
    }
    const gen = new Generator(inv, tokenizer, readGenerationDefaults(inv.dir), opts);
    for (const dir of opts.adapters ?? []) gen.loadAdapterFiles(dir);
    await gen.openSession();
    return gen;
  }

  /** Ids of the loaded adapters (their folders). */
  get adapterIds(): string[] {
    return [...this.adapters.keys()];
  }

  private loadAdapterFiles(dir: string): string {
    const adapter = loadAdapter(dir, this.inventory);
    this.adapters.set(adapter.dir, { adapter, feeds: undefined });
    return adapter.dir;
  }

  /**
   * Loads an adapter and returns its id. When it adapts modules the open graph has no LoRA inputs for, the
   * session is rebuilt with the union (once); otherwise it is only a new set of feeds.
   */
  async addAdapter(dir: string): Promise<string> {
    const id = this.loadAdapterFiles(dir);
    const have = new Set(this.modules.map((m) => m.name));
    if ([...this.adapters.get(id)!.adapter.modules.keys()].some((m) => !have.has(m))) await this.openSession();
    return id;
  }

  private async openSession(): Promise<void> {
    const union = new Set<string>();
    for (const { adapter } of this.adapters.values()) for (const m of adapter.modules.keys()) union.add(m);
    // In the model's module order, so that the graph (and its cache key) does not depend on the load order.
    this.modules = this.inventory.modules.filter((m) => union.has(m.name));
    const g = buildInferenceGraph({ inventory: this.inventory, loraModules: this.modules });
    const cacheDir = this.opts.cacheDir ?? process.env['PEFT_STUDIO_GRAPH_CACHE'] ?? path.join(os.tmpdir(), 'peft-studio-graphs');
    const folder = prepareGraphFolder(cacheDir, this.inventory, cacheKey(this.inventory, { generate: this.modules.map((m) => m.name) }));
    const device = this.opts.device ?? 'cpu';
    const so = sessionOptions({ device, inventory: this.inventory, ...(this.opts.threads !== undefined ? { threads: this.opts.threads } : {}) });
    const next = await GraphSession.create(g, { dir: folder.dir, sessionOptions: so });
    await this.session?.release();
    this.session = next;
    this.baseFeeds = undefined;
    for (const v of this.adapters.values()) v.feeds = undefined;
  }

  private feedsFor(adapter: string | null | undefined): Feeds {
    if (adapter === null || adapter === undefined) return (this.baseFeeds ??= adapterFeeds(this.modules, null));
    const entry = this.adapters.get(adapter) ?? this.adapters.get(path.resolve(adapter));
    if (entry === undefined) throw new InputError('generate.unknownAdapter', `no adapter "${adapter}" is loaded`, { hint: `Loaded: ${this.adapterIds.join(', ') || 'none'}` });
    return (entry.feeds ??= adapterFeeds(this.modules, entry.adapter));
  }

  /** The prompt's token ids (prompt text as is, or messages through the chat template with add_generation_prompt). */
  promptIds(req: Pick<GenerateRequest, 'inputIds' | 'prompt' | 'messages'>): number[] {
    const given = [req.inputIds, req.prompt, req.messages].filter((x) => x !== undefined).length;
    if (given !== 1) throw new InputError('generate.prompt', 'give exactly one of input ids, a prompt or messages');
    let ids: number[];
    if (req.inputIds !== undefined) ids = [...req.inputIds];
    else {
      const tok = this.tokenizer;
      if (tok === null) {
        throw new InputError('generate.noTokenizer', 'the model folder has no tokenizer.json, so text cannot be tokenized', {
          file: this.inventory.dir, hint: 'Give token ids instead (--input-ids 1,2,3), or add the tokenizer files written by save_pretrained()',
        });
      }
      ids = req.prompt !== undefined ? tok.encode(req.prompt) : tok.encode(tok.applyChatTemplate(req.messages!, { addGenerationPrompt: true }), { addSpecialTokens: false });
    }
    const V = this.inventory.spec.vocabSize;
    if (ids.length === 0) throw new InputError('generate.prompt', 'the prompt is empty (no tokens)');
    const bad = ids.findIndex((x) => !Number.isInteger(x) || x < 0 || x >= V);
    if (bad >= 0) throw new InputError('generate.tokenId', `token id ${ids[bad]} at position ${bad} is outside the vocabulary`, { expected: `0..${V - 1}` });
    const maxPos = this.inventory.spec.maxPositionEmbeddings;
    if (ids.length >= maxPos) {
      throw new InputError('generate.promptTooLong', `the prompt has ${ids.length} tokens but the model has ${maxPos} positions (max_position_embeddings), leaving no room to generate`, {
        hint: 'Shorten the prompt',
      });
    }
    return ids;
  }

  /** Generates one completion; resolves with what was generated when `signal` aborts (finishReason 'abort'). */
  async generate(req: GenerateRequest, controls: GenerateControls = {}): Promise<GenerateResult> {
    if (this.busy) throw new InputError('generate.busy', 'this Generator is already generating; wait for it or open another');
    this.busy = true;
    try {
      return await this.run(req, controls);
    } finally {
      this.busy = false;
    }
  }

  /** The same as generate, as an async iterator of token events ending with the result. */
  async *stream(req: GenerateRequest, signal?: AbortSignal): AsyncGenerator<TokenEvent, GenerateResult> {
    const queue: TokenEvent[] = [];
    let wake: (() => void) | undefined;
    let done = false;
    const p = this.generate(req, { ...(signal !== undefined ? { signal } : {}), onToken: (t) => { queue.push(t); wake?.(); } })
      .finally(() => { done = true; wake?.(); });
    for (;;) {
      while (queue.length > 0) yield queue.shift()!;
      if (done) return await p;
      await new Promise<void>((resolve) => { wake = resolve; });
      wake = undefined;
    }
  }

  private async run(req: GenerateRequest, controls: GenerateControls): Promise<GenerateResult> {
    const t0 = performance.now();
    const sampling: SamplingOptions = {
      temperature: req.temperature ?? this.defaults.sampling.temperature ?? 0,
      topK: req.topK ?? this.defaults.sampling.topK ?? 0,
      topP: req.topP ?? this.defaults.sampling.topP ?? 1,
      repetitionPenalty: req.repetitionPenalty ?? this.defaults.sampling.repetitionPenalty ?? 1,
    };
    checkSampling(sampling);
    const prompt = this.promptIds(req);
    const maxNew = Math.min(req.maxNewTokens ?? this.defaults.maxNewTokens ?? 256, this.inventory.spec.maxPositionEmbeddings - prompt.length);
    if (!Number.isInteger(maxNew) || maxNew < 0) throw new InputError('generate.maxNewTokens', 'max_new_tokens must be an integer ≥ 0', { actual: String(req.maxNewTokens) });
    const eos = new Set(req.ignoreEos === true ? [] : [...this.defaults.eosTokenIds, ...(req.eosTokenIds ?? [])]);
    const stop = req.stop ?? [];
    const rng = new Rng(req.seed ?? 0);
    const lora = this.feedsFor(req.adapter);
    const text = this.tokenizer !== null ? new TextStream(this.tokenizer) : undefined;
    const cache = new KvCache(this.inventory, 1);
    const fetch = [GEN.logits, ...KvCache.outputs(this.inventory)];
    const seen = [...prompt];
    const tokenIds: number[] = [];
    const logprobs: number[] = [];
    let finishReason: FinishReason = 'length';
    let tFirst = 0;
    let next: number[] = prompt;
    while (tokenIds.length < maxNew) {
      if (controls.signal?.aborted === true) {
        finishReason = 'abort';
        break;
      }
      const out = await this.session!.run({ ...lora, ...cache.stepFeeds([next]) }, fetch);
      cache.update(out);
      const logits = out[GEN.logits]!.data as Float32Array;
      const id = chooseToken(logits, seen, sampling, rng);
      const lp = logProb(logits, id);
      tokenIds.push(id);
      logprobs.push(lp);
      seen.push(id);
      if (tokenIds.length === 1) tFirst = performance.now();
      const piece = text?.push(id);
      controls.onToken?.({ event: 'token', id, ...(piece !== undefined ? { text: piece } : {}), logprob: lp });
      if (eos.has(id)) {
        finishReason = 'eos';
        break;
      }
      if (text !== undefined && stop.some((s) => text.text.includes(s))) {
        finishReason = 'stop';
        break;
      }
      next = [id];
    }
    const tEnd = performance.now();
    const n = tokenIds.length;
    const tokensPerS = n >= 2 ? ((n - 1) * 1000) / Math.max(tEnd - tFirst, 1e-6) : n > 0 ? (n * 1000) / Math.max(tEnd - t0, 1e-6) : 0;
    return {
      tokenIds, logprobs, ...(text !== undefined ? { text: text.text } : {}), promptTokens: prompt.length, finishReason,
      ttftMs: n > 0 ? tFirst - t0 : tEnd - t0, tokensPerS,
    };
  }

  /** Releases the session (the generator cannot be used afterwards). */
  async dispose(): Promise<void> {
    await this.session?.release();
    this.session = undefined;
  }
}
