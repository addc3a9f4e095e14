// Execution-provider selection: `device: auto|cpu|webgpu|cuda` → the onnxruntime-node provider to use,
// with the reason (auto: CUDA if its provider loads, else WebGPU if an adapter is found, else CPU).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError, errorMessage } from '../errors';
import { probeModelBytes } from './probeModel';

export type DeviceRequest = 'auto' | 'cpu' | 'webgpu' | 'cuda';
export type Device = 'cpu' | 'webgpu' | 'cuda';

export interface ProbeResult {
  available: boolean;
  /** Why not (the runtime's words, shortened), when unavailable. */
  detail?: string;
}

export interface DeviceProbes {
  cuda(): Promise<ProbeResult>;
  webgpu(): Promise<ProbeResult>;
  /**
   * Whether the machine has a GPU device node at all. A WebGPU adapter without one is a software
   * rasteriser (Mesa's lavapipe): it proves the GPU code path but is far slower than the CPU, so
   * `auto` does not pick it (an explicit `device: webgpu` still does).
   */
  hardwareGpu(): ProbeResult;
}

export interface DeviceChoice {
  device: Device;
  reason: string;
}

export const CUDA_HELP =
  'The CUDA provider of onnxruntime-node is not installed. With an NVIDIA GPU, CUDA 12 and cuDNN 9 on the system and internet access, ' +
  'run `ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install` in the folder that holds node_modules ' +
  '(PEFT Studio denies that install script in package.json so that a plain `npm ci` downloads nothing), ' +
  'or use `device: webgpu` / `device: cpu`';

export const WEBGPU_HELP =
  'No WebGPU adapter was found. WebGPU uses Vulkan on Linux (install your GPU\'s Vulkan driver, e.g. mesa-vulkan-drivers, ' +
  'and make sure XDG_RUNTIME_DIR is set), D3D12 on Windows and Metal on macOS; or use `device: cpu`';

/** Pure decision: which device a request resolves to, given what the probes found. */
export async function chooseDevice(request: DeviceRequest, probes: DeviceProbes): Promise<DeviceChoice> {
  switch (request) {
    case 'cpu':
      return { device: 'cpu', reason: 'device: cpu was requested' };
    case 'cuda': {
      const p = await probes.cuda();
      if (!p.available) throw new InputError('device-unavailable', `device: cuda is not available here${p.detail !== undefined ? ` (${p.detail})` : ''}`, { hint: CUDA_HELP });
      return { device: 'cuda', reason: 'device: cuda was requested and its provider loaded' };
    }
    case 'webgpu': {
      const p = await probes.webgpu();
      if (!p.available) throw new InputError('device-unavailable', `device: webgpu is not available here${p.detail !== undefined ? ` (${p.detail})` : ''}`, { hint: WEBGPU_HELP });
      return { device: 'webgpu', reason: 'device: webgpu was requested and an adapter was found' };
    }
    case 'auto': {
      const c = await probes.cuda();
      if (c.available) return { device: 'cuda', reason: 'auto: the CUDA provider loaded' };
      const hw = probes.hardwareGpu();
      if (!hw.available) {
        return { device: 'cpu', reason: `auto: CUDA unavailable (${c.detail ?? 'not installed'}); no GPU device (${hw.detail ?? 'none found'}), so any WebGPU adapter would be a software one; using the CPU` };
      }
      const w = await probes.webgpu();
      if (w.available) return { device: 'webgpu', reason: `auto: CUDA unavailable (${c.detail ?? 'not installed'}); a WebGPU adapter was found` };
      return { device: 'cpu', reason: `auto: CUDA unavailable (${c.detail ?? 'not installed'}); WebGPU unavailable (${w.detail ?? 'no adapter'}); using the CPU` };
    }
  }
}

export function parseDeviceRequest(value: unknown, where: string): DeviceRequest {
  if (value === 'auto' || value === 'cpu' || value === 'webgpu' || value === 'cuda') return value;
  throw new InputError('bad-device', `${where}: device must be one of auto, cpu, webgpu, cuda`, { actual: JSON.stringify(value) });
}

