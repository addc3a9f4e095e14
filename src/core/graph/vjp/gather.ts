// VJP rules of indexing ops: Gather (any axis, e.g. embeddings) and GatherElements scatter-add dy at the indices.
// Indices get no gradient; ScatterND / ScatterElements with reduction='add' sum repeated indices as torch does, into
// the input's other gradient contributions (ScatterAdd), not into a separate zero tensor.
import { scatterElements, scatterND, transpose, unsqueeze } from '../opsShape';
import { type Value, attrInt } from '../ir';
import { ScatterAdd, type VjpRule, dyOf, inp, when } from './types';

export const gatherRules: Record<string, VjpRule> = {
  // y[i…, :] = x[idx[i…], :]: dx[j, :] = Σ_{i: idx[i]=j} dy[i…, :] (scatter-add along axis 0; other axes are
  // transposed to the front and back).
  Gather: (a) => {
    const x = inp(a, 0);
    const idx = inp(a, 1);
    const k = ((attrInt(a.node.attrs, 'axis', 0) % x.rank) + x.rank) % x.rank;
    const ind = (): Value => unsqueeze(idx, [-1]);
    if (k === 0) return [when(a, 0, () => new ScatterAdd((base) => scatterND(base, ind(), dyOf(a), 'add'))), undefined];
    const q = idx.rank;
    const permX = [k, ...range(0, k), ...range(k + 1, x.rank)];
    const inv = permX.map((_, i) => permX.indexOf(i));
    const permDy = [...range(k, k + q), ...range(0, k), ...range(k + q, x.rank - 1 + q)];
    return [when(a, 0, () => new ScatterAdd((base) => transpose(scatterND(transpose(base, permX), ind(), transpose(dyOf(a), permDy), 'add'), inv))), undefined];
  },
  // y[i] = x[…idx[i]…] along axis: dx = scatter-add of dy at the same indices.
  GatherElements: (a) => {
    const axis = attrInt(a.node.attrs, 'axis', 0);
    return [when(a, 0, () => new ScatterAdd((base) => scatterElements(base, inp(a, 1), dyOf(a), axis, 'add'))), undefined];
  },
};

const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);
