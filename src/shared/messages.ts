// How the editor words what the CLI and the trainer report: CLI errors without the terminal's prefix, and a run that
// never reached its first step told apart from one that failed while training. Pure functions (no vscode).
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
