// This process's peak resident memory. On Linux, getrusage's maxRSS survives exec (a child starts with its parent's
// high-water mark at fork), so a freshly spawned probe would report its parent's size: VmHWM is the process's own.
import { readFileSync } from 'node:fs';

/** Peak RSS in bytes: /proc/self/status VmHWM where there is one, else process.resourceUsage().maxRSS. */
export function peakRssBytes(): number {
  try {
    const m = /VmHWM:\s+(\d+)\s*kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m !== null) return Number(m[1]) * 1024;
  } catch {
    // not Linux: fall through
  }
  return process.resourceUsage().maxRSS * 1024;
}
