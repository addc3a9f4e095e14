// VJP rules of indexing ops: Gather (axis 0, e.g. embeddings) and GatherElements scatter-add dy into zeros.
// Indices get no gradient; ScatterND / ScatterElements with reduction='add' sum repeated indices as torch does, into
// the input's other gradient contributions (ScatterAdd), not into a separate zero tensor.
import { scatterElements, scatterND, unsqueeze } from '../opsShape';
import { attrInt } from '../ir';
import { ScatterAdd, type VjpRule, dyOf, inp, when } from './types';

export const gatherRules: Record<string, VjpRule> = {
  // y[i…, :] = x[idx[i…], :]: dx[j, :] = Σ_{i: idx[i]=j} dy[i…, :] (scatter-add along axis 0).
  Gather: (a) => {
    if (attrInt(a.node.attrs, 'axis', 0) !== 0) throw new Error('Gather autodiff supports axis 0 only');
    return [when(a, 0, () => new ScatterAdd((base) => scatterND(base, unsqueeze(inp(a, 1), [-1]), dyOf(a), 'add'))), undefined];
  },
  // y[i] = x[…idx[i]…] along axis: dx = scatter-add of dy at the same indices.
  GatherElements: (a) => {
    const axis = attrInt(a.node.attrs, 'axis', 0);
    return [when(a, 0, () => new ScatterAdd((base) => scatterElements(base, inp(a, 1), dyOf(a), axis, 'add'))), undefined];
  },
};
