// `export trl`: a peft-train.yaml → a TRL + accelerate project folder that runs with no edits (sft_config.yaml,
// accelerate_config.yaml, train.py, adapter_config.json, peft_studio.json, data, requirements, sky.yaml, k8s, README).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pyYaml } from './pyYaml';
import { InputError, UsageError } from '../errors';
import { readAdapterConfigFile } from '../peft/adapterFile';
import { detectFormat, type DataFormat } from '../train/data/formats';
import { readJsonl } from '../train/data/jsonl';
import { parseRecipe, type Recipe } from '../train/recipe';
import { accelerateConfig } from './accelerate';
import { k8sJobYaml, readme, requirementsTxt, skyYaml, type LaunchContext } from './launchFiles';
import { TRAIN_PY } from './trainPy';
import { ACCELERATE_STRATEGIES, fidelityNotes, mixedPrecisionOf, sftConfig, type AccelerateStrategy, type ExportPaths, type FidelityNote, type TrlExportOptions } from './trlConfig';

export interface TrlExportRequest {
  recipeFile: string;
  strategy?: string;
  gpus?: number;
  nodes?: number;
  quantization?: string | null;
  /** SkyPilot accelerator name (default H100). */
  accelerator?: string;
  /** fp32, fp16 or bf16 instead of the recipe's precision. */
  precision?: string;
}

export interface TrlExport {
  /** Generated text files by their path in OUT_DIR. */
  files: Map<string, string>;
  /** Files copied verbatim: path in OUT_DIR → absolute source. */
  copies: Map<string, string>;
  notes: FidelityNote[];
  format: DataFormat;
  options: TrlExportOptions;
}

