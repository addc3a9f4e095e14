// The compiler's forward + backward ops on the WebGPU EP (lavapipe on CI machines, scripts/setup-webgpu.sh) agree with the CPU EP.
// Needs a Vulkan driver (mesa-vulkan-drivers from bookworm-backports) and fails with that hint without one; npm run test:slow.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as G from '../../../src/core/graph';

export function build(): G.Graph {
  const g = new G.Graph('webgpu_check');
  const x = g.input('x', 'float32', ['B', 'T', 8]);
  const W = g.input('W', 'float32', [6, 8]);
  const E = g.input('E', 'float32', [10, 8]);
  const ids = g.input('ids', 'int64', ['B', 'T']);
  const t = g.input('t', 'int64', ['B*T']);
  const h = G.add(G.reshape(x, ['B*T', 8]), G.reshape(G.gather(E, ids), ['B*T', 8]));
  let y = G.geluNew(G.layerNorm(G.linear(G.rmsNorm(h, g.scalar(1), 1e-6), W), g.scalar(1), undefined, 1e-5));
  y = G.mul(y, G.silu(y));
  const y3 = G.reshape(y, ['B', 'T', 6]);
  const tri = G.trilu(G.matMul(G.softmax(G.matMul(y3, G.transpose(y3, [0, 2, 1])), -1), y3), false);
  const flat = G.reshape(tri, ['B*T', 6]);
  const [p, q] = G.split(flat, [3, 3], 1);
  const z = G.concat([G.max(p!, q!), G.abs(q!), G.relu(p!), G.slice(flat, [1], [4], [1])], 1);
  const z2 = G.layerNormalization(z, g.constant('float32', [12], new Float32Array(12).fill(1)), undefined);
  const ce = G.crossEntropy(G.pow(G.sqrt(G.exp(z2)), 2), t);
  g.output(ce.mean, 'loss');
  for (const [v, d] of G.gradients(g, ce.mean, [W, E, x])) g.output(d, `grad.${v.name}`);
  return g;
}

/** Child mode: open the graph on WebGPU with verbose logging (ORT prints "Node placements" to stderr). */
async function placementChild(): Promise<void> {
  const s = await G.GraphSession.create(build(), { executionProviders: ['webgpu'], sessionOptions: { logSeverityLevel: 0 } });
  await s.release();
}

if (process.argv[2] !== 'placement') describe('graph compiler on the WebGPU EP', function () {
  this.timeout(300000);
  before(() => {
    if (process.env['XDG_RUNTIME_DIR'] === undefined) process.env['XDG_RUNTIME_DIR'] = '/tmp';
  });
  it('places every float op of forward and backward on WebGPU (only int64 shape arithmetic on the CPU)', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', __filename, 'placement'], { encoding: 'utf8', maxBuffer: 1 << 26 });
    const log = r.stdout + r.stderr;
    const start = log.indexOf('Node placements');
    assert.ok(start >= 0, `no placement log (exit ${r.status}): ${log.slice(-2000)}`);
    const g = build();
    const byName = new Map(g.nodes.map((n) => [n.name, n]));
    const onCpu: string[] = [];
    let ep = '';
    for (const line of log.slice(start).split('\n')) {
      const m = /Node\(s\) placed on \[(\w+)\]/.exec(line);
      if (m !== null) ep = m[1]!;
      const n = /VerifyEachNodeIsAssignedToAnEp\]\s+(\w+) \((.+)\)\s*$/.exec(line);
      if (n !== null && ep === 'CPUExecutionProvider') {
        const node = byName.get(n[2]!);
        if (node === undefined || node.outputs.some((o) => G.isFloat(o.dtype))) onCpu.push(`${n[1]} ${n[2]}`);
      }
    }
    assert.deepEqual(onCpu, [], 'float ops that fell back to the CPU');
  });
  it('gives the CPU results for forward and backward (symbolic B, T; gather scatter-add; LayerNormalization)', async function () {
    const g = build();
    const B = 2;
    const T = 3;
    const feeds: Record<string, G.Feed> = {
      x: { data: Float32Array.from({ length: B * T * 8 }, (_, i) => Math.sin(i)), dims: [B, T, 8] },
      W: Float32Array.from({ length: 48 }, (_, i) => Math.cos(i)),
      E: Float32Array.from({ length: 80 }, (_, i) => Math.sin(3 * i)),
      ids: { data: BigInt64Array.from({ length: B * T }, (_, i) => BigInt(i % 10)), dims: [B, T] },
      t: { data: BigInt64Array.from({ length: B * T }, (_, i) => (i === 2 ? -100n : BigInt(i % 12))), dims: [B * T] },
    };
    const cpu = await G.runGraph(g, feeds, { executionProviders: ['cpu'] });
    const gpu = await G.runGraph(g, feeds, { executionProviders: ['webgpu'] }).catch((e: unknown) => {
      throw new Error(`no WebGPU adapter? install mesa-vulkan-drivers from bookworm-backports (scripts/setup-webgpu.sh): ${String(e)}`);
    });
    for (const [k, v] of Object.entries(cpu)) {
      const a = v.data as Float32Array;
      const b = gpu[k]!.data as Float32Array;
      assert.equal(a.length, b.length);
      for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= 1e-4 * (1 + Math.abs(a[i]!)), `${k}[${i}]: cpu ${a[i]} webgpu ${b[i]}`);
    }
  });
});

if (process.argv[2] === 'placement') void placementChild();
