// Continuous batching: rows join a running batch at any step (their prompts prefilled in that step while the running
// rows feed masked padding before their next token) and leave it when they finish; the KV cache is compacted.
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
      const T = Math.max(1, ...joining.map((x) => x.row.plan.prompt.length));
      const pad = (n: number): number[] => new Array<number>(n).fill(0);
      const ids = [
        ...active.map((x) => [...pad(T - 1), x.row.tokenIds.at(-1)!]),
        ...joining.map((x) => [...pad(T - x.row.plan.prompt.length), ...x.row.plan.prompt]),
      ];
      const valid = [
        ...active.map(() => [...pad(T - 1), 1]),
        ...joining.map((x) => [...pad(T - x.row.plan.prompt.length), ...new Array<number>(x.row.plan.prompt.length).fill(1)]),
      ];
      if (joining.length > 0) cache.addRows(joining.length);
      active = [...active, ...joining];
      onStep?.(active.length);
      const out = await session.session.run({ ...lora(active.map((x) => x.a.slot)), ...cache.stepFeeds(ids, valid) }, fetch);
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
