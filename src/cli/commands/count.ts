// `peft-studio count CONFIG [--model DIR] [--json]`: trainable and total parameters of a LoRA adapter on its base
// model, as PEFT's print_trainable_parameters reports them (CONTRACTS.md §3), with a per-target breakdown.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { CliCommand } from '../command';
import { InputError, UsageError, errorMessage, withFile } from '../../core/errors';
import { loadModel } from '../../core/hf/loadModel';
import { findBaseModelDir, readAdapterConfigFile } from '../../core/peft/adapterFile';
import { countParametersDetailed } from '../../core/peft/count';
import { modelOption } from '../modelArg';
import type { ParameterBreakdown } from '../../core/peft/count';

/** 1234567 → "1,234,567" (Python's `{:,d}`). */
export function thousands(n: number): string {
  return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** "0-31", "0,2,4", "3-5,9": compact list of layer indices. */
export function layerRanges(layers: number[]): string {
  const out: string[] = [];
  let i = 0;
  while (i < layers.length) {
    let j = i;
    while (j + 1 < layers.length && layers[j + 1] === (layers[j] as number) + 1) j++;
    out.push(j > i ? `${layers[i]}-${layers[j]}` : `${layers[i]}`);
    i = j + 1;
  }
  return out.join(',');
}

function textReport(b: ParameterBreakdown, modelDir: string, numLayers: number): string[] {
  const lines = [
    `trainable params: ${thousands(b.trainable)} || all params: ${thousands(b.total)} || trainable%: ${b.percent.toFixed(4)}`,
    '',
    `Base model: ${modelDir} (${thousands(b.base)} parameters)`,
  ];
  // Group adapted modules by their name with the layer index removed (one line per kind of module).
  const groups = new Map<string, { count: number; layers: number[]; r: Set<number>; params: number; shape: string }>();
  for (const [i, m] of b.modules.entries()) {
    const t = b.resolved.targets[i];
    const key = m.name.replace(/\.\d+\./, '.*.');
    const g = groups.get(key) ?? { count: 0, layers: [], r: new Set<number>(), params: 0, shape: `${m.in} -> ${m.out}` };
    g.count++;
    g.params += m.params;
    g.r.add(m.r);
    if (t !== undefined && t.module.layer !== null) g.layers.push(t.module.layer);
    groups.set(key, g);
  }
  lines.push(`LoRA modules: ${b.modules.length} (${thousands(b.lora)} parameters)`);
  const width = Math.max(...[...groups.keys()].map((k) => k.length), 6);
  for (const [key, g] of groups) {
    const layers = g.layers.length === 0 ? '' : g.layers.length === numLayers ? `  all ${numLayers} layers` : `  layers ${layerRanges(g.layers)} (${g.layers.length} of ${numLayers})`;
    lines.push(`  ${key.padEnd(width)}  ${g.shape.padEnd(14)} r=${[...g.r].join('/')}  x${g.count}${layers}  ${thousands(g.params)}`);
  }
  if (b.trainableBiases > 0) lines.push(`Trainable base biases: ${thousands(b.trainableBiases)}`);
  for (const m of b.modulesToSave) lines.push(`Trainable copy (modules_to_save): ${m.name}  ${thousands(m.params)}`);
  for (const m of b.tokenDeltas) lines.push(`Trainable tokens (trainable_token_indices): ${m.name}  ${thousands(m.params)}`);
  return lines;
}

/** CONFIG may be an adapter_config.json, a folder holding one, or a peft-train.yaml (its adapter_config and base_model). */
function configFromArg(arg: string): { configFile: string; recipeModel?: string } {
  const abs = path.resolve(arg);
  if (fs.existsSync(abs) && fs.statSync(abs).isDirectory()) return { configFile: path.join(abs, 'adapter_config.json') };
  if (!/\.ya?ml$/i.test(abs)) return { configFile: abs };
  let y: unknown;
  try {
    y = parseYaml(fs.readFileSync(abs, 'utf8'));
  } catch (e) {
    throw new InputError('recipe-unreadable', `cannot read the recipe: ${errorMessage(e)}`, { file: abs });
  }
  const rec = y !== null && typeof y === 'object' ? (y as Record<string, unknown>) : {};
  const dir = path.dirname(abs);
  const ac = typeof rec['adapter_config'] === 'string' ? rec['adapter_config'] : 'adapter_config.json';
  const bm = rec['base_model'];
  const local = typeof bm === 'string' && fs.existsSync(path.join(path.resolve(dir, bm), 'config.json')) ? path.resolve(dir, bm) : undefined;
  return local !== undefined ? { configFile: path.resolve(dir, ac), recipeModel: local } : { configFile: path.resolve(dir, ac) };
}

export const countCommand: CliCommand = {
  name: 'count',
  summary: 'Count the trainable and total parameters of a LoRA adapter on its base model',
  help: [
    'Usage: peft-studio count CONFIG [--model DIR] [--json]',
    '',
    'CONFIG is an adapter_config.json (PEFT LoraConfig), a folder holding one, or a peft-train.yaml.',
    'Counts exactly as PEFT\'s print_trainable_parameters: LoRA A [r, in] + B [out, r] per adapted module,',
    'DoRA magnitudes, trainable biases, modules_to_save copies and trainable_token_indices;',
    'total = base model parameters + trainable adapter parameters. Only config.json and safetensors headers are read.',
    '',
    'Options:',
    '  --model DIR   base model folder; default: the recipe\'s base_model, a peft-train.yaml beside CONFIG,',
    '                else base_model_name_or_path when it is a local folder',
    '  --json        print {"trainable","total","percent","modules":[{"name","r","in","out","params"}]}',
  ].join('\n'),
  options: {
    model: { type: 'string', short: 'm' },
    json: { type: 'boolean' },
  },
  async run(args, io) {
    const [file, ...extra] = args.positionals;
    if (file === undefined) throw new UsageError('missing CONFIG', 'Example: peft-studio count adapter_config.json --model ./models/my-model');
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
    const modelOpt = modelOption(args.values);
    const { configFile, recipeModel } = configFromArg(file);
    const adapter = readAdapterConfigFile(configFile);
    const explicit = modelOpt ?? recipeModel;
    const modelDir = findBaseModelDir(adapter.file, adapter.config, explicit);
    if (modelDir === null) {
      const b = adapter.config.base_model_name_or_path;
      if (b !== null && /^[.~/\\]|^[A-Za-z]:|\/.*\/|\\/.test(b)) {
        throw new InputError('model-not-found', `base_model_name_or_path "${b}" is not a model folder (no config.json there)`, { file: adapter.file, hint: 'Fix the path or pass --model DIR' });
      }
      throw new UsageError(
        b !== null ? `base_model_name_or_path "${b}" is not a local model folder: pass --model DIR` : 'no base model: pass --model DIR',
        'The folder must hold config.json (and model.safetensors, though config.json alone is enough to count)',
      );
    }
    const inv = loadModel(modelDir);
    const b = withFile(adapter.file, () => countParametersDetailed(adapter.config, inv));
    if (args.values['json'] === true) {
      io.out(JSON.stringify({ trainable: b.trainable, total: b.total, percent: b.percent, modules: b.modules }));
      return 0;
    }
    for (const w of adapter.warnings) io.err(`warning: ${path.basename(adapter.file)}: ${w.message}`);
    const rel = path.relative(process.cwd(), modelDir);
    io.out(textReport(b, rel === '' ? '.' : rel.startsWith('..') ? modelDir : rel, inv.spec.numLayers).join('\n'));
    return 0;
  },
};
