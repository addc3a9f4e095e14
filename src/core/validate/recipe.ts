// Validation of peft-train.yaml against RECIPE_FIELDS, the disk and the base model: unknown keys
// (did-you-mean + fix), types/ranges, missing paths, base_model, devices, max_length, warmup vs run length.
import { archOf } from '../arch/registry';
import * as path from 'node:path';
import type { QuantizationConfig } from '../quant/blockQuant';
import { quantizedModules } from '../quant/quantCache';
import { checkRecipeValue, recipeField, recipeKeys, RECIPE_FIELDS, type RecipeField } from '../train/recipeSchema';
import { suggest } from '../util/didYouMean';
import type { ModelInventory } from '../hf/types';
import { detectFormat } from './dataset';
import { LINT_KINDS, lintSeverities } from './lint/kinds';
import { countExamples, defaultAvailableDevices, defaultPathKind, firstExample, looksLikeHubId, nearMatch, pathKindOf } from './env';
import { LineIndex, problem } from './text';
import type { Problem, RecipeSummary, ValidationContext } from './types';
import { readYaml, type YamlEntry, type YamlRead } from './yamlWalk';
import { errorMessage } from '../errors';
import { bestModelProblems, type BestModelArgs } from '../train/bestModel';

const num = (v: unknown, d: number): number => (typeof v === 'number' && Number.isFinite(v) ? v : d);

/** The recipe's values by dotted path (defaults filled in where the key is absent or ill-typed). */
function valuesOf(read: YamlRead): Map<string, unknown> {
  const m = new Map<string, unknown>();
  for (const f of RECIPE_FIELDS) if (f.type !== 'section') m.set(f.path, f.default);
  for (const e of read.entries) {
    const f = recipeField(e.path);
    if (f !== undefined && f.type !== 'section' && checkRecipeValue(f, e.value) === null) m.set(e.path, e.value);
  }
  return m;
}

/** What a recipe says about its base model, adapter config and data (for validating those files). */
export function summarizeRecipe(text: string, recipePath: string): RecipeSummary | null {
  try {
    const read = readYaml(text);
    if (!read.rootIsMap) return null;
    const v = valuesOf(read);
    const dir = path.dirname(path.resolve(recipePath));
    const abs = (p: unknown): string | null => (typeof p === 'string' && p.trim() !== '' ? path.resolve(dir, p) : null);
    const base = v.get('base_model');
    const baseModel = typeof base === 'string' ? base : null;
    return {
      path: path.resolve(recipePath),
      baseModel,
      baseModelDir: baseModel === null ? null : looksLikeHubId(baseModel) ? localOrNull(dir, baseModel) : path.resolve(dir, baseModel),
      adapterConfig: abs(v.get('adapter_config')),
      datasets: [abs(v.get('dataset.train')), abs(v.get('dataset.eval'))].filter((p): p is string => p !== null),
      trainFile: abs(v.get('dataset.train')),
      evalFile: abs(v.get('dataset.eval')),
      evalPromptsFile: abs(v.get('dataset.eval_prompts')),
      lint: lintSeverities(Object.fromEntries(LINT_KINDS.map((k) => [k, v.get(`dataset.lint.${k}`)]))),
      format: String(v.get('dataset.format') ?? 'auto'),
      maxLength: num(v.get('dataset.max_length'), 512),
      trainOnPrompt: v.get('dataset.train_on_prompt') === true,
      packing: v.get('dataset.packing') === true,
      hasEval: abs(v.get('dataset.eval')) !== null,
      batchSize: num(v.get('training.per_device_train_batch_size'), 4),
      gradAccum: num(v.get('training.gradient_accumulation_steps'), 1),
      device: String(v.get('device') ?? 'auto'),
      fp16: v.get('training.fp16') === true,
      quantization: quantizationOf(read),
    };
  } catch {
    return null;
  }
}

/** The recipe's `quantization:` when it is present, not null and its values are valid (defaults filled in). */
function quantizationOf(read: YamlRead): QuantizationConfig | null {
  const e = read.entries.find((x) => x.path === 'quantization');
  if (e === undefined || e.value === null || typeof e.value !== 'object') return null;
  const v = valuesOf(read);
  return { bits: v.get('quantization.bits') as 4, block_size: v.get('quantization.block_size') as QuantizationConfig['block_size'] };
}

