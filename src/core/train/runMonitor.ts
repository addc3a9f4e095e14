// What the trainer reports beside its losses: `system` events (worker CPU, RSS, peak RSS, host memory, what a GPU
// provider reports) and `alert` events from the AlertMonitor, each pointing at its key's line in peft-train.yaml.
import { readFileSync } from 'node:fs';
import * as os from 'node:os';
import type { AlertEvent, RunEvent, SystemEvent } from '../../shared/protocol';
import { hostMemory } from '../memory/fit';
import { peakRssBytes } from '../util/peakRss';
import { readYaml } from '../validate/yamlWalk';
import { LineIndex } from '../validate/text';
import { AlertMonitor, type Alert, type StepObservation } from './alerts';

/** Seconds between two `system` events (the first comes with the first logged step). */
export const SYSTEM_INTERVAL_S = 2;

/** CPU time of this process over wall time, between two calls. */
export class CpuMeter {
  private last = { cpu: process.cpuUsage(), wall: performance.now() };

  /** Percent of one core since the previous call (or construction). */
  sample(): number {
    const cpu = process.cpuUsage();
    const wall = performance.now();
    const usedUs = cpu.user - this.last.cpu.user + (cpu.system - this.last.cpu.system);
    const wallUs = (wall - this.last.wall) * 1000;
    this.last = { cpu, wall };
    return wallUs > 0 ? (100 * usedUs) / wallUs : 0;
  }
}

/** One `system` record now. GPU memory and utilisation are not exposed by onnxruntime-node's providers: null, with a note. */
export function systemSample(step: number, elapsedS: number, cpuPercent: number, device: string): SystemEvent {
  const cores = os.availableParallelism();
  const memory = hostMemory();
  const e: SystemEvent = {
    event: 'system',
    step,
    elapsed_s: Number(elapsedS.toFixed(3)),
    cpu_percent: Number(cpuPercent.toFixed(1)),
    cpu_percent_total: Number((cpuPercent / cores).toFixed(1)),
    cores,
    rss_bytes: process.memoryUsage.rss(),
    peak_rss_bytes: peakRssBytes(),
    mem_available_bytes: memory.availableBytes,
    mem_total_bytes: memory.totalBytes,
  };
  if (device !== 'cpu') {
    e.gpu = { device, memory_used_bytes: null, memory_total_bytes: null, utilization_percent: null, note: `onnxruntime-node's ${device} provider reports no memory or utilisation figures` };
  }
  return e;
}

/** The 1-based line of a dotted key in a recipe's text: the key itself, else its nearest written parent, else 1. */
export function recipeKeyLine(text: string, key: string): number {
  const read = readYaml(text);
  const idx = new LineIndex(text);
  for (let k = key; k !== ''; k = k.includes('.') ? k.slice(0, k.lastIndexOf('.')) : '') {
    const entry = read.entries.find((e) => e.path === k);
    if (entry !== undefined) return idx.position(entry.keyRange[0]).line + 1;
  }
  return 1;
}

export interface RunMonitorOptions {
  recipeFile: string;
  device: string;
  maxGradNorm: number;
  emit: (e: RunEvent) => void;
  /** Seconds between system events (tests lower it). */
  intervalS?: number;
}

/** The trainer's side: feed it every logged step; it emits `system` and `alert` events through `emit`. */
export class RunMonitor {
  private readonly cpu = new CpuMeter();
  private readonly alerts: AlertMonitor;
  private lastSystem = -Infinity;
  private recipeText: string | null | undefined;

  constructor(private readonly opts: RunMonitorOptions) {
    this.alerts = new AlertMonitor({ maxGradNorm: opts.maxGradNorm });
  }

  /** After a logged step: its alerts, then a system event (and its alerts) when one is due. */
  afterStep(step: StepObservation, elapsedS: number, final = false): void {
    this.raise(this.alerts.observeStep(step));
    if (!final && elapsedS - this.lastSystem < (this.opts.intervalS ?? SYSTEM_INTERVAL_S)) return;
    this.lastSystem = elapsedS;
    const sys = systemSample(step.step, elapsedS, this.cpu.sample(), this.opts.device);
    this.opts.emit(sys);
    this.raise(this.alerts.observeSystem(sys));
  }

  /** A step whose loss or gradient norm is not finite (the trainer stops after it). */
  nonFinite(step: StepObservation): void {
    this.raise(this.alerts.observeStep(step));
  }

  private raise(alerts: Alert[]): void {
    for (const a of alerts) {
      const e: AlertEvent = { event: 'alert', ...a, file: this.opts.recipeFile };
      const text = this.text();
      if (text !== null) e.line = recipeKeyLine(text, a.key);
      this.opts.emit(e);
    }
  }

  private text(): string | null {
    if (this.recipeText === undefined) {
      try {
        this.recipeText = readFileSync(this.opts.recipeFile, 'utf8');
      } catch {
        this.recipeText = null;
      }
    }
    return this.recipeText;
  }
}
