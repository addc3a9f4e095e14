// The IR end to end: shape inference, the checker's rejections, the ONNX writer's protos, the runner with symbolic dims,
// external-data weights read straight from a safetensors file, and autodiff building nothing for frozen weights.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as G from '../../../src/core/graph';
import { Node } from '../../../src/core/graph/ir';
import { readSafetensorsHeader } from '../../../src/core/safetensors/read';
import { writeSafetensors } from '../../../src/core/safetensors/write';

describe('graph IR: shape inference', () => {
  const g = new G.Graph();
  const x = g.input('x', 'float32', ['B', 'T', 8]);
  it('broadcasts, multiplies and reshapes with symbolic dims', () => {
    assert.deepEqual(G.add(x, g.input('b', 'float32', [8])).shape, ['B', 'T', 8]);
    assert.deepEqual(G.mul(g.input('u', 'float32', [3, 1]), g.input('v', 'float32', [1, 4])).shape, [3, 4]);
    const x2 = G.reshape(x, ['B*T', 8]);
    assert.deepEqual(x2.shape, ['B*T', 8]);
    assert.deepEqual(G.linear(x2, g.input('W', 'float32', [16, 8])).shape, ['B*T', 16]);
    assert.deepEqual(G.reshape(x, [0, 0, 2, 4]).shape, ['B', 'T', 2, 4]);
    assert.deepEqual(G.matMul(x, g.input('M', 'float32', [2, 1, 8, 5])).shape, [2, 'B', 'T', 5]);
    assert.deepEqual(G.gemm(g.input('a', 'float32', [3, 2]), g.input('c', 'float32', [3, 4]), { transA: true }).shape, [2, 4]);
    assert.deepEqual(G.reduceMean(x, [-1], false).shape, ['B', 'T']);
    assert.deepEqual(G.gather(g.input('E', 'float32', [100, 8]), g.input('ids', 'int64', ['B', 'T'])).shape, ['B', 'T', 8]);
    assert.deepEqual(G.split(x, [3, 5], 2).map((p) => p.shape), [['B', 'T', 3], ['B', 'T', 5]]);
    assert.deepEqual(G.concat([x, x], 1).shape, ['B', '2*T', 8]);
    assert.deepEqual(G.slice(g.input('s', 'float32', [4, 10]), [1, -4], [100, -1], [0, 1]).shape, [3, 3]);
    assert.deepEqual(G.transpose(x, [2, 0, 1]).shape, [8, 'B', 'T']);
    assert.equal(G.less(x, 0).dtype, 'bool');
  });
  it('rejects bad shapes at build time, naming the node and the weight', () => {
    const W = g.initializer('model.layers.0.mlp.up_proj.weight', 'float32', [4, 6], new Float32Array(24));
    assert.throws(() => G.linear(G.reshape(x, ['B*T', 8]), W), (e: Error) => {
      assert.ok(e instanceof G.GraphError);
      assert.match(e.message, /Gemm node "Gemm_\d+": inner dims differ/);
      assert.match(e.message, /tensor "model\.layers\.0\.mlp\.up_proj\.weight"/);
      return true;
    });
    const bf = g.externalInitializer('model.layers.1.self_attn.o_proj.weight', 'bfloat16', [8, 5], { location: 'model.safetensors', offset: 8, length: 80 });
    assert.throws(() => G.linear(G.reshape(x, ['B*T', 8]), G.cast(bf, 'float32')), (e: Error) => {
      assert.equal((e as G.GraphError).context.tensor, 'model.layers.1.self_attn.o_proj.weight', 'blames the weight behind the Cast');
      return true;
    });
    assert.throws(() => G.add(x, g.input('bad', 'float32', [7])), /shapes do not broadcast: \[B, T, 8\] vs \[7\]/);
    assert.throws(() => G.matMul(x, g.constant('float32', [3, 3], new Float32Array(9))), (e: Error) => (e as G.GraphError).context.tensor === undefined);
    assert.throws(() => G.add(x, g.input('i64', 'int64', [8])), /dtype mismatch/);
  });
});