function ortBinDir(): string {
  const pkg = require.resolve('onnxruntime-node/package.json');
  return path.join(path.dirname(pkg), 'bin', 'napi-v6', process.platform, process.arch);
}

const CUDA_PROVIDER_LIB = process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';

let installed: Device[] | undefined;

/**
 * The providers installed here, from files alone (no native code is loaded, so the editor's extension host can
 * ask on every validation): cpu always; webgpu where onnxruntime-node's binding for this platform exists (1.30
 * bundles the WebGPU provider on Linux, Windows and macOS); cuda when its provider library sits beside it.
 * Whether an adapter or a driver is really there is the probes' job (runtimeProbes), at training time.
 */
export function installedDevices(): Device[] {
  if (installed !== undefined) return installed;
  const out: Device[] = ['cpu'];
  try {
    const bin = ortBinDir();
    if (fs.existsSync(bin) && ['linux', 'win32', 'darwin'].includes(process.platform)) out.push('webgpu');
    if (fs.existsSync(path.join(bin, CUDA_PROVIDER_LIB))) out.push('cuda');
  } catch {
    // onnxruntime-node missing: only the CPU is certain (training says what is wrong).
  }
  installed = out;
  return out;
}

function shorten(message: string): string {
  const m = /Failed to get a WebGPU adapter: ([^\n]*)/.exec(message) ?? /(Failed to load shared library[^\n]*)/.exec(message);
  const text = m?.[1] ?? message.split('\n')[0] ?? message;
  return text.length > 160 ? text.slice(0, 157) + '...' : text;
}

async function tryProvider(name: 'webgpu' | 'cuda'): Promise<ProbeResult> {
  const ort = await import('onnxruntime-node');
  try {
    const session = await ort.InferenceSession.create(probeModelBytes(), { executionProviders: [name], logSeverityLevel: 3 });
    const x = new ort.Tensor('float32', new Float32Array([1, 2, 3, 4]), [2, 2]);
    const out = await session.run({ x });
    const y = out['y'];
    await session.release();
    if (y === undefined || (y.data as Float32Array)[3] !== 26) return { available: false, detail: 'probe computed a wrong result' };
    return { available: true };
  } catch (e) {
    return { available: false, detail: shorten(errorMessage(e)) };
  }
}

/** Linux: a DRM render node or an NVIDIA device node. Other platforms: assume yes (D3D12/Metal adapters are hardware). */
export function hardwareGpuPresent(devDir = '/dev'): ProbeResult {
  if (process.platform !== 'linux') return { available: true };
  try {
    const dri = fs.existsSync(path.join(devDir, 'dri')) ? fs.readdirSync(path.join(devDir, 'dri')).filter((f) => f.startsWith('renderD')) : [];
    const nvidia = fs.readdirSync(devDir).filter((f) => /^nvidia\d+$/.test(f));
    if (dri.length + nvidia.length > 0) return { available: true };
    return { available: false, detail: `no ${path.join(devDir, 'dri', 'renderD*')} or ${path.join(devDir, 'nvidia*')}` };
  } catch (e) {
    return { available: false, detail: errorMessage(e) };
  }
}

const cached: { cuda?: Promise<ProbeResult>; webgpu?: Promise<ProbeResult> } = {};

/** Probes of the real runtime: a two-node session on the provider (results cached per process). */
export const runtimeProbes: DeviceProbes = {
  cuda() {
    cached.cuda ??= (async () => {
      if (!installedDevices().includes('cuda')) return { available: false, detail: 'CUDA provider library not installed' };
      return tryProvider('cuda');
    })();
    return cached.cuda;
  },
  hardwareGpu() {
    return hardwareGpuPresent();
  },
  webgpu() {
    if (process.platform === 'linux' && process.env['XDG_RUNTIME_DIR'] === undefined) process.env['XDG_RUNTIME_DIR'] = '/tmp';
    cached.webgpu ??= tryProvider('webgpu');
    return cached.webgpu;
  },
};
