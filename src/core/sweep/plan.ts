// A sweep's trials from the recipe's `sweep:` section: the grid's combinations (or the listed trials), each turned
// into its own adapter_config.json and recipe (absolute paths) that `runTraining` reads like any other.
import { join } from 'node:path';
import { stringify } from 'yaml';
import { InputError } from '../errors';
import type { Recipe, SweepSettings, SweepTrialSpec } from '../train/recipe';
import { readJsonObject } from '../util/safeJson';

export interface PlannedTrial {
  /** 1-based. */
  index: number;
  /** The run folder's name: `<sweep>-t<index>`. */
  name: string;
  overrides: SweepTrialSpec;
  /** The adapter config JSON and recipe YAML this trial trains. */
  adapterConfigJson: string;
  recipeYaml: string;
}

export interface SweepPlan {
  name: string;
  /** output_dir/.sweeps/<name>: the trials' derived configs. */
  dir: string;
  trials: PlannedTrial[];
}

/** The combinations of the grid, in order (the last key varies fastest), or the listed trials; capped by max_trials. */
export function expandTrials(s: SweepSettings, file: string): SweepTrialSpec[] {
  let specs: SweepTrialSpec[];
  if (s.method === 'list') {
    if (s.trials === null) throw new InputError('sweep-empty', '"sweep.method" is list but "sweep.trials" is not set', { file, hint: 'List the trials under sweep.trials, or use method: grid' });
    specs = s.trials.map((t) => ({ ...t }));
  } else {
    if (s.trials !== null) throw new InputError('sweep-trials-grid', '"sweep.trials" is only read with "sweep.method: list"', { file });
    const axes: [keyof SweepTrialSpec, unknown[]][] = [];
    for (const k of ['r', 'lora_alpha', 'target_modules', 'learning_rate'] as const) if (s[k] !== null) axes.push([k, s[k]]);
    if (axes.length === 0) {
      throw new InputError('sweep-empty', 'the sweep varies nothing', { file, hint: 'Give at least one of sweep.r, sweep.lora_alpha, sweep.target_modules, sweep.learning_rate as a list' });
    }
    specs = [{}];
    for (const [k, values] of axes) specs = specs.flatMap((spec) => values.map((v) => ({ ...spec, [k]: v })));
  }
  return s.max_trials !== null ? specs.slice(0, s.max_trials) : specs;
}

/** The sweep's name: sweep.name, else run_name, else "sweep". */
export function sweepName(recipe: Recipe): string {
  return recipe.sweep?.name ?? recipe.run_name ?? 'sweep';
}

export function planSweep(recipe: Recipe): SweepPlan {
  if (recipe.sweep === null) {
    throw new InputError('sweep-missing', 'the recipe has no "sweep:" section', { file: recipe.file, hint: 'Add sweep: with lists under r, lora_alpha, target_modules or learning_rate' });
  }
  const name = sweepName(recipe);
  const dir = join(recipe.output_dir, '.sweeps', name);
  const base = readJsonObject(recipe.adapter_config, { what: 'the adapter config', code: 'sweep-adapter-config', readCode: 'sweep-adapter-config' });
  const trials = expandTrials(recipe.sweep, recipe.file).map((overrides, i) => {
    const index = i + 1;
    const trialName = `${name}-t${index}`;
    const adapterConfig = { ...base };
    if (overrides.r !== undefined) {
      adapterConfig['r'] = overrides.r;
      // Without an alpha of its own, a trial keeps the config's scaling (lora_alpha / r), as rank sweeps usually do.
      const baseR = typeof base['r'] === 'number' ? base['r'] : 8;
      const baseAlpha = typeof base['lora_alpha'] === 'number' ? base['lora_alpha'] : 8;
      if (overrides.lora_alpha === undefined) adapterConfig['lora_alpha'] = (baseAlpha * overrides.r) / baseR;
    }
    if (overrides.lora_alpha !== undefined) adapterConfig['lora_alpha'] = overrides.lora_alpha;
    if (overrides.target_modules !== undefined) adapterConfig['target_modules'] = overrides.target_modules;
    const adapterFile = join(dir, `t${index}`, 'adapter_config.json');
    return { index, name: trialName, overrides, adapterConfigJson: JSON.stringify(adapterConfig, null, 2) + '\n', recipeYaml: trialRecipe(recipe, adapterFile, trialName, overrides) };
  });
  return { name, dir, trials };
}

/** The trial's recipe: the sweep recipe with every path absolute, its own adapter config, run name and learning rate. */
function trialRecipe(r: Recipe, adapterFile: string, runName: string, o: SweepTrialSpec): string {
  const doc = {
    base_model: r.base_model,
    adapter_config: adapterFile,
    init_adapter: r.init_adapter,
    dataset: { ...r.dataset },
    training: { ...r.training, ...(o.learning_rate !== undefined ? { learning_rate: o.learning_rate } : {}) },
    device: r.device,
    output_dir: r.output_dir,
    run_name: runName,
  };
  return `# Trial of the sweep in ${r.file} (written by peft-studio sweep; edits are overwritten)\n${stringify(doc)}`;
}
