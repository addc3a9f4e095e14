// Continuous batching: rows join a running batch at any step (their prompts prefilled in a pass of their own, their
// caches then appended to the batch's) and leave it when they finish; the KV cache is compacted as rows leave.
import type { GraphSession } from '../graph';
import type { HfTokenizer } from '../hf/tokenizer';
import type { ModelInventory } from '../hf/types';
import { type RowPlan, Row, advance, resultOf } from './decode';
import { type Feeds, KvCache } from './feeds';
import { GEN } from './graph';
import type { GenerateResult, TokenEvent } from './types';

/** A request admitted into the batch, fully resolved by the Generator. */
export interface Admitted {
  plan: RowPlan;
  /** Its slot in the stacked LoRA feeds (0 = the base model). */
  slot: number;
  onToken?: ((t: TokenEvent) => void) | undefined;
  done: (r: GenerateResult) => void;
  fail: (e: unknown) => void;
  t0: number;
}

interface Active { row: Row; a: Admitted }

/**
 * Runs until `take` gives no rows and none is running. Before every step `take(free)` may return up to `free` new
 * rows. `lora(slots)` gives the LoRA feeds for the rows' slots (stacked, with adapter_index); `onStep(rows)` is
 * told the batch size of each forward pass.
 */
export async function decodeContinuous(
  session: GraphSession, inv: ModelInventory, tokenizer: HfTokenizer | null, take: (free: number) => Admitted[], lora: (slots: number[]) => Feeds, maxRows: number,
  onStep?: (rows: number) => void,
): Promise<void> {
  const cache = new KvCache(inv, 0);
  const fetch = [GEN.logits, ...KvCache.outputs(inv)];
  const V = inv.spec.vocabSize;
  let active: Active[] = [];
  try {
    for (;;) {
      for (const x of active) if (x.row.finish === undefined && x.row.plan.signal?.aborted === true) x.row.finish = 'abort';
      if (active.some((x) => x.row.finish !== undefined)) {
        const now = performance.now();
        const keep: number[] = [];
        active.forEach((x, i) => (x.row.finish !== undefined ? x.a.done(resultOf(x.row, x.a.t0, now)) : keep.push(i)));
        cache.keepRows(keep);
        active = keep.map((i) => active[i]!);
      }
      const joining: Active[] = [];
      for (const a of take(maxRows - active.length)) {
        const row = new Row(a.plan, tokenizer);
        if (row.finish !== undefined || a.plan.signal?.aborted === true) a.done(resultOf(row, a.t0, performance.now()));
        else joining.push({ row, a });
      }
      if (active.length === 0 && joining.length === 0) return;
      if (joining.length > 0) {
        // The new rows' prompts in a forward pass of their own (left-padded); their caches then join the batch's.
        const T = Math.max(...joining.map((x) => x.row.plan.prompt.length));
        const pad = (n: number): number[] => new Array<number>(n).fill(0);
        const fresh = new KvCache(inv, joining.length);
        onStep?.(joining.length);
        const out = await session.session.run({
          ...lora(joining.map((x) => x.a.slot)),
          ...fresh.stepFeeds(joining.map((x) => [...pad(T - x.row.plan.prompt.length), ...x.row.plan.prompt]),
            joining.map((x) => [...pad(T - x.row.plan.prompt.length), ...new Array<number>(x.row.plan.prompt.length).fill(1)])),
        }, fetch);
        fresh.update(out);
        const logits = out[GEN.logits]!.data as Float32Array;
        const now = performance.now();
        joining.forEach((x, i) => advance(x.row, logits.subarray(i * V, (i + 1) * V), i, now, { onToken: (t) => x.a.onToken?.({ ...t, row: 0 }) }));
        cache.merge(fresh);
        active = [...active, ...joining];
      }
      if (active.every((x) => x.row.finish !== undefined)) continue;
      // One decode step for every row (a row that just finished is fed masked padding and leaves at the next turn).
      onStep?.(active.length);
      const out = await session.session.run({
        ...lora(active.map((x) => x.a.slot)),
        ...cache.stepFeeds(active.map((x) => [x.row.tokenIds.at(-1) ?? 0]), active.map((x) => [x.row.finish === undefined ? 1 : 0])),
      }, fetch);
      cache.update(out);
      const logits = out[GEN.logits]!.data as Float32Array;
      const now = performance.now();
      active.forEach((x, i) => advance(x.row, logits.subarray(i * V, (i + 1) * V), i, now, { onToken: (t) => x.a.onToken?.({ ...t, row: 0 }) }));
    }
  } catch (e) {
    // A failing step fails the rows in the batch (their requests were checked when admitted).
    for (const x of active) x.a.fail(e);
    throw e;
  } finally {
    cache.release();
  }
}