export function checkTrlOptions(req: TrlExportRequest): TrlExportOptions {
  const strategy = (req.strategy ?? 'single_gpu') as AccelerateStrategy;
  if (!ACCELERATE_STRATEGIES.includes(strategy)) throw new UsageError(`--accelerate must be one of ${ACCELERATE_STRATEGIES.join(', ')}, got "${req.strategy}"`);
  const q = req.quantization ?? null;
  if (q !== null && q !== '4bit') throw new UsageError(`--quantization must be 4bit, got "${q}"`);
  const gpus = req.gpus ?? (strategy === 'single_gpu' ? 1 : 8);
  const nodes = req.nodes ?? 1;
  for (const [name, v] of [['gpus', gpus], ['nodes', nodes]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new UsageError(`--${name} needs a positive integer, got ${String(v)}`);
  }
  if (strategy === 'single_gpu' && (gpus > 1 || nodes > 1)) {
    throw new UsageError(`--accelerate single_gpu runs one process: got --gpus ${gpus} --nodes ${nodes}`, 'Use multi_gpu, zero2, zero3 or fsdp2 for more than one GPU');
  }
  const p = req.precision;
  if (p !== undefined && p !== 'fp32' && p !== 'fp16' && p !== 'bf16') throw new UsageError(`--precision must be fp32, fp16 or bf16, got "${p}"`);
  return { strategy, gpus, nodes, quantization: q, ...(p !== undefined ? { precision: p } : {}) };
}

const yamlFile = (header: string, value: unknown): string => `# ${header}\n${pyYaml(value)}`;

/** Everything the export writes, without touching the disk (the golden tests compare this). */
export function buildTrlExport(req: TrlExportRequest): TrlExport {
  const options = checkTrlOptions(req);
  let text: string;
  try {
    text = fs.readFileSync(req.recipeFile, 'utf8');
  } catch {
    throw new InputError('file-not-found', 'recipe not found', { file: req.recipeFile });
  }
  const recipe: Recipe = parseRecipe(text, req.recipeFile);
  const adapter = readAdapterConfigFile(recipe.adapter_config);
  const format: DataFormat = recipe.dataset.format === 'auto' ? detectFormat(readJsonl(recipe.dataset.train), recipe.dataset.train) : recipe.dataset.format;
  const copies = new Map<string, string>();
  const trainRel = `data/train${path.extname(recipe.dataset.train) || '.jsonl'}`;
  copies.set(trainRel, recipe.dataset.train);
  let evalRel: string | null = null;
  if (recipe.dataset.eval !== null) {
    evalRel = `data/eval${path.extname(recipe.dataset.eval) || '.jsonl'}`;
    copies.set(evalRel, recipe.dataset.eval);
  }
  copies.set('adapter_config.json', adapter.file);
  let initRel: string | null = null;
  if (recipe.init_adapter !== null) {
    initRel = 'init_adapter';
    for (const f of ['adapter_config.json', 'adapter_model.safetensors']) {
      const src = path.join(recipe.init_adapter, f);
      if (!fs.existsSync(src)) throw new InputError('init-adapter-missing', `init_adapter has no ${f}`, { file: recipe.file, hint: `Expected ${src}` });
      copies.set(`${initRel}/${f}`, src);
    }
  }
  const runName = recipe.run_name ?? 'trl-run';
  const paths: ExportPaths = { train: trainRel, eval: evalRel, initAdapter: initRel, outputDir: 'runs', runName };
  const notes = fidelityNotes(recipe, adapter.config, adapter.raw, format, options);
  const sft = sftConfig(recipe, adapter.config, format, paths, options);
  const psJson = {
    recipe: path.basename(recipe.file),
    adapter_config: 'adapter_config.json',
    init_adapter: initRel,
    dataset: { train: trainRel, eval: evalRel, format, max_length: recipe.dataset.max_length, packing: recipe.dataset.packing, shuffle: recipe.dataset.shuffle, train_on_prompt: recipe.dataset.train_on_prompt },
  };
  const ctx: LaunchContext = {
    runName, opts: options, accelerator: req.accelerator ?? 'H100', packing: recipe.dataset.packing, runDir: `${paths.outputDir}/${runName}`,
    recipeFile: path.basename(recipe.file), notes,
  };
  const files = new Map<string, string>([
    ['sft_config.yaml', yamlFile('TRL / transformers settings: accelerate launch ... train.py --config sft_config.yaml (or trl sft --config sft_config.yaml)', sft)],
    ['accelerate_config.yaml', yamlFile(`accelerate config (${options.strategy}): accelerate launch --config_file accelerate_config.yaml`, accelerateConfig(options, mixedPrecisionOf(recipe, options)))],
    ['peft_studio.json', JSON.stringify(psJson, null, 2) + '\n'],
    ['train.py', TRAIN_PY],
    ['requirements.txt', requirementsTxt(options, recipe.dataset.packing)],
    ['sky.yaml', skyYaml(ctx)],
    ['k8s-job.yaml', k8sJobYaml(ctx)],
    ['README.md', readme(ctx)],
  ]);
  return { files, copies, notes, format, options };
}

/** Writes the export into outDir (created; existing files of the same names are replaced). */
export function writeTrlExport(exp: TrlExport, outDir: string): string[] {
  for (const [rel, src] of exp.copies) {
    if (path.resolve(outDir, rel) === path.resolve(src)) {
      throw new UsageError(`OUT_DIR ${outDir} would overwrite the recipe's own ${rel}`, 'Export into a new folder, e.g. cluster/');
    }
  }
  const written: string[] = [];
  const put = (rel: string, write: (abs: string) => void): void => {
    const abs = path.join(outDir, rel);
    fs.mkdirSync(path.dirname(abs), { recursive: true });
    write(abs);
    written.push(rel);
  };
  for (const [rel, text] of exp.files) put(rel, (abs) => fs.writeFileSync(abs, text, { mode: rel.endsWith('.py') ? 0o755 : 0o644 }));
  for (const [rel, src] of exp.copies) put(rel, (abs) => fs.copyFileSync(src, abs));
  return written;
}
