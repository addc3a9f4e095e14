// Tests of the seeded PRNG: reference outputs of xoshiro128**, exact resume from saved state, distributions.
import { strict as assert } from 'node:assert';
import { Rng } from '../../../src/core/util/random';

describe('Rng (xoshiro128**)', () => {
  it('matches the reference C implementation from state [1,2,3,4]', () => {
    // Outputs of Vigna's xoshiro128starstar.c next() with s = {1, 2, 3, 4}.
    const r = Rng.fromState([1, 2, 3, 4]);
    assert.deepEqual([r.nextUint32(), r.nextUint32(), r.nextUint32(), r.nextUint32(), r.nextUint32()], [11520, 0, 5927040, 70819200, 2031721883]);
  });

  it('jump() matches the reference C jump from state [1,2,3,4]; split() gives distinct streams', () => {
    const r = Rng.fromState([1, 2, 3, 4]);
    r.jump();
    assert.deepEqual(r.getState(), [2843103750, 2038079848, 1533207345, 44816753]);
    assert.equal(r.nextUint32(), 1194304935);
    const parent = new Rng(9);
    const child = parent.split();
    const a = Array.from({ length: 4 }, () => parent.nextUint32());
    const b = Array.from({ length: 4 }, () => child.nextUint32());
    assert.notDeepEqual(a, b);
  });

  it('same seed gives the same stream, different seeds differ', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const sa = Array.from({ length: 8 }, () => a.nextUint32());
    assert.deepEqual(sa, Array.from({ length: 8 }, () => b.nextUint32()));
    assert.notDeepEqual(sa, Array.from({ length: 8 }, () => c.nextUint32()));
    assert.notDeepEqual(new Rng(0).getState(), [0, 0, 0, 0]);
  });

  it('resumes exactly from getState()', () => {
    const a = new Rng(7);
    for (let i = 0; i < 100; i++) a.normal();
    const saved = JSON.parse(JSON.stringify(a.getState())) as number[];
    const expected = [a.uniform(), a.normal(), a.nextUint32(), a.int(10)];
    const b = Rng.fromState(saved);
    assert.deepEqual([b.uniform(), b.normal(), b.nextUint32(), b.int(10)], expected);
    assert.throws(() => Rng.fromState([1, 2, 3]), RangeError);
    assert.throws(() => Rng.fromState([0, 0, 0, 0]), RangeError);
  });

  it('uniform is in [0,1) with mean 1/2; fillNormal has the asked mean and std', () => {
    const r = new Rng(1);
    let sum = 0;
    for (let i = 0; i < 20000; i++) {
      const u = r.uniform();
      assert.ok(u >= 0 && u < 1);
      sum += u;
    }
    assert.ok(Math.abs(sum / 20000 - 0.5) < 0.01);
    const x = new Float32Array(40001);
    r.fillNormal(x, 3, 0.5);
    const mean = x.reduce((s, v) => s + v, 0) / x.length;
    const sd = Math.sqrt(x.reduce((s, v) => s + (v - mean) ** 2, 0) / x.length);
    assert.ok(Math.abs(mean - 3) < 0.01, `mean ${mean}`);
    assert.ok(Math.abs(sd - 0.5) < 0.01, `std ${sd}`);
    const u = new Float32Array(10000);
    r.fillUniform(u, -0.25, 0.25);
    assert.ok(u.every((v) => v >= -0.25 && v < 0.25));
    assert.ok(Math.max(...u) > 0.24 && Math.min(...u) < -0.24);
  });

  it('shuffle is a permutation and depends on the seed', () => {
    const p = new Rng(5).permutation(50);
    assert.deepEqual([...p].sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i));
    assert.notDeepEqual(p, Array.from({ length: 50 }, (_, i) => i));
    assert.deepEqual(new Rng(5).permutation(50), p);
    assert.notDeepEqual(new Rng(6).permutation(50), p);
  });
});