describe('graph IR: half-precision constants', () => {
  it('encodes float16 (round to nearest even, subnormals, overflow) and bfloat16, and ORT reads them back', async () => {
    assert.deepEqual([1, 0.1, 1 + 2 ** -8, 1 + 3 * 2 ** -8].map(G.toBfloat16), [0x3f80, 0x3dcd, 0x3f80, 0x3f82]);
    assert.deepEqual([1, -2, 65504, 1e6, 2 ** -24, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 0.1].map(G.toHalf), [0x3c00, 0xc000, 0x7bff, 0x7c00, 0x0001, 0x3c00, 0x3c02, 0x2e66]);
    const xs = [1, -2.5, 0.1, 3e-5, 1000.75];
    const g = new G.Graph();
    g.output(G.cast(g.constant('float16', [5], G.typedArrayOf('float16', xs)), 'float32'), 'h');
    g.output(G.cast(g.constant('bfloat16', [5], G.typedArrayOf('bfloat16', xs)), 'float32'), 'b');
    const out = await G.runGraph(g, {});
    const h = Array.from(out['h']!.data as Float32Array);
    const b = Array.from(out['b']!.data as Float32Array);
    xs.forEach((x, i) => {
      assert.ok(Math.abs(h[i]! - x) <= Math.max(Math.abs(x) * 2 ** -11, 2 ** -25), `fp16 ${x} → ${h[i]}`);
      assert.ok(Math.abs(b[i]! - x) <= Math.abs(x) * 2 ** -9, `bf16 ${x} → ${b[i]}`);
    });
  });
});

describe('graph IR: checkGraph', () => {
  it('rejects an input used before it is defined and one that is not in the graph', () => {
    const g = new G.Graph();
    const a = g.input('a', 'float32', [2]);
    const b = G.exp(a);
    g.output(G.neg(b), 'y');
    G.checkGraph(g);
    g.nodes.reverse();
    assert.throws(() => G.checkGraph(g), /Identity node "y": input 0 "Neg_\d+" is used before it is defined/);
    g.nodes.reverse();
    const ghost = new G.Value(g, 'ghost', 'float32', [2], 'node');
    const n = new Node('Add', 'bad_add', [b, ghost], [new G.Value(g, 'bad_out', 'float32', [2], 'node')], {});
    n.outputs[0]!.producer = n;
    g.nodes.push(n);
    assert.throws(() => G.checkGraph(g), /Add node "bad_add": input 1 "ghost" is not in this graph/);
    assert.throws(() => G.neg(a, { name: b.producer!.name, outputNames: ['other'] }), /duplicate node name "Exp_\d+"/);
  });
  it('rejects a shape mismatch and names the HF tensor', () => {
    const g = new G.Graph();
    const x = g.input('x', 'float32', [3, 8]);
    const W = g.externalInitializer('model.layers.2.self_attn.q_proj.weight', 'float32', [4, 6], { location: 'model.safetensors', offset: 64, length: 96 });
    g.output(g.op('Gemm', [x, W], { transB: G.int(1) }, { outputTypes: [{ dtype: 'float32', shape: [3, 4] }] }));
    assert.throws(() => G.checkGraph(g), (e: Error) => {
      assert.ok(e instanceof G.GraphError);
      assert.equal(e.context.tensor, 'model.layers.2.self_attn.q_proj.weight');
      assert.match(e.message, /inner dims differ: \[3, 8\] x \[4, 6\]/);
      return true;
    });
    const h = new G.Graph();
    const u = h.input('u', 'float32', [2, 3]);
    h.output(h.op('Add', [u, u], {}, { outputTypes: [{ dtype: 'float32', shape: [3, 2] }] }));
    assert.throws(() => G.toOnnxModel(h), /output "Add_\d+" type mismatch \(expected float32\[2, 3\], got float32\[3, 2\]\)/);
  });
  it('rejects external data whose length does not match the shape, and a graph without outputs', () => {
    const g = new G.Graph();
    g.externalInitializer('w', 'bfloat16', [4], { location: 'model.safetensors', offset: 8, length: 16 });
    assert.throws(() => G.checkGraph(g), /external data length does not match bfloat16\[4\] \(expected 8 bytes, got 16\)/);
    assert.throws(() => G.checkGraph(new G.Graph()), /graph has no outputs/);
  });
});

