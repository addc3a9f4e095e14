// Refuses, before anything is allocated, a CPU run whose estimated peak does not fit in the memory the machine has
// free (MemAvailable, within a cgroup memory limit), and warns when it would use most of it. GPU memory is not queryable through onnxruntime-node.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { InputError } from '../errors';
import { cgroupMemory } from './cgroup';
import { formatBytes, type MemoryEstimate } from './estimate';

/** Share of the available memory above which a run gets a warning. */
export const WARN_FRACTION = 0.8;

/**
 * The memory this process may use now and in all: /proc/meminfo MemAvailable on Linux (else os.freemem()) and the
 * host's total, each capped by the cgroup memory limit (a container or a pod: cgroup.ts), whose files are read once.
 */
export function hostMemory(): { availableBytes: number; totalBytes: number } {
  const cg = cgroupMemory();
  const available = meminfoAvailable();
  if (cg === undefined) return { availableBytes: available, totalBytes: os.totalmem() };
  return { availableBytes: Math.min(available, Math.max(0, cg.limitBytes - cg.workingSetBytes)), totalBytes: Math.min(os.totalmem(), cg.limitBytes) };
}

/** Bytes the kernel could give this process now (hostMemory's available figure). */
export function availableHostMemory(): number {
  return hostMemory().availableBytes;
}

function meminfoAvailable(): number {
  try {
    const m = /^MemAvailable:\s+(\d+) kB$/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
    if (m !== null) return Number(m[1]) * 1024;
  } catch {
    // not Linux: fall through
  }
  return os.freemem();
}

export interface FitVerdict {
  level: 'ok' | 'warning';
  message: string;
}

/**
 * Throws an InputError when `estimate` exceeds `available` (naming the largest components and what to change);
 * returns a warning above WARN_FRACTION of it.
 */
export function checkMemoryFits(estimate: MemoryEstimate, available: number): FitVerdict {
  const need = estimate.totalBytes;
  const top = [...estimate.components].sort((a, b) => b.bytes - a.bytes).slice(0, 3).map((c) => `${c.name} ${formatBytes(c.bytes)}`).join(', ');
  if (need > available) {
    throw new InputError('out-of-memory', `this run needs about ${formatBytes(need)} but only ${formatBytes(available)} of memory is available (largest parts: ${top})`, {
      hint: 'Lower training.per_device_train_batch_size (raise gradient_accumulation_steps to keep the effective batch), lower dataset.max_length, ' +
        'or target fewer modules; `peft-studio estimate` shows every component. Set PEFT_STUDIO_SKIP_MEMORY_CHECK=1 to try anyway',
    });
  }
  if (need > WARN_FRACTION * available) {
    return { level: 'warning', message: `this run needs about ${formatBytes(need)}, ${Math.round((100 * need) / available)}% of the ${formatBytes(available)} available (largest parts: ${top})` };
  }
  return { level: 'ok', message: `estimated peak ${formatBytes(need)} of ${formatBytes(available)} available` };
}
