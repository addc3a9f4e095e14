// The apply graph (clip_grad_norm_ + AdamW as ONNX ops) against torch's _single_tensor_adamw written out in float64:
// three updates with clipping active, inactive and off, weight decay on every tensor, moments carried between steps.
import * as assert from 'node:assert/strict';
import { GraphSession, type HostTensor } from '../../../src/core/graph';
import { buildApplyGraph, gradName, OUTPUT } from '../../../src/core/models/stepGraph';
import { ADAMW_INPUT, expAvgName, expAvgSqName, newName } from '../../../src/core/train/adamw';
import type { OptimizerOptions } from '../../../src/core/train/engineApi';
import { Rng } from '../../../src/core/util/random';

interface Slot { p: Float64Array; m: Float64Array; v: Float64Array }

/** torch.nn.utils.clip_grad_norm_ + torch.optim.AdamW.step(), float64. Returns the norm before clipping. */
function torchStep(slots: Slot[], grads: Float64Array[], lr: number, t: number, o: OptimizerOptions): number {
  const norm = Math.sqrt(grads.reduce((s, g) => s + g.reduce((a, x) => a + x * x, 0), 0));
  const coef = o.maxGradNorm > 0 ? Math.min(o.maxGradNorm / (norm + 1e-6), 1) : 1;
  const bc1 = 1 - o.beta1 ** t;
  const bc2 = 1 - o.beta2 ** t;
  slots.forEach((s, k) => {
    for (let i = 0; i < s.p.length; i++) {
      const g = grads[k]![i]! * coef;
      s.p[i] = s.p[i]! * (1 - lr * o.weightDecay);
      s.m[i] = s.m[i]! * o.beta1 + g * (1 - o.beta1);
      s.v[i] = s.v[i]! * o.beta2 + g * g * (1 - o.beta2);
      s.p[i] = s.p[i]! - (lr / bc1) * (s.m[i]! / (Math.sqrt(s.v[i]!) / Math.sqrt(bc2) + o.eps));
    }
  });
  return norm;
}

describe('AdamW + clipping graph', () => {
  for (const maxGradNorm of [0.5, 0]) {
    it(`matches torch's update for 3 steps (max_grad_norm ${maxGradNorm})`, async () => {
      const opt: OptimizerOptions = { beta1: 0.9, beta2: 0.98, eps: 1e-6, weightDecay: 0.1, maxGradNorm };
      const params = [{ key: 'a.lora_A.weight', shape: [2, 5] }, { key: 'a.lora_B.weight', shape: [3, 2] }];
      const s = await GraphSession.create(buildApplyGraph(params, opt, 'float32'));
      try {
        const rng = new Rng(1);
        const rand = (n: number, std: number): Float64Array => { const a = new Float64Array(n); rng.fillNormal(a, 0, std); return a; };
        const ref: Slot[] = params.map((p) => ({ p: rand(p.shape[0]! * p.shape[1]!, 0.5), m: new Float64Array(p.shape[0]! * p.shape[1]!), v: new Float64Array(p.shape[0]! * p.shape[1]!) }));
        let state: { p: Float32Array; m: Float32Array; v: Float32Array }[] = ref.map((r) => ({ p: Float32Array.from(r.p), m: new Float32Array(r.m.length), v: new Float32Array(r.v.length) }));
        const norms: number[] = [];
        for (const [t, lr, scale] of [[1, 0.1, 0.1], [2, 0.05, 1], [3, 0.02, 0.2]] as const) {
          const grads = params.map((p) => Float64Array.from(rand(p.shape[0]! * p.shape[1]!, scale), Math.fround));
          const feeds: Record<string, HostTensor | Float32Array> = {
            [ADAMW_INPUT.lr]: { data: Float64Array.of(lr), dims: [] },
            [ADAMW_INPUT.step]: { data: Float64Array.of(t), dims: [] },
          };
          params.forEach((p, k) => {
            feeds[p.key] = state[k]!.p;
            feeds[gradName(p.key)] = Float32Array.from(grads[k]!);
            feeds[expAvgName(p.key)] = state[k]!.m;
            feeds[expAvgSqName(p.key)] = state[k]!.v;
          });
          const out = await s.run(feeds);
          const norm = torchStep(ref, grads, lr, t, opt);
          norms.push(norm);
          assert.ok(Math.abs(Number(out[OUTPUT.gradNorm]!.data[0]) - norm) < 1e-6 * norm, `grad_norm step ${t}`);
          state = params.map((p) => ({
            p: out[newName(p.key)]!.data as Float32Array,
            m: out[newName(expAvgName(p.key))]!.data as Float32Array,
            v: out[newName(expAvgSqName(p.key))]!.data as Float32Array,
          }));
          ref.forEach((r, k) => {
            for (let i = 0; i < r.p.length; i++) {
              assert.ok(Math.abs(state[k]!.p[i]! - r.p[i]!) < 1e-6 * Math.max(1, Math.abs(r.p[i]!)), `param ${params[k]!.key}[${i}] step ${t}`);
              assert.ok(Math.abs(state[k]!.v[i]! - r.v[i]!) <= 1e-6 * r.v[i]! + 1e-12, `exp_avg_sq step ${t}`);
            }
          });
        }
        if (maxGradNorm > 0) assert.ok(norms.some((n) => n > maxGradNorm) && norms.some((n) => n < maxGradNorm), `clipping active in some steps only: ${norms.join(', ')}`);
      } finally {
        await s.release();
      }
    });
  }
});