/** A hub-id-looking base_model that is also a local folder beside the recipe wins (as from_pretrained does). */
function localOrNull(dir: string, id: string): string | null {
  const p = path.resolve(dir, id);
  return defaultPathKind(p) === 'dir' ? p : null;
}

export function validateRecipe(text: string, ctx: ValidationContext): Problem[] {
  const idx = new LineIndex(text);
  const out: Problem[] = [];
  const read = readYaml(text);
  for (const e of read.errors) out.push(problem(idx.range(e.range[0], e.range[1]), 'error', 'yaml-syntax', e.message));
  if (!read.rootIsMap) {
    out.push(problem(idx.range(read.rootRange[0], read.rootRange[1]), 'error', 'not-a-mapping', 'peft-train.yaml must be a mapping of keys (base_model:, dataset:, training:, ...)'));
    return out;
  }
  const present = new Map<string, YamlEntry>();
  for (const e of read.entries) present.set(e.path, e);
  for (const e of read.entries) checkEntry(e, idx, out);
  // required keys
  for (const f of RECIPE_FIELDS) {
    if (!f.required || present.has(f.path)) continue;
    const parent = f.path.includes('.') ? present.get(f.path.slice(0, f.path.lastIndexOf('.'))) : undefined;
    const at = parent ? idx.range(parent.keyRange[0], parent.keyRange[1]) : idx.range(0, 0);
    out.push(problem(at, 'error', 'missing-key', `"${f.path}" is required: ${firstSentence(f.doc)}`));
  }
  if (out.some((p) => p.code === 'yaml-syntax')) return out;
  checkSemantics(read, present, idx, ctx, out);
  return out;
}

function checkEntry(e: YamlEntry, idx: LineIndex, out: Problem[]): void {
  const f = recipeField(e.path);
  const keyRange = idx.range(e.keyRange[0], e.keyRange[1]);
  if (f === undefined) {
    const section = e.path.includes('.') ? e.path.slice(0, e.path.lastIndexOf('.')) : '';
    const parentField = section === '' ? undefined : recipeField(section);
    if (section !== '' && parentField === undefined) return; // inside an unknown key: reported on that key
    const candidates = recipeKeys(section);
    const best = suggest(e.key, candidates, 1)[0];
    const elsewhere = RECIPE_FIELDS.find((x) => x.type !== 'section' && x.path.endsWith('.' + e.key) || (x.path === e.key && section !== ''));
    let msg = `Unknown key "${e.path}".`;
    if (best !== undefined) msg += ` Did you mean "${best}"?`;
    else if (elsewhere !== undefined) msg += ` "${e.key}" belongs at "${elsewhere.path}".`;
    else msg += ` Known keys${section === '' ? '' : ` under ${section}`}: ${candidates.join(', ')}.`;
    const fix = best !== undefined ? { title: `Change to "${best}"`, edits: [{ range: keyRange, newText: best }] } : undefined;
    // An error, not a warning: `peft-studio train` refuses a recipe with an unknown key (a typo would silently fall
    // back to a default), so validate must not pass it with exit code 0.
    out.push(problem(keyRange, 'error', 'unknown-key', msg, fix, best !== undefined ? { suggestion: best } : undefined));
    return;
  }
  const why = checkRecipeValue(f, e.value);
  if (why === null) return;
  const vr = e.valueRange[1] > e.valueRange[0] ? idx.range(e.valueRange[0], e.valueRange[1]) : keyRange;
  let fix;
  if (f.type === 'enum' && typeof e.value === 'string') {
    const best = suggest(e.value, f.enum!, 1)[0];
    if (best !== undefined) fix = { title: `Change to "${best}"`, edits: [{ range: vr, newText: best }] };
  } else if ((f.type === 'integer' || f.type === 'number') && typeof e.value === 'string' && e.value.trim() !== '' && Number.isFinite(Number(e.value))) {
    // a number written as a string ("2e-4"): the same number unquoted, when it is valid as one
    const n = Number(e.value);
    if (checkRecipeValue(f, n) === null) fix = { title: `Change to ${String(n)}`, edits: [{ range: vr, newText: String(n) }] };
  } else if (f.type === 'boolean' && typeof e.value === 'string' && /^(true|false)$/i.test(e.value.trim())) {
    const b = e.value.trim().toLowerCase();
    fix = { title: `Change to ${b}`, edits: [{ range: vr, newText: b }] };
  }
  out.push(problem(vr, 'error', 'bad-value', why + (fix ? `. Did you mean "${fix.edits[0]!.newText}"?` : ''), fix));
}

