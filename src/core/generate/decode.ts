// The decoding loop shared by single and batched generation: prefill of the left-padded prompts, then one step per
// token for every row still running, each row with its own sampling, seed, limits, stop strings and text stream.
import type { GraphSession } from '../graph';
import type { HfTokenizer } from '../hf/tokenizer';
import type { ModelInventory } from '../hf/types';
import { Rng } from '../util/random';
import { type Feeds, KvCache } from './feeds';
import { GEN } from './graph';
import { type SamplingOptions, chooseToken, logProb } from './sampling';
import { TextStream } from './textStream';
import type { FinishReason, GenerateControls, GenerateResult } from './types';

/** One row, fully resolved (prompt ids, limits, settings). */
export interface RowPlan {
  prompt: number[];
  sampling: SamplingOptions;
  maxNewTokens: number;
  eos: ReadonlySet<number>;
  stop: readonly string[];
  seed: number;
  signal?: AbortSignal | undefined;
}

export class Row {
  readonly rng: Rng;
  readonly seen: number[];
  readonly tokenIds: number[] = [];
  readonly logprobs: number[] = [];
  readonly text: TextStream | undefined;
  finish: FinishReason | undefined;
  tFirst = 0;
  tLast = 0;

  constructor(readonly plan: RowPlan, tokenizer: HfTokenizer | null) {
    this.rng = new Rng(plan.seed);
    this.seen = [...plan.prompt];
    this.text = tokenizer !== null ? new TextStream(tokenizer) : undefined;
    if (plan.maxNewTokens <= 0) this.finish = 'length';
  }
}

/**
 * Runs the rows to completion in one batch (`lora`: the adapter feeds of the batch, adapter_index included in
 * stacked mode). Rows that finish early are fed padding (masked) until the last one ends.
 */
export async function decodeRows(
  session: GraphSession, inv: ModelInventory, tokenizer: HfTokenizer | null, plans: RowPlan[], lora: Feeds, controls: GenerateControls, t0: number,
): Promise<GenerateResult[]> {
  const rows = plans.map((p) => new Row(p, tokenizer));
  let cache = new KvCache(inv, rows.length);
  const switchAt = longRopeSwitch(inv);
  let longCache = Math.max(...plans.map((p) => p.prompt.length)) > switchAt;
  const fetch = [GEN.logits, ...KvCache.outputs(inv)];
  const T = Math.max(...plans.map((p) => p.prompt.length));
  let ids = plans.map((p) => [...new Array<number>(T - p.prompt.length).fill(0), ...p.prompt]);
  let valid = plans.map((p) => [...new Array<number>(T - p.prompt.length).fill(0), ...new Array<number>(p.prompt.length).fill(1)]);
  const V = inv.spec.vocabSize;
  while (rows.some((r) => r.finish === undefined)) {
    if (controls.signal?.aborted === true) {
      for (const r of rows) r.finish ??= 'abort';
      break;
    }
    for (const r of rows) if (r.finish === undefined && r.plan.signal?.aborted === true) r.finish = 'abort';
    if (rows.every((r) => r.finish !== undefined)) break;
    const total = Math.max(...rows.map((r) => r.plan.prompt.length + r.tokenIds.length));
    if (!longCache && total > switchAt) {
      // LongRoPE crosses original_max_position_embeddings: the cached keys were rotated with the short factors, so
      // the whole sequence is prefilled again with the long ones (Phi3ForCausalLM.prepare_inputs_for_generation).
      longCache = true;
      cache.release();
      cache = new KvCache(inv, rows.length);
      const seqs = rows.map((r) => [...r.plan.prompt, ...r.tokenIds]);
      ids = seqs.map((q) => [...new Array<number>(total - q.length).fill(0), ...q]);
      valid = seqs.map((q) => [...new Array<number>(total - q.length).fill(0), ...new Array<number>(q.length).fill(1)]);
    }
    const out = await session.session.run({ ...lora, ...cache.stepFeeds(ids, valid) }, fetch);
    cache.update(out);
    const logits = out[GEN.logits]!.data as Float32Array;
    const now = performance.now();
    rows.forEach((r, i) => advance(r, logits.subarray(i * V, (i + 1) * V), i, now, controls));
    ids = rows.map((r) => [r.tokenIds.at(-1) ?? 0]);
    valid = rows.map((r) => [r.finish === undefined ? 1 : 0]);
  }
  cache.release();
  const tEnd = performance.now();
  return rows.map((r) => resultOf(r, t0, tEnd));
}

/** The sequence length beyond which LongRoPE takes its long factors (Infinity for every other RoPE). */
export function longRopeSwitch(inv: ModelInventory): number {
  const rs = inv.spec.ropeScaling;
  return rs?.ropeType === 'longrope' ? rs.originalMaxPositionEmbeddings ?? inv.spec.maxPositionEmbeddings : Infinity;
}

/** Chooses a running row's next token from its logits, streams it, and sets finish at EOS, a stop string or the limit. */
export function advance(r: Row, row: Float32Array, i: number, now: number, controls: GenerateControls): void {
  if (r.finish !== undefined) return;
  const id = chooseToken(row, r.seen, r.plan.sampling, r.rng);
  const lp = logProb(row, id);
  r.tokenIds.push(id);
  r.logprobs.push(lp);
  r.seen.push(id);
  if (r.tokenIds.length === 1) r.tFirst = now;
  r.tLast = now;
  const piece = r.text?.push(id);
  controls.onToken?.({ event: 'token', id, ...(piece !== undefined ? { text: piece } : {}), logprob: lp, row: i });
  if (r.plan.eos.has(id)) r.finish = 'eos';
  else if (r.text !== undefined && r.plan.stop.some((s) => r.text!.text.includes(s))) r.finish = 'stop';
  else if (r.tokenIds.length >= r.plan.maxNewTokens) r.finish = 'length';
}

/** A finished row's result (t0: when its request started, tEnd: when its batch ended). */
export function resultOf(r: Row, t0: number, tEnd: number): GenerateResult {
  const n = r.tokenIds.length;
  const tokensPerS = n >= 2 ? ((n - 1) * 1000) / Math.max(r.tLast - r.tFirst, 1e-6) : n > 0 ? (n * 1000) / Math.max(r.tLast - t0, 1e-6) : 0;
  return {
    tokenIds: r.tokenIds, logprobs: r.logprobs, ...(r.text !== undefined ? { text: r.text.text } : {}), promptTokens: r.plan.prompt.length,
    finishReason: r.finish ?? 'length', ttftMs: n > 0 ? r.tFirst - t0 : tEnd - t0, tokensPerS,
  };
}
