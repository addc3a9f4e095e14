import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { chooseDevice, hardwareGpuPresent, parseDeviceRequest, runtimeProbes, type DeviceProbes, type ProbeResult } from '../../../src/core/runtime/device';
import { InputError } from '../../../src/core/errors';

function probes(cuda: ProbeResult, webgpu: ProbeResult, hardware: ProbeResult = { available: true }): DeviceProbes & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    hardwareGpu: () => hardware,
    cuda: async () => { calls.push('cuda'); return cuda; },
    webgpu: async () => { calls.push('webgpu'); return webgpu; },
  };
}
const yes: ProbeResult = { available: true };
const noCuda: ProbeResult = { available: false, detail: 'CUDA provider library not installed' };
const noGpu: ProbeResult = { available: false, detail: 'No supported adapters' };

describe('device selection', () => {
  it('auto prefers CUDA, then WebGPU, then CPU, and says why', async () => {
    assert.deepEqual(await chooseDevice('auto', probes(yes, yes)), { device: 'cuda', reason: 'auto: the CUDA provider loaded' });
    const w = await chooseDevice('auto', probes(noCuda, yes));
    assert.equal(w.device, 'webgpu');
    assert.match(w.reason, /CUDA unavailable \(CUDA provider library not installed\); a WebGPU adapter was found/);
    const c = await chooseDevice('auto', probes(noCuda, noGpu));
    assert.equal(c.device, 'cpu');
    assert.match(c.reason, /WebGPU unavailable \(No supported adapters\); using the CPU/);
  });
  it('auto does not pick a software WebGPU adapter when the machine has no GPU device', async () => {
    const p = probes(noCuda, yes, { available: false, detail: 'no /dev/dri/renderD*' });
    const c = await chooseDevice('auto', p);
    assert.equal(c.device, 'cpu');
    assert.match(c.reason, /no GPU device \(no \/dev\/dri\/renderD\*\)/);
    assert.deepEqual(p.calls, ['cuda']);
    // An explicit request still uses it (this is how CI exercises the WebGPU path on lavapipe).
    assert.equal((await chooseDevice('webgpu', p)).device, 'webgpu');
  });
  it('finds GPU device nodes in a /dev-like folder', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dev-'));
    assert.equal(hardwareGpuPresent(dir).available, false);
    fs.mkdirSync(path.join(dir, 'dri'));
    fs.writeFileSync(path.join(dir, 'dri', 'renderD128'), '');
    assert.equal(hardwareGpuPresent(dir).available, true);
    fs.rmSync(path.join(dir, 'dri'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'nvidia0'), '');
    assert.equal(hardwareGpuPresent(dir).available, true);
  });
  it('cpu never probes a GPU', async () => {
    const p = probes(yes, yes);
    assert.equal((await chooseDevice('cpu', p)).device, 'cpu');
    assert.deepEqual(p.calls, []);
  });
  it('an explicit cuda request without the provider is an error that says how to install it', async () => {
    await assert.rejects(chooseDevice('cuda', probes(noCuda, yes)), (e: unknown) => {
      assert.ok(e instanceof InputError);
      assert.match(e.message, /device: cuda is not available here \(CUDA provider library not installed\)/);
      assert.match(e.message, /ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules\/onnxruntime-node\/script\/install/);
      return true;
    });
  });
  it('an explicit webgpu request without an adapter is an error naming the driver to install', async () => {
    await assert.rejects(chooseDevice('webgpu', probes(noCuda, noGpu)), /device: webgpu is not available here \(No supported adapters\).*Vulkan/);
  });
  it('rejects unknown device names', () => {
    assert.equal(parseDeviceRequest('webgpu', 'x'), 'webgpu');
    assert.throws(() => parseDeviceRequest('tpu', 'peft-train.yaml: device'), /must be one of auto, cpu, webgpu, cuda/);
  });
  it('the real CUDA probe reports the missing provider library on this machine', async () => {
    const r = await runtimeProbes.cuda();
    // CI machines have no NVIDIA driver and the npm package does not bundle the CUDA provider.
    assert.equal(r.available, false);
    assert.match(r.detail ?? '', /CUDA provider library not installed|Failed to load/);
  });
  it('the real WebGPU probe finds no adapter when Vulkan has no driver', function () {
    this.timeout(60000);
    const script = `require(${JSON.stringify(path.resolve('node_modules/tsx/dist/cjs/index.cjs'))});` +
      `require(${JSON.stringify(path.resolve('src/core/runtime/device.ts'))}).runtimeProbes.webgpu().then(r => process.stdout.write(JSON.stringify(r)))`;
    const out = execFileSync(process.execPath, ['-e', script], { env: { ...process.env, VK_ICD_FILENAMES: '/nonexistent/icd.json', XDG_RUNTIME_DIR: '/tmp' }, encoding: 'utf8' });
    const r = JSON.parse(out) as ProbeResult;
    assert.equal(r.available, false);
    assert.match(r.detail ?? '', /adapter/i);
  });
});
