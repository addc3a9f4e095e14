// VJP rule of ONNX LayerNormalization (Y output only), recomputing x̂ and 1/σ from the input as the forward does.
// Derivation: y = x̂·w + b, x̂ = (x − μ)·r, r = (var + ε)^−½ ⇒ dx = r·(g − mean(g) − x̂·mean(g·x̂)), g = dy·w.
import { attrFloat, attrInt } from '../ir';
import { add, mul, reciprocal, reduceMean, sqrt, sub } from '../ops';
import { type VjpRule, dyOf, inp, when } from './types';

export const normRules: Record<string, VjpRule> = {
  // See the header: dScale = dy·x̂ and dB = dy, both summed over the leading axes by the engine.
  LayerNormalization: (a) => {
    if (a.node.outputs.length !== 1) throw new Error('LayerNormalization autodiff supports the Y output only');
    const x = inp(a, 0);
    const dy = dyOf(a);
    const axis = attrInt(a.node.attrs, 'axis', -1);
    const start = axis < 0 ? axis + x.rank : axis;
    const axes = Array.from({ length: x.rank - start }, (_, i) => start + i);
    const xc = sub(x, reduceMean(x, axes, true));
    const r = reciprocal(sqrt(add(reduceMean(mul(xc, xc), axes, true), attrFloat(a.node.attrs, 'epsilon', 1e-5))));
    const xhat = mul(xc, r);
    return [
      when(a, 0, () => {
        const gy = mul(dy, inp(a, 1));
        return mul(r, sub(sub(gy, reduceMean(gy, axes, true)), mul(xhat, reduceMean(mul(gy, xhat), axes, true))));
      }),
      when(a, 1, () => mul(dy, xhat)),
      a.node.inputs[2] !== undefined ? when(a, 2, () => dy) : undefined,
    ];
  },
};
