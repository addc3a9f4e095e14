// Which execution provider runs each node of an .onnx graph: opens it in a child Node process with ORT's verbose log
// (logSeverityLevel 0) and parses the "Node placements" section (docs/ONNXRUNTIME.md: how op coverage of a provider is checked).
import { spawnSync } from 'node:child_process';
import { PeftStudioError } from '../errors';

export interface NodePlacement {
  /** ORT's provider name: CPUExecutionProvider, WebGpuExecutionProvider, CUDAExecutionProvider. */
  provider: string;
  opType: string;
  /** The node's name (ours are HF-scoped: model.layers.0/self_attn/...). */
  name: string;
}

/**
 * Parses ORT's verbose session log: after "Node(s) placed on [EP]. Number of nodes: N" come N lines
 * "... VerifyEachNodeIsAssignedToAnEp]  OpType (node name)". With a single provider ORT prints no such section:
 * then every node is on it and the result is empty.
 */
export function parsePlacements(log: string): NodePlacement[] {
  const out: NodePlacement[] = [];
  let provider = '';
  for (const line of log.split('\n')) {
    const ep = /Node\(s\) placed on \[(\w+)\]/.exec(line);
    if (ep !== null) {
      provider = ep[1]!;
      continue;
    }
    const n = /VerifyEachNodeIsAssignedToAnEp\]\s+(\w+) \((.*)\)\s*$/.exec(line);
    if (n !== null && provider !== '') out.push({ provider, opType: n[1]!, name: n[2]! });
  }
  return out;
}

/**
 * Opens `file` on `device` (after graph optimisation, as training would) in a child process and returns where each
 * node was placed. Throws with the child's log tail when the session cannot be created. Slow on lavapipe (seconds).
 */
export function nodePlacements(file: string, device: 'webgpu' | 'cuda', extraOptions: Record<string, unknown> = {}): NodePlacement[] {
  const options = { executionProviders: [device], logSeverityLevel: 0, graphOptimizationLevel: 'all', ...extraOptions };
  const script = `const ort = require(${JSON.stringify(require.resolve('onnxruntime-node'))});
    ort.env.logLevel = 'verbose';
    ort.InferenceSession.create(${JSON.stringify(file)}, ${JSON.stringify(options)})
      .then((s) => s.release()).catch((e) => { console.error('SESSION FAILED: ' + e.message); process.exit(3); });`;
  const env = { ...process.env, XDG_RUNTIME_DIR: process.env['XDG_RUNTIME_DIR'] ?? '/tmp' };
  const res = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env, maxBuffer: 1 << 28 });
  const log = `${res.stdout}${res.stderr}`;
  if (res.status !== 0) {
    throw new PeftStudioError('placement', `onnxruntime could not open the graph on ${device} (exit ${res.status})`, { file, hint: log.slice(-1500) });
  }
  return parsePlacements(log);
}

/** Placements off the device whose outputs are float tensors (compute that fell back), as "OpType (name)". */
export function cpuFallbacks(placements: NodePlacement[], isFloatNode: (name: string) => boolean = () => true): string[] {
  return placements.filter((p) => p.provider === 'CPUExecutionProvider' && isFloatNode(p.name)).map((p) => `${p.opType} (${p.name})`);
}
