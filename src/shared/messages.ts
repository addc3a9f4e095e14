// How the editor words what the CLI and the trainer report: CLI errors without the terminal's prefix, a run that never
// reached its first step told apart from one that failed while training, a picked model in one line. Pure (no vscode).
import type { RunView } from './dashboard';

/**
 * The CLI's error output as an editor message: its last lines without the terminal's "peft-studio init: error:"
 * prefix (the editor names the failed command in its own words).
 */
export function cliMessage(output: string): string {
  return output.split('\n').slice(-6).map((l) => l.replace(/^peft-studio(?: [\w-]+)?: (?:error: )?/, '')).join('\n').trim();
}

/** A run that ended before its first step, with no checkpoint: the trainer refused to start ("Can't start training"). */
export function refusedAtStart(v: RunView): boolean {
  return v.steps.length === 0 && v.start === undefined && v.checkpoints.length === 0;
}

/** What `peft-studio inspect --json` says about a model that New Adapter Project shows. */
export interface ModelFacts {
  spec: { modelType: string; architectures: string[]; numLayers: number; hiddenSize: number; vocabSize: number; unsupportedForTraining?: string[] };
  totalParameters: number;
}

/** 1234 → "1.2K", 4_600_000 → "4.6M", 1.1e9 → "1.1B". */
export function compactCount(n: number): string {
  const a = Math.abs(n);
  const t = (x: number): string => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1).replace(/\.0$/, '') : x.toFixed(2).replace(/\.?0+$/, ''));
  return a >= 1e9 ? `${t(n / 1e9)}B` : a >= 1e6 ? `${t(n / 1e6)}M` : a >= 1e3 ? `${t(n / 1e3)}K` : String(n);
}

/** One line: "LlamaForCausalLM (llama) · 1.1B parameters · 22 layers · hidden 2048 · vocab 32000". */
export function describeModel(m: ModelFacts): string {
  const arch = m.spec.architectures[0] ?? m.spec.modelType;
  return [`${arch} (${m.spec.modelType})`, `${compactCount(m.totalParameters)} parameters`, `${m.spec.numLayers} layer${m.spec.numLayers === 1 ? '' : 's'}`,
    `hidden ${m.spec.hiddenSize}`, `vocab ${m.spec.vocabSize}`].join(' · ');
}
