// After Run Sweep starts its terminal: once the sweep's first trial folder exists, the dashboard selects it, so the
// sweep section (trials' overlay, Pareto scatters) is on screen while the trials train.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sweepName } from '../core/sweep/plan';
import { readRecipeFile } from '../core/train/setup';

/** Polls (1 s, at most `limitMs`) for `output_dir/<sweep>-t1` and calls `reveal` with it once. */
export function revealFirstTrial(recipeFile: string, reveal: (dir: string) => void, limitMs = 10 * 60_000): void {
  let dir: string;
  try {
    const recipe = readRecipeFile(recipeFile);
    dir = path.join(recipe.output_dir, `${sweepName(recipe)}-t1`);
  } catch {
    return; // the CLI in the terminal reports what is wrong with the recipe
  }
  const started = Date.now();
  const tick = (): void => {
    if (fs.existsSync(path.join(dir, 'run.json'))) {
      reveal(dir);
      return;
    }
    if (Date.now() - started < limitMs) setTimeout(tick, 1000).unref();
  };
  tick();
}
