// Learning-rate schedules with the semantics of transformers' `get_scheduler` (optimization.py): a LambdaLR
// whose multiplier for optimizer step k (1-based) is lambda(k - 1), so the first warmup step uses lr 0.

export type SchedulerType = 'constant' | 'constant_with_warmup' | 'linear' | 'cosine';

export interface ScheduleOptions {
  type: SchedulerType;
  learningRate: number;
  totalSteps: number;
  /** Explicit warmup steps (wins when > 0). */
  warmupSteps: number;
  /** Fraction of totalSteps used when warmupSteps is 0: ceil(ratio * total), as TrainingArguments.get_warmup_steps. */
  warmupRatio: number;
}

/** TrainingArguments.get_warmup_steps: warmup_steps if > 0 else ceil(total * warmup_ratio). */
export function warmupStepsFor(totalSteps: number, warmupSteps: number, warmupRatio: number): number {
  return warmupSteps > 0 ? warmupSteps : Math.ceil(totalSteps * warmupRatio);
}

/** The LambdaLR multiplier at `currentStep` (0-based: the number of scheduler.step() calls made so far). */
export function lrLambda(type: SchedulerType, currentStep: number, warmup: number, total: number): number {
  switch (type) {
    case 'constant':
      // get_constant_schedule ignores warmup.
      return 1;
    case 'constant_with_warmup':
      return currentStep < warmup ? currentStep / Math.max(1, warmup) : 1;
    case 'linear':
      if (currentStep < warmup) return currentStep / Math.max(1, warmup);
      return Math.max(0, (total - currentStep) / Math.max(1, total - warmup));
    case 'cosine': {
      // num_cycles = 0.5: a half cosine from 1 down to 0.
      if (currentStep < warmup) return currentStep / Math.max(1, warmup);
      const progress = (currentStep - warmup) / Math.max(1, total - warmup);
      return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * 0.5 * 2 * progress)));
    }
  }
}

export class LrSchedule {
  readonly warmup: number;

  constructor(private readonly opts: ScheduleOptions) {
    this.warmup = warmupStepsFor(opts.totalSteps, opts.warmupSteps, opts.warmupRatio);
  }

  /** The learning rate optimizer step `step` (1-based) uses; this is also the value logged for it. */
  lrAt(step: number): number {
    return this.opts.learningRate * lrLambda(this.opts.type, step - 1, this.warmup, this.opts.totalSteps);
  }
}
