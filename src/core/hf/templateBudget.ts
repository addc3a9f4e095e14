// Bounds on rendering a chat template from a model folder (@huggingface/jinja runs it synchronously, so a template
// that loops 1e9 times or builds a huge string would hang or exhaust memory): steps, output size, range() length, time.
import { Environment, Interpreter } from '@huggingface/jinja';

/** Evaluation steps (AST nodes visited) one render may take; real templates take tens per chat turn. */
export const MAX_TEMPLATE_STEPS = 300_000;
/** Characters of all strings a render produces, summed over nesting levels (the output itself is far smaller). */
export const MAX_TEMPLATE_CHARS = 64 * 1024 * 1024;
/** Longest list range() may build. */
export const MAX_TEMPLATE_RANGE = 100_000;
/** Wall-clock safety net for one render (the step limit is the deterministic bound). */
export const MAX_TEMPLATE_MS = 5_000;

export class TemplateLimitError extends Error {}

interface Budget {
  steps: number;
  chars: number;
  deadline: number;
}

let active: Budget | null = null;

function step(b: Budget): void {
  if (++b.steps > MAX_TEMPLATE_STEPS) throw new TemplateLimitError(`it takes more than ${MAX_TEMPLATE_STEPS} evaluation steps (a loop that does not end?)`);
  if ((b.steps & 63) === 0 && Date.now() > b.deadline) throw new TemplateLimitError(`it takes longer than ${MAX_TEMPLATE_MS / 1000} s`);
}

type Evaluate = (this: unknown, statement: unknown, environment: unknown) => unknown;
const proto = Interpreter.prototype as unknown as { evaluate: Evaluate; evaluateBlock: Evaluate; __peftBudget?: boolean };
if (proto.__peftBudget !== true) {
  const original = proto.evaluate;
  const originalBlock = proto.evaluateBlock;
  // evaluateBlock runs once per loop iteration, also for an empty body: counting it bounds loops that evaluate nothing.
  proto.evaluateBlock = function guardedBlock(statements, environment) {
    if (active !== null) step(active);
    return originalBlock.call(this, statements, environment);
  };
  proto.evaluate = function guarded(statement, environment) {
    const b = active;
    if (b !== null) step(b);
    const r = original.call(this, statement, environment);
    if (b !== null) {
      const v = (r as { value?: unknown } | undefined)?.value;
      if (typeof v === 'string') {
        b.chars += v.length;
        if (b.chars > MAX_TEMPLATE_CHARS) throw new TemplateLimitError(`it produces more than ${MAX_TEMPLATE_CHARS / 1024 / 1024} M characters`);
      }
    }
    return r;
  };
  proto.__peftBudget = true;
  // The library's globals are set with Environment.set inside render(): range() is swapped for the bounded one there.
  const envProto = Environment.prototype as unknown as { set: (name: string, value: unknown) => unknown };
  const originalSet = envProto.set;
  envProto.set = function set(name, value) {
    return originalSet.call(this, name, active !== null && name === 'range' ? boundedRange : value);
  };
}

/** Python's range() with a bound on the length of the list it builds. */
export function boundedRange(start: number, stop?: number, step = 1): number[] {
  if (stop === undefined) {
    stop = start;
    start = 0;
  }
  if (step === 0) throw new Error('range() step must not be zero');
  const n = Math.max(0, Math.ceil((stop - start) / step));
  if (!Number.isFinite(n) || n > MAX_TEMPLATE_RANGE) throw new TemplateLimitError(`range() of ${String(n)} items is longer than ${MAX_TEMPLATE_RANGE}`);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(start + i * step);
  return out;
}

/** Runs `render` with the budget active (renders do not nest: the interpreter is synchronous). */
export function withTemplateBudget<T>(render: () => T): T {
  const previous = active;
  active = { steps: 0, chars: 0, deadline: Date.now() + MAX_TEMPLATE_MS };
  try {
    return render();
  } finally {
    active = previous;
  }
}
