// The cgroup memory limit (containers, pods, systemd slices) read from laid-out v1 and v2 hierarchies: the tightest
// limit of the group and its ancestors, the working set without the inactive page cache, "no limit" values.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cgroupMemory } from '../../../src/core/memory/cgroup';

const GiB = 2 ** 30;

function layout(files: Record<string, string>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'peft-cgroup-'));
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text);
  }
  return root;
}

describe('cgroup memory limit', () => {
  it('v2: the tightest memory.max of the group and its ancestors; usage minus inactive_file', () => {
    const root = layout({
      proc: '0::/kubepods/pod1/ctr\n',
      'fs/kubepods/memory.max': 'max\n',
      'fs/kubepods/pod1/memory.max': `${4 * GiB}\n`,
      'fs/kubepods/pod1/ctr/memory.max': 'max\n',
      'fs/kubepods/pod1/ctr/memory.current': `${3 * GiB}\n`,
      'fs/kubepods/pod1/ctr/memory.stat': `anon 1000\ninactive_file ${GiB}\nactive_file 5\n`,
    });
    assert.deepEqual(cgroupMemory(path.join(root, 'fs'), path.join(root, 'proc')), { limitBytes: 4 * GiB, workingSetBytes: 2 * GiB, version: 2 });
  });

  it('v2 without a limit anywhere ("max") is no limit', () => {
    const root = layout({ proc: '0::/user.slice\n', 'fs/user.slice/memory.max': 'max\n', 'fs/user.slice/memory.current': '100\n' });
    assert.equal(cgroupMemory(path.join(root, 'fs'), path.join(root, 'proc')), undefined);
  });

  it('v1 inside a container: the group path is not mounted, so the controller root holds the container\'s limit', () => {
    const root = layout({
      proc: '12:pids:/docker/abc\n4:memory:/docker/abc\n0::/\n',
      'fs/memory/memory.limit_in_bytes': `${2 * GiB}\n`,
      'fs/memory/memory.usage_in_bytes': `${GiB}\n`,
      'fs/memory/memory.stat': `cache 5\ntotal_inactive_file ${GiB / 4}\n`,
    });
    assert.deepEqual(cgroupMemory(path.join(root, 'fs'), path.join(root, 'proc')), { limitBytes: 2 * GiB, workingSetBytes: 0.75 * GiB, version: 1 });
  });

  it('v1 on a host: the nested group\'s limit under an unlimited root (2^63 − 4096 = none); memory combined with cpu', () => {
    const root = layout({
      proc: '3:cpu,memory:/jobs/run7\n',
      'fs/memory/memory.limit_in_bytes': '9223372036854771712\n',
      'fs/memory/jobs/memory.limit_in_bytes': '9223372036854771712\n',
      'fs/memory/jobs/run7/memory.limit_in_bytes': `${8 * GiB}\n`,
      'fs/memory/jobs/run7/memory.usage_in_bytes': `${GiB}\n`,
    });
    assert.deepEqual(cgroupMemory(path.join(root, 'fs'), path.join(root, 'proc')), { limitBytes: 8 * GiB, workingSetBytes: GiB, version: 1 });
    const open = layout({ proc: '4:memory:/\n', 'fs/memory/memory.limit_in_bytes': '9223372036854771712\n' });
    assert.equal(cgroupMemory(path.join(open, 'fs'), path.join(open, 'proc')), undefined);
  });

  it('no cgroup files (not Linux, or no memory controller): undefined', () => {
    const root = layout({ proc: '1:name=systemd:/\n' });
    assert.equal(cgroupMemory(path.join(root, 'fs'), path.join(root, 'proc')), undefined);
    assert.equal(cgroupMemory(path.join(root, 'fs'), path.join(root, 'missing')), undefined);
  });
});
