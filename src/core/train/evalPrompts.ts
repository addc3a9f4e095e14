// Evaluation with sample answers: dataset.eval_prompts read and checked, each prompt answered greedily by the
// generation engine with the run's current LoRA weights (in memory), scored against its expected answer.
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { InputError, errorMessage } from '../errors';
import { adapterFromParams, loadAdapter, type InMemoryLoraTarget, type LoadedAdapter } from '../generate/adapter';
import { Generator } from '../generate/generator';
import { loadModel } from '../hf/loadModel';
import type { ModelInventory } from '../hf/types';
import type { QuantizationConfig } from '../quant/blockQuant';
import type { EngineState } from './engineApi';
import { writeAdapterFiles } from './runFolder';
import type { GenerateRequest } from '../generate/types';
import type { DeviceName } from './engineApi';
import type { EvalGenerationEvent, EvalSample } from '../../shared/protocol';
import type { EvalPromptItem } from './recipe';
import { evalPromptProblem } from './recipeSchema';
import { alpacaPrompt, type DataFormat } from './data/formats';

/** One eval prompt: its text and, when given, the expected answer. */
export interface EvalPrompt {
  prompt: string;
  expected?: string;
}

/** Most eval prompts a run answers (each evaluation generates every one of them). */
export const MAX_EVAL_PROMPTS = 200;

/** The recipe's dataset.eval_prompts (a list, or the absolute path of a JSONL file) as prompts; InputErrors name the file and line. */
export function loadEvalPrompts(spec: EvalPromptItem[] | string | null, recipeFile: string): EvalPrompt[] {
  if (spec === null) return [];
  let items: { item: unknown; file: string; line?: number }[];
  if (typeof spec === 'string') {
    let text: string;
    try {
      text = readFileSync(spec, 'utf8');
    } catch (e) {
      throw new InputError('recipe-value', `cannot read dataset.eval_prompts: ${errorMessage(e)}`, { file: spec });
    }
    items = [];
    for (const [i, raw] of text.split(/\r?\n/).entries()) {
      if (raw.trim() === '') continue;
      let item: unknown;
      try {
        item = JSON.parse(raw) as unknown;
      } catch {
        throw new InputError('recipe-value', 'an eval prompt line is not valid JSON', { file: spec, line: i + 1, hint: 'One JSON object a line: {"prompt": "...", "expected": "..."}' });
      }
      items.push({ item, file: spec, line: i + 1 });
    }
    if (items.length === 0) throw new InputError('recipe-value', 'the dataset.eval_prompts file holds no prompt', { file: spec });
  } else {
    items = spec.map((item) => ({ item, file: recipeFile }));
  }
  if (items.length > MAX_EVAL_PROMPTS) {
    throw new InputError('recipe-value', `dataset.eval_prompts has ${items.length} prompts, more than the ${MAX_EVAL_PROMPTS} answered at each evaluation`, { file: items[0]!.file, hint: 'Keep a small, telling set; measure the rest with dataset.eval' });
  }
  return items.map(({ item, file, line }, i) => {
    const why = evalPromptProblem(item);
    if (why !== null) throw new InputError('recipe-value', `eval prompt ${i + 1} ${why}`, { file, ...(line !== undefined ? { line } : {}) });
    if (typeof item === 'string') return { prompt: item };
    const o = item as { prompt: string; expected?: string | null };
    return typeof o.expected === 'string' ? { prompt: o.prompt, expected: o.expected } : { prompt: o.prompt };
  });
}

/** Answers are compared after trimming and collapsing every run of whitespace to one space (case kept). */
export function normalizeAnswer(s: string): string {
  return s.trim().replace(/\s+/gu, ' ');
}

export function scoreAnswer(output: string, expected: string): { exact_match: boolean; contains: boolean } {
  const out = normalizeAnswer(output);
  const want = normalizeAnswer(expected);
  return { exact_match: out === want, contains: out.includes(want) };
}

/**
 * The generation request of one eval prompt, rendered as the training data's format renders a prompt: `messages`
 * data → one user turn through the chat template with the generation prompt (= `peft-studio generate --messages`),
 * `alpaca` → the Alpaca template with the prompt as the instruction, any other format → the text as is (both =
 * `generate --prompt TEXT`); greedy, at most `maxNewTokens`.
 */
