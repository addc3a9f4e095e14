// The memory limit of the control group this process runs in (a container, a Kubernetes pod, a systemd slice): inside
// one, /proc/meminfo describes the whole host, and a run that fits the host can still be OOM-killed at the limit.
/*
 * cgroup v2 (one unified hierarchy): /proc/self/cgroup has `0::/<path>`; the limit is `memory.max` ("max" = none) of
 * that group or of any ancestor (the tightest applies), usage `memory.current`.
 * cgroup v1: the `memory` controller's line `N:memory:/<path>` (or `N:cpu,memory:/…`); `memory.limit_in_bytes` (a
 * value near 2^63 = none) and `memory.usage_in_bytes` under <root>/memory. Inside a container the group's own folder
 * is usually mounted as the controller root, so the path may not exist there: the root's files are read instead.
 * Usage counts the page cache; its inactive file pages (memory.stat `inactive_file`, v1 `total_inactive_file`) are
 * reclaimed before the OOM killer acts, so they count as available (the kubelet's working-set rule).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface CgroupMemory {
  /** The tightest limit on this process's group, in bytes. */
  limitBytes: number;
  /** What the group uses now, without its inactive page cache. */
  workingSetBytes: number;
  version: 1 | 2;
}

/** Limits at or above this are "no limit" (v1 writes PAGE_COUNTER_MAX × page size, just under 2^63). */
const UNLIMITED = 2 ** 62;

function readNumber(file: string): number | undefined {
  try {
    const text = fs.readFileSync(file, 'utf8').trim();
    if (text === 'max') return Infinity;
    const n = Number(text);
    return Number.isFinite(n) && n >= 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

function statValue(file: string, key: string): number {
  try {
    const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(fs.readFileSync(file, 'utf8'));
    return m !== null ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** The group's folders from the deepest to the mount root, those that exist. */
function groupDirs(mount: string, groupPath: string): string[] {
  const dirs: string[] = [];
  for (let p = groupPath; ; p = path.posix.dirname(p)) {
    const dir = path.join(mount, p);
    if (fs.existsSync(dir)) dirs.push(dir);
    if (p === '/' || p === '.' || p === '') break;
  }
  return dirs;
}

/**
 * This process's cgroup memory limit and working set, or undefined when there is no limit (or no cgroup files: not
 * Linux). `root` and `procFile` are parameters so that tests can lay out both hierarchies.
 */
export function cgroupMemory(root = '/sys/fs/cgroup', procFile = '/proc/self/cgroup'): CgroupMemory | undefined {
  let lines: string[];
  try {
    lines = fs.readFileSync(procFile, 'utf8').split('\n');
  } catch {
    return undefined;
  }
  const v1 = lines.map((l) => l.split(':')).find((f) => f.length >= 3 && f[1]!.split(',').includes('memory'));
  if (v1 !== undefined) {
    const mount = path.join(root, 'memory');
    const dirs = groupDirs(mount, v1.slice(2).join(':')); // the path itself may contain ':'
    const limits = dirs.map((d) => readNumber(path.join(d, 'memory.limit_in_bytes'))).filter((n): n is number => n !== undefined);
    const limit = Math.min(Infinity, ...limits);
    if (dirs.length === 0 || limit >= UNLIMITED) return undefined;
    const usage = readNumber(path.join(dirs[0]!, 'memory.usage_in_bytes')) ?? 0;
    return { limitBytes: limit, workingSetBytes: Math.max(0, usage - statValue(path.join(dirs[0]!, 'memory.stat'), 'total_inactive_file')), version: 1 };
  }
  const v2 = lines.find((l) => l.startsWith('0::'));
  if (v2 === undefined) return undefined;
  const dirs = groupDirs(root, v2.slice(3));
  const limits = dirs.map((d) => readNumber(path.join(d, 'memory.max'))).filter((n): n is number => n !== undefined);
  const limit = Math.min(Infinity, ...limits);
  if (dirs.length === 0 || limit >= UNLIMITED) return undefined;
  const usage = readNumber(path.join(dirs[0]!, 'memory.current')) ?? 0;
  return { limitBytes: limit, workingSetBytes: Math.max(0, usage - statValue(path.join(dirs[0]!, 'memory.stat'), 'inactive_file')), version: 2 };
}
