import { strict as assert } from 'node:assert';
import { availableHostMemory, checkMemoryFits } from '../../../src/core/memory/fit';
import type { MemoryEstimate } from '../../../src/core/memory/estimate';

const MiB = 2 ** 20;
const estimate = (parts: [string, number][]): MemoryEstimate => ({
  components: parts.map(([name, mib]) => ({ name, bytes: mib * MiB, detail: '' })),
  totalBytes: parts.reduce((a, [, mib]) => a + mib * MiB, 0),
  where: 'host',
});

describe('memory fit check', () => {
  const e = estimate([['weights', 600], ['activations: MLP', 300], ['logits, softmax and their gradient', 100], ['runtime', 24]]);
  it('refuses a run that needs more than is available, naming the largest parts and what to change', () => {
    assert.throws(() => checkMemoryFits(e, 1000 * MiB), (err: unknown) => {
      assert.ok(err instanceof Error);
      assert.match(err.message, /needs about 1\.0 GiB but only 1000 MiB of memory is available \(largest parts: weights 600 MiB, activations: MLP 300 MiB, logits, softmax and their gradient 100 MiB\)/);
      assert.match(err.message, /gradient_accumulation_steps/);
      assert.match(err.message, /PEFT_STUDIO_SKIP_MEMORY_CHECK=1/);
      return true;
    });
  });
  it('warns above 80% of the available memory and passes below', () => {
    const w = checkMemoryFits(e, 1200 * MiB);
    assert.equal(w.level, 'warning');
    assert.match(w.message, /85% of the 1\.2 GiB available/);
    assert.equal(checkMemoryFits(e, 4096 * MiB).level, 'ok');
  });
  it('reads a plausible available-memory figure from the machine', () => {
    const a = availableHostMemory();
    assert.ok(a > 16 * MiB && a < 2 ** 50, String(a));
  });
});