export function evalRequest(p: EvalPrompt, format: DataFormat, maxNewTokens: number): GenerateRequest {
  const source = format === 'messages' ? { messages: [{ role: 'user', content: p.prompt }] } : { prompt: format === 'alpaca' ? alpacaPrompt(p.prompt, '') : p.prompt };
  return { ...source, temperature: 0, maxNewTokens };
}

/** The event of one evaluation's answers (scores as fractions of the prompts with an expected answer). */
export function evalGenerationEvent(step: number, prompts: readonly EvalPrompt[], answers: readonly { text: string; tokens: number; finishReason: string }[], maxNewTokens: number): EvalGenerationEvent {
  const samples: EvalSample[] = prompts.map((p, i) => {
    const a = answers[i]!;
    const s: EvalSample = { prompt: p.prompt, output: a.text, tokens: a.tokens, finish_reason: a.finishReason };
    if (p.expected !== undefined) Object.assign(s, { expected: p.expected }, scoreAnswer(a.text, p.expected));
    return s;
  });
  const scored = samples.filter((s) => s.expected !== undefined);
  const ev: EvalGenerationEvent = { event: 'eval_generation', step, samples, max_new_tokens: maxNewTokens };
  if (scored.length > 0) {
    ev.exact_match = scored.filter((s) => s.exact_match === true).length / scored.length;
    ev.contains = scored.filter((s) => s.contains === true).length / scored.length;
  }
  return ev;
}

/** The id of the run's in-memory adapter among the Generator's adapters. */
const CURRENT = 'peft-studio:training-adapter';

/**
 * Answers the eval prompts during a run. The Generator (its own session over the same base weights) opens at the
 * first evaluation; each evaluation hands it the current LoRA tensors as new feeds, so nothing is saved or reloaded.
 */
export class EvalPromptRunner {
  private gen: Generator | null = null;
  /** The base model's inventory, read once (the variant path reads adapters against it at every evaluation). */
  private inventory: ModelInventory | null = null;

  constructor(
    private readonly opts: {
      modelDir: string; device: DeviceName; cacheDir: string; targets: readonly InMemoryLoraTarget[]; prompts: readonly EvalPrompt[]; format: DataFormat; maxNewTokens: number;
      /** The run's adapter_config.json text: variants beyond plain LoRA are answered through a scratch adapter folder. */
      adapterConfigJson: string;
      quantization: QuantizationConfig | null;
    },
  ) {}

  /** Whether the tensors are plain LoRA A/B (fed from memory) rather than DoRA, biases, copies or embedding LoRA. */
  static plainLora(names: Iterable<string>): boolean {
    for (const n of names) if (!/\.lora_[AB]\.weight$/.test(n)) return false;
    return true;
  }

  /**
   * The adapter to answer with: plain LoRA straight from memory; any other variant written as a PEFT adapter folder
   * (what a checkpoint holds) and read by the loader `peft-studio generate` uses, so the answers are the same.
   */
  private adapterOf(state: EngineState): LoadedAdapter {
    if (EvalPromptRunner.plainLora(state.params.keys())) return adapterFromParams(CURRENT, state.params, this.opts.targets);
    const dir = join(this.opts.cacheDir, `eval-adapter-${process.pid}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    writeAdapterFiles(dir, state, this.opts.adapterConfigJson);
    try {
      return { ...loadAdapter(dir, (this.inventory ??= loadModel(this.opts.modelDir))), dir: CURRENT };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  async run(step: number, state: EngineState): Promise<EvalGenerationEvent> {
    const adapter = this.adapterOf(state);
    if (this.gen === null) {
      this.gen = await Generator.open(this.opts.modelDir, { device: this.opts.device, cacheDir: this.opts.cacheDir, memoryAdapters: [adapter], quantization: this.opts.quantization });
    } else await this.gen.putAdapter(adapter);
    const answers = [];
    // One prompt at a time, as `peft-studio generate` runs it: batching would pad and could change a greedy tie.
    for (const p of this.opts.prompts) {
      const r = await this.gen.generate({ ...evalRequest(p, this.opts.format, this.opts.maxNewTokens), adapter: CURRENT });
      answers.push({ text: r.text ?? '', tokens: r.tokenIds.length, finishReason: r.finishReason });
    }
    return evalGenerationEvent(step, this.opts.prompts, answers, this.opts.maxNewTokens);
  }

  async dispose(): Promise<void> {
    await this.gen?.dispose();
    this.gen = null;
  }
}
