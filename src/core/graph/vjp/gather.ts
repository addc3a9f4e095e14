// VJP rules of indexing ops: Gather (axis 0, e.g. embeddings) and GatherElements scatter-add dy into zeros.
// Indices get no gradient; ScatterND / ScatterElements with reduction='add' sum repeated indices as torch does.
import { zerosLike, scatterElements, scatterND, unsqueeze } from '../opsShape';
import { attrInt } from '../ir';
import { type VjpRule, dyOf, inp, when } from './types';

export const gatherRules: Record<string, VjpRule> = {
  // y[i…, :] = x[idx[i…], :]: dx[j, :] = Σ_{i: idx[i]=j} dy[i…, :] (scatter-add along axis 0).
  Gather: (a) => {
    if (attrInt(a.node.attrs, 'axis', 0) !== 0) throw new Error('Gather autodiff supports axis 0 only');
    const x = inp(a, 0);
    return [when(a, 0, () => scatterND(zerosLike(x), unsqueeze(inp(a, 1), [-1]), dyOf(a), 'add')), undefined];
  },
  // y[i] = x[…idx[i]…] along axis: dx = scatter-add of dy at the same indices.
  GatherElements: (a) => {
    const x = inp(a, 0);
    const axis = attrInt(a.node.attrs, 'axis', 0);
    return [when(a, 0, () => scatterElements(zerosLike(x), inp(a, 1), dyOf(a), axis, 'add')), undefined];
  },
};
