// Token choice as transformers' logits processors compute it: repetition penalty, temperature, top-k (ties kept),
// top-p (at least one token kept), greedy argmax, and the raw log-probability; draws follow the seeded Rng.
import * as assert from 'node:assert/strict';
import { applyRepetitionPenalty, argmax, checkSampling, chooseToken, logProb } from '../../../src/core/generate/sampling';
import { Rng } from '../../../src/core/util/random';

function frequencies(logits: number[], o: Parameters<typeof chooseToken>[2], draws = 4000): number[] {
  const rng = new Rng(1);
  const counts = new Array<number>(logits.length).fill(0);
  for (let i = 0; i < draws; i++) counts[chooseToken(logits, [], o, rng)]!++;
  return counts.map((c) => c / draws);
}

describe('generate: sampling', () => {
  it('logProb is log_softmax; argmax takes the first maximum', () => {
    const l = [1, 2, 3, 3];
    const z = Math.log(Math.exp(1) + Math.exp(2) + 2 * Math.exp(3));
    assert.ok(Math.abs(logProb(l, 1) - (2 - z)) < 1e-12);
    assert.equal(argmax(l), 2);
    assert.ok(Math.abs(logProb([1000, 0], 1) - -1000) < 1e-9, 'stable for large logits');
  });

  it('repetition penalty divides positive and multiplies negative scores of seen tokens, once each', () => {
    const s = Float64Array.from([2, -2, 1]);
    applyRepetitionPenalty(s, [0, 1, 0], 2);
    assert.deepEqual([...s], [1, -4, 1]);
    assert.equal(chooseToken([2, 1.5], [0], { repetitionPenalty: 2 }, new Rng(0)), 1, 'greedy sees the penalized scores');
  });

  it('temperature 0 is greedy whatever the rng; temperature 1 draws by softmax', () => {
    assert.equal(chooseToken([0, 5, 1], [], { temperature: 0 }, new Rng(3)), 1);
    const f = frequencies([0, Math.log(3)], { temperature: 1 });
    assert.ok(Math.abs(f[1]! - 0.75) < 0.03, `p(1) = ${f[1]}`);
    const hot = frequencies([0, Math.log(3)], { temperature: 2 });
    assert.ok(Math.abs(hot[1]! - Math.sqrt(3) / (1 + Math.sqrt(3))) < 0.03, `T=2: p(1) = ${hot[1]}`);
  });

  it('top-k keeps the k best (and ties with the k-th); top-p keeps the smallest set reaching p', () => {
    const k = frequencies([3, 2, 1, 0], { temperature: 1, topK: 2 });
    assert.equal(k[2]! + k[3]!, 0);
    assert.ok(Math.abs(k[0]! - 1 / (1 + Math.exp(-1))) < 0.03);
    const ties = frequencies([3, 1, 1, 0], { temperature: 1, topK: 2 });
    assert.ok(ties[2]! > 0 && ties[3] === 0, 'the tie with the 2nd score is kept');
    // probs 0.5, 0.3, 0.2: p = 0.7 keeps {0, 1} (ascending mass 0.2 ≤ 0.3 dropped), p = 0.85 keeps all three.
    const l = [Math.log(0.5), Math.log(0.3), Math.log(0.2)];
    assert.equal(frequencies(l, { temperature: 1, topP: 0.7 })[2], 0);
    assert.ok(frequencies(l, { temperature: 1, topP: 0.85 })[2]! > 0.15);
    assert.deepEqual(frequencies(l, { temperature: 1, topP: 0.01 }), [1, 0, 0], 'at least one token is kept');
  });

  it('rejects out-of-range settings, naming the field', () => {
    assert.throws(() => checkSampling({ temperature: -1 }), /temperature must be a number ≥ 0/);
    assert.throws(() => checkSampling({ topK: 1.5 }), /top_k must be an integer ≥ 0/);
    assert.throws(() => checkSampling({ repetitionPenalty: 0 }), /repetition_penalty must be a number > 0/);
  });
});
