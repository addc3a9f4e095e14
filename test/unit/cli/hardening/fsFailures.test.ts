// Regression tests for file-system failures (issue: disk full was exit 3 naming no file, output_dir /dev/zero and a
// huge run_name crashed): each is exit 1 naming the path, the last good checkpoint is kept, and --resume after the
// failure continues exactly (the final adapter is bitwise equal to an uninterrupted run's).
import { strict as assert } from 'node:assert';
import * as fsNs from 'node:fs';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeProject, recipe } from '../../train/project';
import { tempDir } from '../../validate/helpers';
import { runCli as cli } from '../runCli';

// The real module object (the namespace import is a view of it): patched below to fail writes as a full disk does.
const nodeFs = ((fsNs as unknown as { default?: typeof fsNs }).default ?? fsNs) as typeof fsNs & Record<string, unknown>;

describe('hardening: file-system failures', function () {
  this.timeout(180000);
  let root: string;
  let proj: string;
  before(async () => {
    root = tempDir('peft-fs-');
    proj = join(root, 'proj');
    await makeProject(proj);
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('disk full while writing checkpoint 4: exit 1 naming the file, step 2 kept, --resume ends bitwise equal', async () => {
    const cfg = (name: string): string => {
      const f = join(proj, `${name}.yaml`);
      writeFileSync(f, recipe({ training: '  max_steps: 6\n  save_steps: 2\n', top: `run_name: ${name}\n` }));
      return f;
    };
    assert.equal((await cli(['train', cfg('straight')])).code, 0);
    const realOpen = nodeFs.openSync;
    const realWrite = nodeFs.writeSync;
    const failing = new Set<number>();
    nodeFs['openSync'] = ((p: fsNs.PathLike, ...rest: unknown[]) => {
      const fd = (realOpen as (...a: unknown[]) => number)(p, ...rest);
      if (/[/\\]\.tmp-step-4-/.test(String(p))) failing.add(fd);
      return fd;
    }) as typeof fsNs.openSync;
    nodeFs['writeSync'] = ((fd: number, ...rest: unknown[]) => {
      if (failing.has(fd)) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
      return (realWrite as (...a: unknown[]) => number)(fd, ...rest);
    }) as typeof fsNs.writeSync;
    let r;
    try {
      r = await cli(['train', cfg('full')]);
    } finally {
      nodeFs['openSync'] = realOpen;
      nodeFs['writeSync'] = realWrite;
    }
    const run = join(proj, 'runs', 'full');
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /checkpoints[/\\]\.tmp-step-4-[^:]*adapter_model\.safetensors: cannot write or read here: the disk is full \(write\)\. Free some space, then continue with --resume RUN_DIR/);
    assert.deepEqual(readdirSync(join(run, 'checkpoints')), ['step-2'], 'the failed checkpoint left nothing behind');
    const resumed = await cli(['train', '--resume', run]);
    assert.equal(resumed.code, 0, resumed.err);
    const bytes = (name: string): Buffer => readFileSync(join(proj, 'runs', name, 'adapter', 'adapter_model.safetensors'));
    assert.ok(bytes('full').equals(bytes('straight')), 'the resumed adapter differs from the uninterrupted one');
  });

  it('output_dir that is a device or a file, and a huge run_name: exit 1 naming the path', async () => {
    const f = join(proj, 'bad.yaml');
    writeFileSync(join(root, 'afile'), 'x');
    for (const [top, re] of [
      ['output_dir: /dev/zero\n', /\/dev\/zero[/\\][^:]*: cannot write or read here: a part of the path is a file, not a folder/],
      [`output_dir: ${join(root, 'afile')}\n`, /afile[/\\][^:]*: cannot write or read here: a part of the path is a file, not a folder/],
      [`run_name: ${'r'.repeat(20_000_000)}\n`, /bad\.yaml:\d+: the recipe is \d+ KB, more than the 256 KB accepted/],
      [`run_name: ${'r'.repeat(200)}\n`, /"run_name" must be at most 120 characters/],
    ] as const) {
      writeFileSync(f, recipe({ training: '  max_steps: 1\n' }).replace('output_dir: runs\n', top.startsWith('output_dir') ? top : `output_dir: runs\n${top}`));
      const r = await cli(['train', f]);
      assert.equal(r.code, 1, r.err.slice(0, 300));
      assert.match(r.err, re);
      assert.ok(r.err.length < 2000, 'the message does not echo the huge value');
    }
    assert.ok(!existsSync(join(proj, 'runs', 'r'.repeat(200))));
  });
});
