// The order in which training sequences are consumed: an endless stream of epochs, each the file order or a
// seeded permutation, read B = batch × accumulation sequences per optimizer step, wrapping across epochs.
// Its whole state (epoch, cursor, permutation) goes into trainer_state.json so that a resume is exact.
import { Rng } from '../../util/random';
import type { Batch } from '../engineApi';
import { collate, type Sequence } from './collate';

export interface StreamState {
  /** 0-based epoch being read. */
  epoch: number;
  /** Next position in `order`. */
  cursor: number;
  /** Order of the current epoch (sequence indices). */
  order: number[];
}

/** The permutation of epoch `epoch`: Rng(seed + epoch), as HF seeds its sampler with seed + epoch. */
export function epochOrder(n: number, shuffle: boolean, seed: number, epoch: number): number[] {
  return shuffle ? new Rng(seed + epoch).permutation(n) : Array.from({ length: n }, (_, i) => i);
}

export class SequenceStream {
  private state: StreamState;

  constructor(
    readonly size: number,
    private readonly shuffle: boolean,
    private readonly seed: number,
    state?: StreamState,
  ) {
    if (size <= 0) throw new RangeError('SequenceStream needs at least one sequence');
    this.state = state !== undefined ? { ...state, order: [...state.order] } : { epoch: 0, cursor: 0, order: epochOrder(size, shuffle, seed, 0) };
    if (this.state.order.length !== size) throw new RangeError(`stream state has ${this.state.order.length} entries for ${size} sequences`);
  }

  /** The next `count` sequence indices, moving into the next epoch (new permutation) at the end of one. */
  take(count: number): number[] {
    const out: number[] = [];
    while (out.length < count) {
      if (this.state.cursor >= this.size) {
        const epoch = this.state.epoch + 1;
        this.state = { epoch, cursor: 0, order: epochOrder(this.size, this.shuffle, this.seed, epoch) };
      }
      out.push(this.state.order[this.state.cursor]!);
      this.state.cursor++;
    }
    return out;
  }

  /** Epochs consumed so far, fractional (sequences read / data set size). */
  get epochsDone(): number {
    return this.state.epoch + this.state.cursor / this.size;
  }

  getState(): StreamState {
    return { ...this.state, order: [...this.state.order] };
  }
}

export interface StepPlan {
  microBatchSize: number;
  accumulation: number;
  padTokenId: number;
}

/** The micro-batches of one optimizer step: B = microBatchSize × accumulation sequences, in stream order. */
export function nextStepBatches(stream: SequenceStream, sequences: readonly Sequence[], plan: StepPlan): { batches: Batch[]; indices: number[] } {
  const indices = stream.take(plan.microBatchSize * plan.accumulation);
  const batches: Batch[] = [];
  for (let m = 0; m < plan.accumulation; m++) {
    const rows = indices.slice(m * plan.microBatchSize, (m + 1) * plan.microBatchSize).map((i) => sequences[i]!);
    batches.push(collate(rows, plan.padTokenId));
  }
  return { batches, indices };
}

/** Optimizer steps: max_steps when > 0, else ceil(epochs × ceil(N / B)) (at least 1). */
export function totalStepsFor(numSequences: number, globalBatch: number, maxSteps: number, epochs: number): number {
  if (maxSteps > 0) return maxSteps;
  const perEpoch = Math.ceil(numSequences / globalBatch);
  return Math.max(1, Math.ceil(epochs * perEpoch));
}
