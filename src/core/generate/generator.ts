// The generation engine: opens a model's inference graph once (one onnxruntime session, base weights once), holds
// adapters as feed sets, and generates token by token with a KV cache, streaming, sampling and cancellation.
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { InputError } from '../errors';
import { GraphSession } from '../graph';
import { loadModel } from '../hf/loadModel';
import { type HfTokenizer, loadTokenizer } from '../hf/tokenizer';
import type { ModelInventory, ModuleInfo } from '../hf/types';
import { cacheKey, prepareGraphFolder } from '../train/graphCache';
import type { QuantizationConfig } from '../quant/blockQuant';
import { ensureQuantizedBase } from '../quant/quantCache';
import { sessionOptions } from '../train/engine';
import type { DeviceName } from '../train/engineApi';
import { type AdapterModule, type LoadedAdapter, loadAdapter } from './adapter';
import { adapterInputs } from './adapterInputs';
import type { SavedModuleParam } from '../peft/savedModules';
import { copyInitialValues } from '../train/loraInit';
import { type RowPlan, decodeRows, longRopeSwitch } from './decode';
import { type Admitted, decodeContinuous } from './continuous';
import { type Feeds, KvCache, adapterFeeds, stackedFeeds } from './feeds';
import { stackedExtraFeeds } from './stackedExtras';
import { type GenerationDefaults, readGenerationDefaults } from './generationConfig';
import { GEN, buildInferenceGraph } from './graph';
import { type SamplingOptions, checkSampling } from './sampling';
import type { GenerateControls, GenerateRequest, GenerateResult, TokenEvent } from './types';

export type { GenerateControls, GenerateRequest, GenerateResult, TokenEvent, FinishReason } from './types';

/** A request for generateContinuous, with its own token callback and settlement. */
export interface ContinuousRequest {
  req: GenerateRequest;
  onToken?: ((t: TokenEvent) => void) | undefined;
  done: (r: GenerateResult) => void;
  fail: (e: unknown) => void;
}

export interface GeneratorOptions {
  device?: DeviceName;
  /** ORT intra-op threads (default: all cores). */
  threads?: number;
  /** Adapter folders to load now; their modules decide the graph's LoRA inputs. */
  adapters?: string[];
  /** Adapters held in memory (adapterFromParams) to load now, as `adapters`. */
  memoryAdapters?: LoadedAdapter[];
  /**
   * 'single' (default): one adapter per call, LoRA as Gemms. 'stacked': all loaded adapters stacked in the feeds
   * and an adapter index per row, so generateBatch can give every row its own adapter in one forward pass.
   */
  lora?: 'single' | 'stacked';
  /**
   * MLAS prepacking of the weight matrices: faster GEMMs for a packed copy of the weights (+1× their size).
   * Default: the training engine's rule (only when the copy is cheap: ≤ 1 GiB and ≤ 10% of RAM).
   */
  prepack?: boolean;
  /** Extra onnxruntime session options merged over the defaults (experiments; `extra` entries are merged too). */
  sessionOptions?: ort.InferenceSession.SessionOptions;
  /** WebGPU: keep the KV cache in GPU buffers between steps (default true); false brings it back every step. */
  kvOnDevice?: boolean;
  /** Folder for the compiled graph (hard links to the weights); default $PEFT_STUDIO_GRAPH_CACHE or the OS temp dir. */
  cacheDir?: string;
  /** A 4-bit base (the recipe's `quantization:`, CLI `--quantization 4[:block]`): the training graphs' MatMulNBits path. */
  quantization?: QuantizationConfig | null;
}

/**
 * The training engine's session options (threads, optimisation level, no memory pattern, prepacking rule), plus:
 * the KV cache outputs kept in GPU buffers on WebGPU (only that EP can leave outputs on the device in Node; CUDA
 * outputs always come back), and no spinning intra-op threads (decode steps are short and a generator shares the
 * machine with the editor and other jobs: with spinning, decode ran 2-5× slower under load, docs/BENCHMARKS.md).
 */
