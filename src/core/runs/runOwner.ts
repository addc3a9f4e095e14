// Who owns a run folder: run.json records the training process (pid + host); a reader that finds "running" with
// that process gone shows the run as interrupted (kill -9 leaves no chance to write "stopped"), and the next start
// removes what the dead process left half-written (checkpoints/.tmp-step-N-*, run.json temp files).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isInside } from '../util/safePath';

/** True when a process with this pid exists on this machine (signal 0 checks without signalling). */
export function processAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The fields run.json records about its owner. */
export function ownerFields(): { pid: number; host: string } {
  return { pid: process.pid, host: os.hostname() };
}

/**
 * For a run.json whose status is "running": a sentence saying the owner is gone (to show the run as interrupted), or
 * null when the owner may still be alive (another host, no pid recorded, or the process exists).
 */
export function deadOwnerMessage(info: { pid?: unknown; host?: unknown }): string | null {
  if (typeof info.pid !== 'number' || typeof info.host !== 'string' || info.host !== os.hostname()) return null;
  if (info.pid === process.pid || processAlive(info.pid)) return null;
  return `interrupted: the training process (pid ${info.pid}) ended without finishing (killed?). Resume it from its last checkpoint with --resume, or start it again with --restart when it has none`;
}

/** The pid of another live process on this machine that run.json says is training the run, or null. */
export function liveOwner(info: { status?: unknown; pid?: unknown; host?: unknown } | null): number | null {
  if (info?.status !== 'running' || typeof info.pid !== 'number' || info.host !== os.hostname() || info.pid === process.pid) return null;
  return processAlive(info.pid) ? info.pid : null;
}

/** Removes leftovers of an interrupted write inside `runDir` (temp checkpoint folders and temp files); returns them. */
export function cleanStaleTemp(runDir: string): string[] {
  const removed: string[] = [];
  const sweep = (dir: string, re: RegExp): void => {
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      return;
    }
    for (const n of names) {
      const p = path.join(dir, n);
      if (!re.test(n) || !isInside(runDir, p) || p === runDir) continue;
      fs.rmSync(p, { recursive: true, force: true });
      removed.push(p);
    }
  };
  sweep(path.join(runDir, 'checkpoints'), /^\.tmp-/);
  sweep(runDir, /^\.tmp-|^run\.json\.\d+\.tmp$/);
  return removed;
}

/** True when the run folder holds something worth keeping: a checkpoint or a final adapter. */
export function hasProgress(runDir: string): boolean {
  const ck = path.join(runDir, 'checkpoints');
  let names: string[] = [];
  try {
    names = fs.readdirSync(ck);
  } catch {
    // no checkpoints folder
  }
  return names.some((n) => /^step-\d+$/.test(n)) || fs.existsSync(path.join(runDir, 'adapter'));
}
