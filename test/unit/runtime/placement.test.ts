// Parsing ORT's verbose "Node placements" log (the WebGPU placement check itself runs in test/slow/webgpu).
import * as assert from 'node:assert/strict';
import { cpuFallbacks, parsePlacements } from '../../../src/core/runtime/placement';

const LOG = `2026-11-28 14:04:01.1 [I:onnxruntime:, session_state.cc:1393 VerifyEachNodeIsAssignedToAnEp] Node placements
2026-11-28 14:04:01.1 [I:onnxruntime:, session_state.cc:1396 VerifyEachNodeIsAssignedToAnEp]  Node(s) placed on [WebGpuExecutionProvider]. Number of nodes: 2
2026-11-28 14:04:01.1 [V:onnxruntime:, session_state.cc:1398 VerifyEachNodeIsAssignedToAnEp]   Gemm (model.layers.0.self_attn.q_proj.Gemm)
2026-11-28 14:04:01.1 [V:onnxruntime:, session_state.cc:1398 VerifyEachNodeIsAssignedToAnEp]   Softmax (model.layers.0/Softmax_12)
2026-11-28 14:04:01.1 [I:onnxruntime:, session_state.cc:1396 VerifyEachNodeIsAssignedToAnEp]  Node(s) placed on [CPUExecutionProvider]. Number of nodes: 2
2026-11-28 14:04:01.1 [V:onnxruntime:, session_state.cc:1398 VerifyEachNodeIsAssignedToAnEp]   Shape (grad/Shape_161)
2026-11-28 14:04:01.1 [V:onnxruntime:, session_state.cc:1398 VerifyEachNodeIsAssignedToAnEp]   Cast (model.rotary_emb/Cast_11)
`;

describe('node placement log', () => {
  it('reads each node with its provider, and lists the float ones left on the CPU', () => {
    const p = parsePlacements(LOG);
    assert.deepEqual(p.map((x) => [x.provider, x.opType, x.name]), [
      ['WebGpuExecutionProvider', 'Gemm', 'model.layers.0.self_attn.q_proj.Gemm'],
      ['WebGpuExecutionProvider', 'Softmax', 'model.layers.0/Softmax_12'],
      ['CPUExecutionProvider', 'Shape', 'grad/Shape_161'],
      ['CPUExecutionProvider', 'Cast', 'model.rotary_emb/Cast_11'],
    ]);
    assert.deepEqual(cpuFallbacks(p, (name) => name.includes('rotary')), ['Cast (model.rotary_emb/Cast_11)']);
    assert.deepEqual(parsePlacements('no placement section'), []);
  });
});