describe('graph IR: ONNX writer and runner', () => {
  it('writes opset 18 / IR 9, dim_params and external-data TensorProtos', () => {
    const g = new G.Graph('t');
    const x = g.input('x', 'float32', ['B', 4]);
    const W = g.externalInitializer('lm_head.weight', 'float32', [3, 4], { location: 'model.safetensors', offset: 128, length: 48 });
    g.output(G.linear(x, W), 'logits');
    const m = G.toModelProto(g);
    assert.equal(Number(m.irVersion), 9);
    assert.deepEqual(m.opsetImport.map((o) => [o.domain, Number(o.version)]), [['', 18]]);
    assert.equal(m.graph!.input![0]!.type!.tensorType!.shape!.dim![0]!.dimParam, 'B');
    const t = m.graph!.initializer![0]!;
    assert.equal(t.dataLocation, 1);
    assert.deepEqual(t.externalData!.map((e) => [e.key, e.value]), [['location', 'model.safetensors'], ['offset', '128'], ['length', '48']]);
    assert.equal(m.graph!.node![0]!.opType, 'Gemm');
  });
  it('writes only the nodes and initializers the outputs need', () => {
    const g = new G.Graph();
    const x = g.input('x', 'float32', [2]);
    const unused = g.initializer('unused.weight', 'float32', [2], Float32Array.of(1, 2));
    G.matMul(G.unsqueeze(G.add(x, unused), [0]), G.unsqueeze(x, [1]));
    g.output(G.exp(x), 'y');
    const m = G.toModelProto(g);
    assert.deepEqual(m.graph!.node!.map((n) => n.opType), ['Exp', 'Identity']);
    assert.deepEqual(m.graph!.initializer!.map((t) => t.name), []);
    assert.deepEqual(m.graph!.input!.map((t) => t.name), ['x']);
    assert.equal(G.toModelProto(g, { prune: false }).graph!.node!.length, g.nodes.length);
    const text = G.formatGraph(g);
    assert.match(text, /^ {2}weight unused\.weight: float32\[2\]$/m);
    assert.match(text, /^ {2}Unsqueeze_\d+: float32\[1, 2\] = Unsqueeze\(Add_\d+, const_\d+\)$/m);
    assert.deepEqual(G.opCounts(g).slice(0, 1), [['Unsqueeze', 2]]);
  });
  it('runs one session with different symbolic batch/sequence sizes, gradients included', async () => {
    const g = new G.Graph();
    const x = g.input('x', 'float32', ['B', 'T', 3]);
    const W = g.input('W', 'float32', [2, 3]);
    const y = G.reshape(G.linear(G.reshape(x, ['B*T', 3]), W), ['B', 'T', 2]);
    const loss = G.reduceSum(G.mul(y, y), undefined, false);
    g.output(y, 'y');
    g.output(G.gradients(g, loss, [x]).get(x)!, 'dx');
    const s = await G.GraphSession.create(g);
    try {
      const Wv = Float32Array.of(1, 2, 3, -1, 0, 1);
      for (const [B, T] of [[2, 3], [1, 5]] as const) {
        const xv = Float32Array.from({ length: B * T * 3 }, (_, i) => (i % 7) - 3);
        const out = await s.run({ x: { data: xv, dims: [B, T, 3] }, W: Wv });
        assert.deepEqual(out['y']!.dims, [B, T, 2]);
        assert.deepEqual(out['dx']!.dims, [B, T, 3]);
        for (let r = 0; r < B * T; r++) {
          const xr = Array.from(xv.slice(r * 3, r * 3 + 3));
          const yr = [0, 1].map((o) => xr.reduce((p, v, k) => p + v * Wv[o * 3 + k]!, 0));
          assert.deepEqual(Array.from(out['y']!.data.slice(r * 2, r * 2 + 2) as Float32Array), yr);
          const dxr = [0, 1, 2].map((k) => 2 * (yr[0]! * Wv[k]! + yr[1]! * Wv[3 + k]!));
          assert.deepEqual(Array.from(out['dx']!.data.slice(r * 3, r * 3 + 3) as Float32Array), dxr);
        }
      }
    } finally {
      await s.release();
    }
  });
});

