// Scaffolds a new adapter project (the "New Adapter Project" command and `peft-studio init`): a minimal adapter_config.json
// (the keys a user sets, PEFT's defaults implied), a commented peft-train.yaml and sample data in the template's format.
import { promises as fs, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { InputError, errorMessage } from '../errors';
import { samplePairs, sampleJsonl } from '../fixtures/sampleData';
import type { SampleFormat } from '../fixtures/sampleData';
import { parseModelConfig } from '../hf/config';
import { isHubId } from '../hf/hub';
import { resolveModelConfigOnly } from '../hf/resolveModel';
import { defaultTargetModules } from '../peft/defaults';
import { folderNameProblem } from '../util/safePath';
import { recipeText } from './recipeTemplate';

export type ScaffoldTemplate = 'chat' | 'instruct' | 'text';
export const SCAFFOLD_TEMPLATES: readonly ScaffoldTemplate[] = ['chat', 'instruct', 'text'];
/** The dataset format each template writes (CONTRACTS.md §1). */
export const TEMPLATE_FORMAT: Readonly<Record<ScaffoldTemplate, SampleFormat>> = { chat: 'messages', instruct: 'alpaca', text: 'text' };

export interface ScaffoldOptions {
  /** Project folder (created when missing). */
  dir: string;
  /** Local model folder or hub id (org/name[@rev]). */
  model: string;
  /** Default: chat when the model's tokenizer has a chat template, else instruct. */
  template?: ScaffoldTemplate;
  overwrite?: boolean;
  /** Folder a relative local `model` path is relative to (default: cwd). */
  baseDir?: string;
  signal?: AbortSignal;
}

export interface ScaffoldResult {
  /** Absolute paths of the files written. */
  files: string[];
  template: ScaffoldTemplate;
  /** Things the user should know (e.g. a chat template for a model without one). */
  warnings: string[];
}

export const SCAFFOLD_FILES = ['adapter_config.json', 'peft-train.yaml', 'data/train.jsonl', 'data/eval.jsonl'] as const;
export const SAMPLE_TRAIN_EXAMPLES = 120;
export const SAMPLE_EVAL_EXAMPLES = 20;
/** Optimizer steps of the scaffolded recipe: a first run that finishes in minutes on a CPU. */
export const SCAFFOLD_MAX_STEPS = 30;
export const SCAFFOLD_LORA = { r: 16, lora_alpha: 32, lora_dropout: 0.05 } as const;

export async function scaffoldProject(opts: ScaffoldOptions): Promise<ScaffoldResult> {
  const dir = path.resolve(opts.dir);
  const baseDir = opts.baseDir ?? process.cwd();
  const targets = SCAFFOLD_FILES.map((f) => path.join(dir, f));
  if (opts.overwrite !== true) {
    const existing: string[] = [];
    for (const t of targets) if (await exists(t)) existing.push(path.relative(dir, t));
    if (existing.length > 0) {
      throw new InputError('scaffold-exists', `${dir} already has ${existing.join(', ')}; not overwriting`, {
        file: dir, hint: 'Choose an empty folder, or overwrite them (peft-studio init --force)',
      });
    }
  }

  const hub = isHubId(opts.model, baseDir);
  const modelDir = await resolveModelConfigOnly(opts.model, { baseDir, ...(opts.signal !== undefined ? { signal: opts.signal } : {}) });
  const configFile = path.join(modelDir, 'config.json');
  const spec = parseModelConfig(await readJson(configFile), configFile);
  const warnings: string[] = [];
  const hasChatTemplate = await modelHasChatTemplate(modelDir);
  const template = opts.template ?? (hasChatTemplate ? 'chat' : 'instruct');
  if (template === 'chat' && !hasChatTemplate && !hub) {
    warnings.push(`${opts.model} has no chat template (tokenizer_config.json "chat_template" or chat_template.jinja): the chat data needs one; use --template instruct or add a template`);
  }

  // The model as the project refers to it: hub id as given; a local folder relative to the project (absolute stays absolute).
  const modelRef = hub ? opts.model : localModelRef(opts.model, baseDir, dir);
  const targetModules = defaultTargetModules(spec.modelType);
  const lora: MinimalAdapterConfig = { base_model_name_or_path: modelRef, ...SCAFFOLD_LORA, target_modules: targetModules ?? 'all-linear' };
  if (targetModules === null) warnings.push(`PEFT has no default target modules for model_type "${spec.modelType}": using "all-linear"`);

  const format = TEMPLATE_FORMAT[template];
  const pairs = samplePairs(SAMPLE_TRAIN_EXAMPLES + SAMPLE_EVAL_EXAMPLES);
  const contents: Record<(typeof SCAFFOLD_FILES)[number], string> = {
    'adapter_config.json': minimalAdapterConfigText(lora),
    'peft-train.yaml': recipeText({
      baseModel: yamlScalar(modelRef), format, maxSteps: SCAFFOLD_MAX_STEPS, modelType: spec.modelType, template,
      maxLength: Math.min(512, spec.maxPositionEmbeddings),
    }),
    'data/train.jsonl': sampleJsonl(pairs.slice(0, SAMPLE_TRAIN_EXAMPLES), format),
    'data/eval.jsonl': sampleJsonl(pairs.slice(SAMPLE_TRAIN_EXAMPLES), format),
  };
  await fs.mkdir(path.join(dir, 'data'), { recursive: true });
  for (const f of SCAFFOLD_FILES) await fs.writeFile(path.join(dir, f), contents[f]);
  return { files: targets, template, warnings };
}

/** Why `name` cannot be a new project folder in `parent` (null: it can be; an existing empty folder is fine). */
export function projectFolderProblem(parent: string, name: string): string | null {
  const why = folderNameProblem(name.trim());
  if (why !== null) return `The name ${why}.`;
  const dir = path.join(parent, name.trim());
  try {
    const st = statSync(dir);
    if (!st.isDirectory()) return `${dir} is a file.`;
    if (readdirSync(dir).length > 0) return `${dir} already exists and is not empty: choose another name.`;
  } catch {
    // nothing there yet: the project creates it
  }
  return null;
}

export interface MinimalAdapterConfig {
  base_model_name_or_path: string;
  r: number;
  lora_alpha: number;
  lora_dropout: number;
  target_modules: string[] | string;
}

/**
 * The adapter_config.json a project starts from: only the keys a user chooses, in reading order; every other
 * LoraConfig key keeps PEFT's default (PEFT's LoraConfig.from_pretrained and our parser fill them in). The trainer
 * writes the full PEFT 0.20 file next to the trained weights.
 */
export function minimalAdapterConfigText(c: MinimalAdapterConfig): string {
  const doc = {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: c.base_model_name_or_path,
    r: c.r,
    lora_alpha: c.lora_alpha,
    lora_dropout: c.lora_dropout,
    target_modules: c.target_modules,
    bias: 'none',
  };
  // one line for a short target list: ["q_proj", "v_proj"] reads better than one name a line
  return `${JSON.stringify(doc, null, 2).replace(/\[\n\s+((?:"[^"\n]*",?\s+)+)\]/, (_m, body: string) => `[${body.trim().split(/,\s+/).join(', ')}]`)}\n`;
}

function localModelRef(model: string, baseDir: string, projectDir: string): string {
  if (path.isAbsolute(model)) return model;
  const rel = path.relative(projectDir, path.resolve(baseDir, model)).split(path.sep).join('/');
  if (rel === '') return '.';
  return rel.startsWith('../') || rel === '..' ? rel : `./${rel}`;
}

/** A YAML plain scalar when safe, else a quoted one (paths with spaces, colons, #). */
function yamlScalar(s: string): string {
  return stringify(s).trimEnd();
}

async function modelHasChatTemplate(modelDir: string): Promise<boolean> {
  if (await exists(path.join(modelDir, 'chat_template.jinja'))) return true;
  try {
    const cfg = await readJson(path.join(modelDir, 'tokenizer_config.json'));
    const t = typeof cfg === 'object' && cfg !== null ? (cfg as { chat_template?: unknown }).chat_template : undefined;
    return (typeof t === 'string' && t !== '') || (Array.isArray(t) && t.length > 0);
  } catch {
    return false;
  }
}

async function readJson(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    throw new InputError('file-not-found', `cannot read ${path.basename(file)}`, { file });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new InputError('bad-json', `invalid JSON: ${errorMessage(e)}`, { file });
  }
}

async function exists(p: string): Promise<boolean> {
  return fs.stat(p).then(() => true, () => false);
}