function generatorSessionOptions(inv: ModelInventory, o: GeneratorOptions): ort.InferenceSession.SessionOptions {
  const device = o.device ?? 'cpu';
  const onDevice = device === 'webgpu' && o.kvOnDevice !== false;
  const locations = Object.fromEntries(onDevice ? KvCache.outputs(inv).map((n) => [n, 'gpu-buffer' as const]) : []);
  const so = sessionOptions({ device, inventory: inv, ...(o.threads !== undefined ? { threads: o.threads } : {}) }, locations);
  const entries = (x: ort.InferenceSession.SessionOptions | undefined): Record<string, unknown> => (x?.extra as { session?: Record<string, unknown> } | undefined)?.session ?? {};
  const session: Record<string, unknown> = { ...entries(so), 'intra_op.allow_spinning': '0' };
  if (o.prepack !== undefined) session['disable_prepacking'] = o.prepack ? '0' : '1';
  return { ...so, ...o.sessionOptions, extra: { session: { ...session, ...entries(o.sessionOptions) } } };
}

export class Generator {
  private session: GraphSession | undefined;
  private modules: ModuleInfo[] = [];
  /** Modules with a DoRA scale input (some loaded adapter uses DoRA there). */
  private dora: ReadonlySet<string> = new Set();
  /** modules_to_save tensors some loaded adapter replaces (graph inputs); others feed the base tensor there. */
  private copies: SavedModuleParam[] = [];
  private readonly baseCopies = new Map<string, Float32Array>();
  /** Modules with a bias-delta input (some loaded adapter trained their bias or a lora_B bias). */
  private biased: ReadonlySet<string> = new Set();
  private readonly adapters = new Map<string, { adapter: LoadedAdapter; feeds: Feeds | undefined }>();
  private baseFeeds: Feeds | undefined;
  /** Stacked mode: slot 0 the base (zeros), then the adapters in adapterIds order. */
  private stacked: Feeds | undefined;
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
    if (inv.source !== 'safetensors') throw new InputError('generate-no-weights', 'the model folder has no safetensors weights', { file: inv.dir });
    const unsupported = inv.spec.unsupportedForTraining ?? [];
    if (unsupported.length > 0) {
      throw new InputError('generate-unsupported', `the model builders do not implement ${unsupported.join(', ')}`, {
        file: path.join(inv.dir, 'config.json'), hint: 'PEFT Studio runs the standard Llama/Mistral/Qwen2 (silu) and GPT-2 (gelu_new) computations',
      });
    }
    let tokenizer: HfTokenizer | null = null;
    try {
      tokenizer = await loadTokenizer(inv.dir);
    } catch (e) {
      if (!(e instanceof InputError && e.code === 'tokenizer-missing')) throw e;
    }
    const gen = new Generator(inv, tokenizer, readGenerationDefaults(inv.dir), opts);
    for (const dir of opts.adapters ?? []) gen.loadAdapterFiles(dir);
    for (const a of opts.memoryAdapters ?? []) gen.adapters.set(a.dir, { adapter: a, feeds: undefined });
    await gen.openSession();
    return gen;
  }

  /**
   * Most tokens (prompt + new) one sequence may hold: max_position_embeddings, or the sliding window when the model
   * has one (attention over the whole cache equals sliding-window attention only up to the window's width).
   */
  get maxLength(): number {
    const s = this.inventory.spec;
    return Math.min(s.maxPositionEmbeddings, s.slidingWindow ?? Infinity);
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
    if (this.busy) throw new InputError('generate-busy', 'cannot load an adapter while this Generator is generating');
    return this.admit(loadAdapter(dir, this.inventory));
  }

  /**
   * Adds (or replaces) `adapter`: refused (an InputError naming it) before anything changes when it cannot join the
   * loaded ones (single mode: other trainable-token rows of a layer; stacked: a copy that cannot be stacked); the
   * session is rebuilt when the graph lacks its inputs, and a failed rebuild leaves the Generator as it was.
   */
  private async admit(adapter: LoadedAdapter): Promise<string> {
    const others = [...this.adapters.values()].map((a) => a.adapter).filter((a) => a.dir !== adapter.dir);
    adapterInputs(this.inventory, [...others, adapter], this.modules, this.opts.lora === 'stacked');
    const previous = this.adapters.get(adapter.dir);
    this.adapters.set(adapter.dir, { adapter, feeds: undefined });
    this.stacked = undefined;
    if (this.needsNewSession(adapter)) {
      try {
        await this.openSession();
      } catch (e) {
        if (previous !== undefined) this.adapters.set(adapter.dir, previous);
        else this.adapters.delete(adapter.dir);
        throw e;
      }
    }
    return adapter.dir;
  }

  /** Whether the open graph lacks inputs `adapter` needs: LoRA modules, DoRA scales, bias deltas, copies. */
  private needsNewSession(adapter: LoadedAdapter): boolean {
    const have = new Set(this.modules.map((m) => m.name));
    const haveCopies = new Set(this.copies.map((c) => c.key));
    const needs = (m: AdapterModule): boolean => !have.has(m.module.name) || (m.doraScale !== undefined && !this.dora.has(m.module.name))
      || (m.biasDelta !== undefined && !this.biased.has(m.module.name));
    return [...adapter.modules.values()].some(needs) || [...adapter.copies.keys()].some((k) => !haveCopies.has(k));
  }

  /**
   * Adds (or replaces) an adapter held in memory under its id (adapterFromParams): new weights for the same modules
   * are only new feeds; modules the open graph has no LoRA inputs for rebuild the session once.
   */
  async putAdapter(adapter: LoadedAdapter): Promise<string> {
    if (this.busy) throw new InputError('generate-busy', 'cannot load an adapter while this Generator is generating');
    return this.admit(adapter);
  }

  /** Unloads an adapter (its feeds only: the graph keeps its LoRA inputs, fed zeros for the modules nobody adapts). */
  removeAdapter(id: string): void {
    if (this.busy) throw new InputError('generate-busy', 'cannot unload an adapter while this Generator is generating');
    const key = this.adapterId(id)!;
    this.adapters.delete(key);
    this.stacked = undefined;
  }

  /** Builds the graph for the loaded adapters and swaps the session in; nothing changes when that throws. */
  private async openSession(): Promise<void> {
    const union = new Set<string>();
    for (const { adapter } of this.adapters.values()) for (const m of adapter.modules.keys()) union.add(m);
    // In the model's module order, so that the graph (and its cache key) does not depend on the load order.
    const modules = this.inventory.modules.filter((m) => union.has(m.name));
    const mode = this.opts.lora === 'stacked' ? { kind: 'stacked' as const } : { kind: 'single' as const };
    const { dora, biased, copies } = adapterInputs(this.inventory, [...this.adapters.values()].map((a) => a.adapter), modules, mode.kind === 'stacked');
    const cacheDir = this.opts.cacheDir ?? process.env['PEFT_STUDIO_GRAPH_CACHE'] ?? path.join(os.tmpdir(), 'peft-studio-graphs');
    const q = this.opts.quantization ?? null;
    if (q !== null && dora.size > 0) {
      throw new InputError('quant-unsupported-model', 'DoRA adapters cannot run on a 4-bit base yet (the DoRA scale needs the full-precision weight)', { hint: 'Generate without --quantization, or merge the adapter first' });
    }
    const quant = q !== null ? ensureQuantizedBase(this.inventory, q, cacheDir) : undefined;
    const g = buildInferenceGraph({
      inventory: this.inventory, loraModules: modules, lora: mode, doraModules: [...dora], biasModules: [...biased], copies, ...(quant !== undefined ? { quant } : {}),
    });
    const key = cacheKey(this.inventory, {
      generate: modules.map((m) => m.name), mode: mode.kind, ...(dora.size > 0 ? { dora: [...dora] } : {}), ...(biased.size > 0 ? { biased: [...biased] } : {}),
      ...(copies.length > 0 ? { copies: copies.map((c) => [c.key, c.tokens ?? null]) } : {}), ...(q !== null ? { quantization: q } : {}),
    });
    const folder = prepareGraphFolder(cacheDir, this.inventory, key, quant !== undefined ? [quant.file] : []);
    const so = generatorSessionOptions(this.inventory, this.opts);
    const next = await GraphSession.create(g, { dir: folder.dir, sessionOptions: so });
    await this.session?.release();
    this.session = next;
    this.modules = modules;
    this.dora = dora;
    this.biased = biased;
    this.copies = copies;
    this.baseFeeds = undefined;
    this.stacked = undefined;
    for (const v of this.adapters.values()) v.feeds = undefined;
  }

  /** The id of a loaded adapter given by id or folder; null for the base model. */
  private adapterId(adapter: string | null | undefined): string | null {
    if (adapter === null || adapter === undefined) return null;
    if (this.adapters.has(adapter)) return adapter;
    if (this.adapters.has(path.resolve(adapter))) return path.resolve(adapter);
    throw new InputError('generate-unknown-adapter', `no adapter "${adapter}" is loaded`, { hint: `Loaded: ${this.adapterIds.join(', ') || 'none'}` });
  }

  private feedsFor(id: string | null): Feeds {
    if (id === null) return (this.baseFeeds ??= this.withCopies(adapterFeeds(this.modules, null, this.dora, this.biased), null));
    const entry = this.adapters.get(id)!;
    return (entry.feeds ??= this.withCopies(adapterFeeds(this.modules, entry.adapter, this.dora, this.biased), entry.adapter));
  }

  /** The modules_to_save inputs: the adapter's copy, or the base tensor for an adapter (or the base model) without it. */
  private withCopies(feeds: Feeds, adapter: LoadedAdapter | null): Feeds {
    for (const c of this.copies) {
      let data = adapter?.copies.get(c.key)?.data;
      if (data === undefined) {
        // By key: a token delta (rows of the embedding) and a tied head's copy (the whole embedding) share a source.
        data = this.baseCopies.get(c.key) ?? copyInitialValues(this.inventory.dir, [c]).get(c.key)!;
        this.baseCopies.set(c.key, data);
      }
      feeds[c.key] = new ort.Tensor('float32', data, c.shape);
    }
    return feeds;
  }

  /** The prompt's token ids (prompt text as is, or messages through the chat template with add_generation_prompt). */
  promptIds(req: Pick<GenerateRequest, 'inputIds' | 'prompt' | 'messages'>): number[] {
    const given = [req.inputIds, req.prompt, req.messages].filter((x) => x !== undefined).length;
    if (given !== 1) throw new InputError('generate-prompt', 'give exactly one of input ids, a prompt or messages');
    let ids: number[];
    if (req.inputIds !== undefined) ids = [...req.inputIds];
    else {
      const tok = this.tokenizer;
      if (tok === null) {
        throw new InputError('generate-no-tokenizer', 'the model folder has no tokenizer.json, so text cannot be tokenized', {
          file: this.inventory.dir, hint: 'Give token ids instead (--input-ids 1,2,3), or add the tokenizer files written by save_pretrained()',
        });
      }
      ids = req.prompt !== undefined ? tok.encode(req.prompt) : tok.encode(tok.applyChatTemplate(req.messages!, { addGenerationPrompt: true }), { addSpecialTokens: false });
    }
    const V = this.inventory.spec.vocabSize;
    if (ids.length === 0 && req.messages !== undefined) {
      throw new InputError('generate-prompt', 'the chat template renders these messages as an empty prompt (no tokens)', {
        ...(this.tokenizer?.chatTemplateFile != null ? { file: this.tokenizer.chatTemplateFile } : {}), hint: 'Check the model\'s chat_template',
      });
    }
    if (ids.length === 0) throw new InputError('generate-prompt', 'the prompt is empty (no tokens)');
    const bad = ids.findIndex((x) => !Number.isInteger(x) || x < 0 || x >= V);
    if (bad >= 0) throw new InputError('generate-token-id', `token id ${ids[bad]} at position ${bad} is outside the vocabulary`, { expected: `0..${V - 1}` });
    const maxPos = this.maxLength;
    if (ids.length >= maxPos) {
      const what = maxPos < this.inventory.spec.maxPositionEmbeddings ? `its sliding window (${maxPos} tokens), beyond which generation is not implemented` : `${maxPos} positions (max_position_embeddings)`;
      throw new InputError('generate-prompt-too-long', `the prompt has ${ids.length} tokens but the model has ${what}, leaving no room to generate`, {
        file: path.join(this.inventory.dir, 'config.json'), hint: 'Shorten the prompt',
      });
    }
    return ids;
  }

  /** Generates one completion; resolves with what was generated when `signal` aborts (finishReason 'abort'). */
  async generate(req: GenerateRequest, controls: GenerateControls = {}): Promise<GenerateResult> {
    return (await this.exclusive(() => this.runRows([req], controls)))[0]!;
  }

  /**
   * The same as generate, as an async iterator of token events that returns the result. Leaving the loop early
   * (break, return, a throw in the loop body) cancels the generation.
   */
  async *stream(req: GenerateRequest, signal?: AbortSignal): AsyncGenerator<TokenEvent, GenerateResult> {
    const inner = new AbortController();
    const onAbort = (): void => inner.abort();
    if (signal?.aborted === true) inner.abort();
    signal?.addEventListener('abort', onAbort);
    const queue: TokenEvent[] = [];
    let wake: (() => void) | undefined;
    let done = false;
    const p = this.generate(req, { signal: inner.signal, onToken: (t) => { queue.push(t); wake?.(); } })
      .finally(() => { done = true; wake?.(); });
    try {
      for (;;) {
        while (queue.length > 0) yield queue.shift()!;
        if (done) return await p;
        await new Promise<void>((resolve) => { wake = resolve; });
        wake = undefined;
      }
    } finally {
      inner.abort();
      signal?.removeEventListener('abort', onAbort);
      await p.catch(() => undefined);
    }
  }

  /** Rows (one per request, each with its own adapter) in one batch: needs a Generator opened with lora 'stacked'. */
  async generateBatch(reqs: readonly GenerateRequest[], controls: GenerateControls = {}): Promise<GenerateResult[]> {
    if (this.opts.lora !== 'stacked' && new Set(reqs.map((r) => this.adapterId(r.adapter))).size > 1) {
      throw new InputError('generate-batch-adapters', 'rows with different adapters need a Generator opened with lora: "stacked"');
    }
    if (reqs.length === 0) return [];
    return this.exclusive(() => this.runRows(reqs, controls));
  }

  /**
   * Continuous batching (stacked mode, KV cache on the CPU): runs until `take` gives nothing and no row is running.
   * Before each step, `take(free)` may hand over up to `free` requests; they join the running batch at that step
   * and each settles through its own `done`/`fail` (a bad request fails alone, before it joins).
   */
  async generateContinuous(take: (free: number) => ContinuousRequest[], maxRows: number, onStep?: (rows: number) => void): Promise<void> {
    if (this.opts.lora !== 'stacked') throw new InputError('generate-continuous', 'continuous batching needs a Generator opened with lora: "stacked"');
    if (longRopeSwitch(this.inventory) !== Infinity) throw new InputError('generate-continuous', 'continuous batching does not run LongRoPE models (their KV cache is rebuilt per batch); use batched generate');
    await this.exclusive(async () => {
      const slots = [null, ...this.adapterIds];
      const stacked = this.stackedFeeds(slots);
      const admit = (free: number): Admitted[] => take(free).flatMap((c) => {
        try {
          const plan = this.plan(c.req);
          return [{ plan, slot: slots.indexOf(this.adapterId(c.req.adapter)), onToken: c.onToken, done: c.done, fail: c.fail, t0: performance.now() }];
        } catch (e) {
          c.fail(e);
          return [];
        }
      });
      const lora = (rows: number[]): Feeds => (!this.perRowInputs ? {} : { ...stacked, [GEN.adapterIndex]: new ort.Tensor('int64', BigInt64Array.from(rows, (x) => BigInt(x)), [rows.length]) });
      await decodeContinuous(this.session!, this.inventory, this.tokenizer, admit, lora, maxRows, onStep);
    });
  }

  /**
   * True when generateContinuous can run here (stacked LoRA, KV cache on the CPU; not LongRoPE, whose cache is
   * prefilled again when a sequence crosses original_max_position_embeddings, which only whole batches do).
   */
  get continuousBatching(): boolean {
    return this.opts.lora === 'stacked' && (this.opts.device ?? 'cpu') !== 'webgpu' && longRopeSwitch(this.inventory) === Infinity;
  }

  /** Stacked mode: whether the graph reads `adapter_index` (it has LoRA inputs, copies or token deltas). */
  private get perRowInputs(): boolean {
    return this.modules.length > 0 || this.copies.length > 0;
  }

  /** Stacked mode: the LoRA stacks, copies and token deltas of adapter slots `slots` (kept until the adapters change). */
  private stackedFeeds(slots: readonly (string | null)[]): Feeds {
    const adapters = slots.map((id) => (id === null ? null : this.adapters.get(id)!.adapter));
    return (this.stacked ??= { ...stackedFeeds(this.modules, adapters, this.dora, this.biased), ...stackedExtraFeeds(this.inventory, this.copies, adapters) });
  }

  private async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.busy) throw new InputError('generate-busy', 'this Generator is already generating; wait for it or open another');
    this.busy = true;
    try {
      return await fn();
    } finally {
      this.busy = false;
    }
  }

  private plan(req: GenerateRequest): RowPlan {
    const sampling: SamplingOptions = {
      temperature: req.temperature ?? this.defaults.sampling.temperature ?? 0,
      topK: req.topK ?? this.defaults.sampling.topK ?? 0,
      topP: req.topP ?? this.defaults.sampling.topP ?? 1,
      repetitionPenalty: req.repetitionPenalty ?? this.defaults.sampling.repetitionPenalty ?? 1,
    };
    checkSampling(sampling);
    const prompt = this.promptIds(req);
    const stop = req.stop ?? [];
    if (stop.some((x) => x === '')) throw new InputError('generate-stop', 'a stop string must not be empty');
    if (stop.length > 0 && this.tokenizer === null) {
      throw new InputError('generate-stop', 'stop strings need the model\'s tokenizer (tokenizer.json) to read the generated text', { file: this.inventory.dir });
    }
    const asked = req.maxNewTokens ?? this.defaults.maxNewTokens ?? 256;
    if (!Number.isInteger(asked) || asked < 0) throw new InputError('generate-max-new-tokens', 'max_new_tokens must be an integer ≥ 0', { actual: String(req.maxNewTokens) });
    return {
      prompt, sampling, seed: req.seed ?? 0, stop, signal: req.signal,
      maxNewTokens: Math.min(asked, this.maxLength - prompt.length),
      eos: new Set(req.ignoreEos === true ? [] : [...this.defaults.eosTokenIds, ...(req.eosTokenIds ?? [])]),
    };
  }

  private async runRows(reqs: readonly GenerateRequest[], controls: GenerateControls): Promise<GenerateResult[]> {
    const t0 = performance.now();
    const plans = reqs.map((r) => this.plan(r));
    const ids = reqs.map((r) => this.adapterId(r.adapter));
    let lora: Feeds;
    if (this.opts.lora === 'stacked') {
      const slots = [null, ...this.adapterIds];
      const stacked = this.stackedFeeds(slots);
      lora = !this.perRowInputs ? {} : { ...stacked, [GEN.adapterIndex]: new ort.Tensor('int64', BigInt64Array.from(ids, (id) => BigInt(slots.indexOf(id))), [ids.length]) };
    } else {
      lora = this.feedsFor(ids[0] ?? null);
    }
    return decodeRows(this.session!, this.inventory, this.tokenizer, plans, lora, controls, t0);
  }

  /** Releases the session (the generator cannot be used afterwards). */
  async dispose(): Promise<void> {
    await this.session?.release();
    this.session = undefined;
  }
}