describe('graph IR: external data in a real safetensors file', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peft-graph-ext-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  it('loads F32 and BF16 tensors in place and computes with them; autodiff skips frozen weights', async () => {
    const Wv = Float32Array.from({ length: 12 }, (_, i) => i - 5.5); // [4, 3], HF Linear [out, in]
    const bf = Uint16Array.from([1, 2, 3].map((v) => G.typedArrayOf('bfloat16', [v])[0] as number)); // exact in bf16
    writeSafetensors(path.join(dir, 'model.safetensors'), [
      { name: 'model.norm.weight', dtype: 'BF16', shape: [3], data: bf },
      { name: 'model.layers.0.mlp.up_proj.weight', dtype: 'F32', shape: [4, 3], data: Wv },
    ]);
    const header = readSafetensorsHeader(path.join(dir, 'model.safetensors'));
    const g = new G.Graph();
    const x = g.input('x', 'float32', ['N', 3]);
    const A = g.input('lora_A', 'float32', [2, 3]);
    const B = g.input('lora_B', 'float32', [4, 2]);
    const norm = G.weightFromSafetensors(g, header.tensors.get('model.norm.weight')!);
    const W = G.weightFromSafetensors(g, header.tensors.get('model.layers.0.mlp.up_proj.weight')!);
    const h = G.mul(x, G.cast(norm, 'float32'));
    const y = G.add(G.linear(h, W), G.mul(G.linear(G.linear(h, A), B), 2));
    const forwardNodes = g.nodes.length;
    const loss = G.reduceSum(y, undefined, false);
    const grads = G.gradients(g, loss, [A, B]);
    const backward = g.nodes.slice(forwardNodes);
    assert.ok(!backward.some((n) => n.inputs.includes(W)), 'the frozen weight feeds no backward node');
    assert.ok(!backward.some((n) => n.outputs.some((o) => G.shapeEq(o.shape, [4, 3]))), 'no gradient of W is built');
    g.output(y, 'y');
    g.output(grads.get(A)!, 'dA');
    g.output(grads.get(B)!, 'dB');
    g.output(loss, 'loss');
    const live = new Set(G.liveSubgraph(g).nodes);
    assert.deepEqual(g.nodes.filter((n) => !live.has(n)).map((n) => n.name), [], 'autodiff builds no dead nodes');
    const xv = Float32Array.of(1, 0, -1, 0.5, 2, 1);
    const Av = Float32Array.of(1, 0, 0, 0, 1, 0);
    const out = await G.runGraph(g, { x: { data: xv, dims: [2, 3] }, lora_A: Av, lora_B: new Float32Array(8) }, { dir, fileName: 'step.onnx' });
    assert.ok(fs.existsSync(path.join(dir, 'step.onnx')), 'a named graph file stays beside the weights');
    const again = await G.runGraph(g, { x: { data: xv, dims: [2, 3] }, lora_A: Av, lora_B: new Float32Array(8) }, { dir });
    assert.deepEqual(again['y']!.data, out['y']!.data);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['model.safetensors', 'step.onnx'], 'an unnamed graph file is removed on release');
    const expectY = [0, 1].flatMap((r) => [0, 1, 2, 3].map((o) => [0, 1, 2].reduce((p, k) => p + xv[r * 3 + k]! * (k + 1) * Wv[o * 3 + k]!, 0)));
    assert.deepEqual(Array.from(out['y']!.data as Float32Array), expectY);
    // dB[o, j] = 2 · Σ_rows (A h)[row, j] with A selecting h[:, 0] and h[:, 1].
    const hv = [0, 1].map((r) => [0, 1, 2].map((k) => xv[r * 3 + k]! * (k + 1)));
    const dB = [0, 1, 2, 3].flatMap(() => [0, 1].map((j) => 2 * (hv[0]![j]! + hv[1]![j]!)));
    assert.deepEqual(Array.from(out['dB']!.data as Float32Array), dB);
    assert.deepEqual(Array.from(out['dA']!.data as Float32Array), new Array<number>(6).fill(0));
  });
  it('backpropagates through a frozen [out, in] weight with one Gemm(dY, W): no Transpose, no copy', () => {
    const g = new G.Graph();
    const x = g.input('x', 'float32', ['N', 3]);
    const A = g.input('lora_A', 'float32', [3, 3]);
    const W = g.externalInitializer('model.layers.1.mlp.down_proj.weight', 'float32', [5, 3], { location: 'model.safetensors', offset: 8, length: 60 });
    const y = G.linear(G.linear(x, A), W);
    const n0 = g.nodes.length;
    G.gradients(g, G.reduceSum(y, undefined, false), [A]);
    const users = g.nodes.slice(n0).filter((n) => n.inputs.includes(W));
    assert.deepEqual(users.map((n) => [n.op, n.attrs['transA'], n.attrs['transB']]), [['Gemm', undefined, undefined]]);
    assert.ok(!g.nodes.some((n) => n.op === 'Transpose'));
  });
  it('checks external files before ORT: a symlink out of the folder and a range past the end name the tensor', () => {
    const other = fs.mkdtempSync(path.join(os.tmpdir(), 'peft-graph-ext2-'));
    try {
      fs.writeFileSync(path.join(other, 'real.safetensors'), new Uint8Array(64));
      fs.symlinkSync(path.join(other, 'real.safetensors'), path.join(dir, 'linked.safetensors'));
      const g = new G.Graph();
      g.externalInitializer('model.embed_tokens.weight', 'float32', [4], { location: 'linked.safetensors', offset: 8, length: 16 });
      assert.throws(() => G.checkExternalData(g, dir), /tensor "model\.embed_tokens\.weight".*resolves outside the graph folder/);
      fs.linkSync(path.join(other, 'real.safetensors'), path.join(dir, 'hard.safetensors'));
      const h = new G.Graph();
      h.externalInitializer('a', 'float32', [4], { location: 'hard.safetensors', offset: 48, length: 16 });
      G.checkExternalData(h, dir);
      h.externalInitializer('b', 'float32', [4], { location: 'hard.safetensors', offset: 56, length: 16 });
      assert.throws(() => G.checkExternalData(h, dir), /tensor "b": external data range ends past the end of hard\.safetensors \(expected ≤ 64 bytes, got 72\)/);
    } finally {
      fs.rmSync(path.join(dir, 'linked.safetensors'), { force: true });
      fs.rmSync(path.join(dir, 'hard.safetensors'), { force: true });
      fs.rmSync(other, { recursive: true, force: true });
    }
  });
  it('refuses to run a graph with external data without the weights folder', async () => {
    const g = new G.Graph();
    const W = g.externalInitializer('w', 'float32', [2], { location: 'model.safetensors', offset: 8, length: 8 });
    g.output(G.neg(W), 'y');
    await assert.rejects(G.runGraph(g, {}), /must be written into the folder of its weight files/);
  });
});