function checkSemantics(read: YamlRead, present: Map<string, YamlEntry>, idx: LineIndex, ctx: ValidationContext, out: Problem[]): void {
  const v = valuesOf(read);
  const dir = path.dirname(path.resolve(ctx.path));
  const at = (p: string, which: 'key' | 'value' = 'value') => {
    const e = present.get(p);
    if (e === undefined) return idx.range(0, 0);
    const r = which === 'value' && e.valueRange[1] > e.valueRange[0] ? e.valueRange : e.keyRange;
    return idx.range(r[0], r[1]);
  };
  const valid = (p: string): boolean => {
    const e = present.get(p);
    const f: RecipeField | undefined = recipeField(p);
    return e !== undefined && f !== undefined && checkRecipeValue(f, e.value) === null;
  };
  // paths
  for (const f of RECIPE_FIELDS) {
    if (f.type !== 'path' || f.path === 'output_dir' || !valid(f.path)) continue;
    const val = v.get(f.path);
    if (typeof val !== 'string') continue;
    const kind = pathKindOf(ctx, path.resolve(dir, val));
    if (kind === f.pathKind) continue;
    const near = kind === null && f.pathKind !== undefined ? nearMatch(ctx, path.resolve(dir, val), f.pathKind) : null;
    if (near !== null) {
      // keep the folder part as written, swap the name: data/trian.jsonl → data/train.jsonl
      const slash = Math.max(val.lastIndexOf('/'), val.lastIndexOf('\\'));
      const fixed = `${val.slice(0, slash + 1)}${near}`;
      const range = at(f.path);
      const vr = present.get(f.path)?.valueRange;
      const written = vr !== undefined ? idx.text.slice(vr[0], vr[1]) : '';
      const newText = /^["']/.test(written) ? JSON.stringify(fixed) : fixed;
      out.push(problem(range, 'error', 'path-not-found', `${f.pathKind === 'dir' ? 'Folder' : 'File'} not found: ${val}. Did you mean ${fixed}?`,
        { title: `Change to ${fixed}`, edits: [{ range, newText }] }, { suggestion: fixed }));
      continue;
    }
    const msg = kind === null ? `${f.pathKind === 'dir' ? 'Folder' : 'File'} not found: ${val} (resolved against ${dir})` : `${val} is a ${kind === 'dir' ? 'folder' : 'file'}; "${f.path}" needs a ${f.pathKind === 'dir' ? 'folder' : 'file'}`;
    out.push(problem(at(f.path), 'error', 'path-not-found', msg));
  }
  // init_adapter must be a PEFT adapter folder; the data's format must be the declared one
  const init = v.get('init_adapter');
  if (valid('init_adapter') && typeof init === 'string' && pathKindOf(ctx, path.resolve(dir, init)) === 'dir' && pathKindOf(ctx, path.resolve(dir, init, 'adapter_config.json')) !== 'file') {
    out.push(problem(at('init_adapter'), 'error', 'init-adapter-invalid', `${init} has no adapter_config.json: init_adapter must be a PEFT adapter folder (adapter_config.json + adapter_model.safetensors)`));
  }
  const train = v.get('dataset.train');
  if (valid('dataset.train') && typeof train === 'string' && pathKindOf(ctx, path.resolve(dir, train)) === 'file') {
    const first = firstExample(path.resolve(dir, train));
    const seen = first === null ? null : detectFormat(first);
    const declared = String(v.get('dataset.format'));
    if (first !== null && seen === null) {
      out.push(problem(at('dataset.train'), 'warning', 'dataset-format-unknown', `The first example of ${train} has none of the keys of a known format (text, instruction+output, messages, prompt+completion, input_ids): ${Object.keys(first).slice(0, 5).join(', ')}`));
    } else if (seen !== null && declared !== 'auto' && seen !== declared && valid('dataset.format')) {
      out.push(problem(at('dataset.format'), 'error', 'dataset-format-mismatch', `dataset.format is "${declared}" but the first example of ${train} is "${seen}"`,
        { title: `Change to "${seen}"`, edits: [{ range: at('dataset.format'), newText: seen }] }));
    }
  }
  // base model
  let model: ModelInventory | null = ctx.model ?? null;
  const base = v.get('base_model');
  if (valid('base_model') && typeof base === 'string') {
    const local = path.resolve(dir, base);
    const kind = pathKindOf(ctx, local);
    if (kind === 'dir') {
      if (pathKindOf(ctx, path.join(local, 'config.json')) !== 'file') {
        out.push(problem(at('base_model'), 'error', 'base-model-invalid', `${base} is a folder but not a Hugging Face model: it has no config.json`));
      } else if (ctx.model === undefined && ctx.loadModel) {
        try {
          model = ctx.loadModel(local);
        } catch (e) {
          out.push(problem(at('base_model'), 'error', 'base-model-invalid', `Cannot read the base model: ${errorMessage(e)}`));
        }
      }
    } else if (kind === 'file') {
      out.push(problem(at('base_model'), 'error', 'base-model-invalid', `${base} is a file; base_model must be a model folder or a hub id (org/name)`));
    } else if (!looksLikeHubId(base)) {
      out.push(problem(at('base_model'), 'error', 'base-model-not-found', `base_model "${base}" is neither a folder (resolved against ${dir}) nor a hub id like "org/name"`));
    } else {
      out.push(problem(at('base_model'), 'info', 'base-model-hub', `"${base}" is not a local folder: it will be downloaded from the Hugging Face hub (model checks skipped until then)`));
    }
  }
  // a config-only folder: enough to validate, count and estimate; training needs the weights and the tokenizer
  if (model !== null && ctx.model === undefined && typeof base === 'string') {
    const local = path.resolve(dir, base);
    const missing = [model.source === 'config' ? 'no .safetensors weights' : '', pathKindOf(ctx, path.join(local, 'tokenizer.json')) === 'file' || v.get('dataset.format') === 'tokenized' ? '' : 'no tokenizer.json'].filter((x) => x !== '');
    if (missing.length > 0) {
      out.push(problem(at('base_model'), 'warning', 'base-model-incomplete', `${base} has ${missing.join(' and ')}: validate, count and estimate work, but train needs the files save_pretrained() writes`));
    }
  }
  // device
  const device = v.get('device');
  if (valid('device') && typeof device === 'string' && device !== 'auto') {
    const avail = ctx.availableDevices ?? defaultAvailableDevices();
    if (!avail.includes(device)) {
      const hint = device === 'cuda' ? 'The CUDA provider of onnxruntime-node is not installed (ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install, with CUDA 12 + cuDNN 9)' : 'onnxruntime-node here has no such backend';
      out.push(problem(at('device'), 'error', 'device-unavailable', `device "${device}" is not available here (available: ${avail.join(', ')}). ${hint}; or use "device: auto".`));
    }
  }
  // precision
  if (v.get('training.bf16') === true) out.push(problem(at('training.bf16'), 'error', 'bf16-unsupported', 'bf16 training is not supported by the onnxruntime-node execution providers; use fp16 on a GPU or fp32'));
  if (v.get('training.fp16') === true && device === 'cpu') out.push(problem(at('training.fp16'), 'warning', 'fp16-on-cpu', 'fp16 is ignored on the CPU: onnxruntime CPU computes in fp32'));
  // a 4-bit base needs decoder Linear layers (GPT-2's are Conv1D)
  if (model !== null && present.has('quantization') && present.get('quantization')?.value !== null && quantizedModules(model).length === 0) {
    out.push(problem(at('quantization', 'key'), 'error', 'quant-unsupported-model', `a 4-bit base needs Linear layers in the decoder; ${model.spec.modelType} has none (GPT-2 uses Conv1D). Remove "quantization".`));
  }
  // max_length vs the model
  const maxLength = num(v.get('dataset.max_length'), 512);
  if (model !== null && valid('dataset.max_length') && maxLength > model.spec.maxPositionEmbeddings) {
    const learned = archOf(model.spec).learnedPositions;
    // A warning either way, as in the trainer: it refuses only an example that is actually longer (GPT-2).
    out.push(problem(at('dataset.max_length'), 'warning', 'max-length-too-long',
      `dataset.max_length ${maxLength} exceeds the model's max_position_embeddings (${model.spec.maxPositionEmbeddings})` +
      (learned ? `: ${archOf(model.spec).displayName} has no position embedding beyond it, so training fails on any example longer than ${model.spec.maxPositionEmbeddings} tokens` : ': quality degrades past the trained context')));
  }
  checkSchedule(v, at, dir, out);
  checkEvaluation(v, present, at, ctx, dir, out);
}

/** dataset.eval_prompts (a JSONL file must exist) and the best-checkpoint / early-stopping rules (train's own, bestModel.ts). */
function checkEvaluation(v: Map<string, unknown>, present: Map<string, YamlEntry>, at: (p: string, w?: 'key' | 'value') => ReturnType<LineIndex['range']>, ctx: ValidationContext, dir: string, out: Problem[]): void {
  const prompts = v.get('dataset.eval_prompts');
  if (typeof prompts === 'string' && pathKindOf(ctx, path.resolve(dir, prompts)) !== 'file') {
    out.push(problem(at('dataset.eval_prompts'), 'error', 'path-not-found', `File not found: ${prompts} (resolved against ${dir}); dataset.eval_prompts is a JSONL file of {"prompt", "expected"?} lines, or a list`));
  }
  const training = Object.fromEntries(['load_best_model_at_end', 'metric_for_best_model', 'greater_is_better', 'early_stopping_patience', 'early_stopping_threshold', 'eval_steps', 'save_steps']
    .map((k) => [k, v.get(`training.${k}`)])) as unknown as BestModelArgs;
  const expected = Array.isArray(prompts) ? prompts.some((p) => typeof p === 'object' && p !== null && typeof (p as Record<string, unknown>)['expected'] === 'string') : null;
  for (const p of bestModelProblems(training, { evalData: typeof v.get('dataset.eval') === 'string', evalPrompts: prompts !== null && prompts !== undefined, expected })) {
    const key = present.has(p.path) ? p.path : present.has('training.load_best_model_at_end') ? 'training.load_best_model_at_end' : 'training';
    out.push(problem(at(key), 'error', 'best-model-settings', p.message));
  }
}

function checkSchedule(v: Map<string, unknown>, at: (p: string, w?: 'key' | 'value') => ReturnType<LineIndex['range']>, dir: string, out: Problem[]): void {
  const warmup = num(v.get('training.warmup_steps'), 0);
  const ratio = num(v.get('training.warmup_ratio'), 0);
  let total = num(v.get('training.max_steps'), -1);
  let how = 'max_steps';
  if (total <= 0 && v.get('dataset.packing') !== true && typeof v.get('dataset.train') === 'string') {
    const n = countExamples(path.resolve(dir, String(v.get('dataset.train'))));
    if (n !== null && n > 0) {
      const b = num(v.get('training.per_device_train_batch_size'), 4);
      const ga = num(v.get('training.gradient_accumulation_steps'), 1);
      const perEpoch = Math.max(1, Math.floor(Math.ceil(n / b) / ga));
      total = Math.ceil(perEpoch * num(v.get('training.num_train_epochs'), 1));
      how = `${n} examples, batch ${b} × ${ga} accumulation, ${num(v.get('training.num_train_epochs'), 1)} epoch(s)`;
    }
  }
  if (warmup > 0 && total > 0 && warmup >= total) {
    out.push(problem(at('training.warmup_steps'), 'warning', 'warmup-too-long', `warmup_steps ${warmup} is not shorter than the run (${total} steps: ${how}): the learning rate never reaches its peak`));
  }
  if (warmup > 0 && ratio > 0) out.push(problem(at('training.warmup_ratio'), 'info', 'warmup-both', 'warmup_steps > 0 overrides warmup_ratio'));
  const sched = v.get('training.lr_scheduler_type');
  if (sched === 'constant' && (warmup > 0 || ratio > 0)) {
    out.push(problem(at('training.lr_scheduler_type'), 'warning', 'constant-ignores-warmup', 'lr_scheduler_type "constant" ignores warmup; use "constant_with_warmup"', { title: 'Change to "constant_with_warmup"', edits: [{ range: at('training.lr_scheduler_type'), newText: 'constant_with_warmup' }] }));
  }
  if (num(v.get('training.eval_steps'), 0) > 0 && v.get('dataset.eval') === null && v.get('dataset.eval_prompts') === null) {
    out.push(problem(at('training.eval_steps'), 'warning', 'eval-without-data', 'eval_steps is set but dataset.eval is null: no evaluation will run'));
  }
}

/** The first sentence of a field's doc (a period followed by a space or the end; not the one in "config.json"). */
function firstSentence(doc: string): string {
  const m = /^.*?[.!?](?=\s|$)/s.exec(doc);
  return m !== null ? m[0] : doc;
}
