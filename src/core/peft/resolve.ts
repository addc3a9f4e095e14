// Which modules of a model a LoraConfig adapts, with which r/alpha/scaling: PEFT's inject_adapter +
// _maybe_include_all_linear_layers + LoraModel._create_and_replace (peft v0.20.0), including its errors.
import { archOf } from '../arch/registry';
import type { ArchDescriptor } from '../arch/types';
import { InputError } from '../errors';
import type { ModelInventory, ModuleInfo } from '../hf/types';
import type { LoraTarget } from '../train/engineApi';
import { defaultTargetModulesSpec } from './defaults';
import type { LoraConfig } from './loraConfig';
import { loraScaling } from './loraConfig';
import { checkTargetModuleExists, matchingEntries, patternValue } from './match';
import type { MatchConfig } from './match';

/** One entry of a named_modules() listing: a module with parameters (info) or a container/parameter-less module. */
export interface NamedModule {
  name: string;
  info: ModuleInfo | null;
  /** Class name for messages (LlamaAttention, Dropout, ...). */
  className: string;
}

export interface TargetEntryReport {
  /** A target_modules list entry, the regex string, "all-linear", or a default entry. */
  entry: string;
  /** Adapted modules this entry names (after exclusions and the layer filter). */
  matched: string[];
  /** Sorted distinct decoder-layer indices of `matched`. */
  layers: number[];
}

export interface ResolvedTargets {
  targets: LoraTarget[];
  entries: TargetEntryReport[];
  /** target_modules as PEFT resolved it (defaults filled in; all-linear expanded to module names). */
  targetModules: string[] | string;
  /** Modules a rule excluded (exclude_modules or modules_to_save). */
  excluded: string[];
}

const LINEAR_KINDS = new Set(['linear', 'conv1d', 'embedding']);

function containerClass(name: string, arch: ArchDescriptor): string {
  const last = name.split('.').pop() ?? '';
  const table = arch.containerClasses;
  if (/^\d+$/.test(last)) return table['#'] ?? 'DecoderLayer';
  return table[last] ?? (last.includes('drop') ? 'Dropout' : 'Module');
}

function classOf(m: ModuleInfo): string {
  return { linear: 'Linear', conv1d: 'Conv1D', embedding: 'Embedding', layernorm: 'LayerNorm', rmsnorm: 'RMSNorm' }[m.kind];
}

/**
 * Every module of `model.named_modules()` (pre-order), derived from the inventory: containers (model, model.layers,
 * model.layers.0, ...self_attn, ...mlp) and parameter-less leaves (dropouts, activations, rotary embedding) included.
 */
export function namedModules(inv: ModelInventory): NamedModule[] {
  const out: NamedModule[] = [];
  const seen = new Set<string>();
  const arch = archOf(inv.spec);
  const add = (name: string, info: ModuleInfo | null): void => {
    if (seen.has(name)) return;
    seen.add(name);
    out.push({ name, info, className: info !== null ? classOf(info) : containerClass(name, arch) });
  };
  const extra = (m: ModuleInfo): string[] => {
    // Parameter-less submodules that come right after a module in named_modules order.
    return arch.modulesAfter(m.name);
  };
  for (const m of inv.modules) {
    const parts = m.name.split('.');
    for (let i = 1; i < parts.length; i++) add(parts.slice(0, i).join('.'), null);
    add(m.name, m);
    for (const e of extra(m)) add(e, null);
  }
  return out;
}

/** target_modules after PEFT's preparation: null → the model type's defaults, "all-linear" → every linear except the head. */
export function resolveTargetModules(cfg: LoraConfig, inv: ModelInventory): { targetModules: string[] | string; entries: string[] } {
  let tm = cfg.target_modules;
  if (tm === null) {
    if (cfg.target_parameters !== null) return { targetModules: [], entries: [] };
    const d = defaultTargetModulesSpec(inv.spec.modelType);
    if (d === null) {
      throw new InputError('peft-no-default-targets', 'Please specify `target_modules` in `peft_config`', { hint: `PEFT has no default target modules for model_type "${inv.spec.modelType}"` });
    }
    tm = d;
  }
  if (typeof tm === 'string' && tm.toLowerCase() === 'all-linear') {
    const names = inv.modules.filter((m) => (m.kind === 'linear' || m.kind === 'conv1d') && !m.isOutputHead).map((m) => m.name);
    return { targetModules: names, entries: ['all-linear'] };
  }
  return { targetModules: tm, entries: typeof tm === 'string' ? [tm] : [...tm] };
}

export interface TargetAnalysis extends ResolvedTargets {
  /** The error PEFT would raise (nothing matched, unsupported module, ...), or null. */
  error: InputError | null;
  /** PEFT's warnings (exclude_modules that excluded nothing, fan_in_fan_out forced for Linear/Conv1D). */
  warnings: string[];
}

/**
 * Like resolveTargets but never throws for matching problems: returns what matched, the per-entry report and
 * the error PEFT would raise (for the validator, which reports every entry even when nothing matched).
 * Config-level errors (an invalid regex, no default targets for the model type) still throw InputError.
 */
export function analyzeTargets(cfg: LoraConfig, inv: ModelInventory): TargetAnalysis {
  let error: InputError | null = null;
  const warnings: string[] = [];
  if (cfg.target_parameters !== null && cfg.target_parameters.length > 0) {
    error = new InputError('peft-target-parameters', '`target_parameters` is not supported by PEFT Studio', { hint: 'Use `target_modules` to adapt linear layers' });
  }
  if (cfg.layer_replication !== null && cfg.layer_replication.length > 0) {
    error = new InputError('peft-layer-replication', '`layer_replication` is not supported by PEFT Studio', { hint: 'It changes the model\'s layer stack; remove it' });
  }
  const { targetModules, entries: entryNames } = resolveTargetModules(cfg, inv);
  const allLinear = entryNames.length === 1 && entryNames[0] === 'all-linear';
  const mc: MatchConfig = {
    target_modules: targetModules,
    exclude_modules: cfg.exclude_modules,
    modules_to_save: cfg.modules_to_save,
    layers_to_transform: cfg.layers_to_transform,
    layers_pattern: cfg.layers_pattern,
  };
  const targets: LoraTarget[] = [];
  const excluded: string[] = [];
  const unmatched: string[] = [];
  const report = new Map<string, TargetEntryReport>(entryNames.map((e) => [e, { entry: e, matched: [], layers: [] }]));
  for (const nm of namedModules(inv)) {
    const result = checkTargetModuleExists(mc, nm.name);
    if (result === 'excluded') {
      excluded.push(nm.name);
      continue;
    }
    if (result === 'unmatched') {
      unmatched.push(nm.name);
      continue;
    }
    if (nm.info === null || !LINEAR_KINDS.has(nm.info.kind)) {
      error ??= new InputError('peft-unsupported-target', `Target module ${nm.className} (${nm.name}) is not supported. Currently, only the following modules are supported: \`torch.nn.Linear\`, \`torch.nn.Embedding\`, \`transformers.pytorch_utils.Conv1D\`.`, {
        hint: typeof targetModules === 'string' ? 'The target_modules regex must fullmatch only linear/embedding module names' : 'Name the linear layers themselves (e.g. q_proj), not their parent module',
      });
      continue;
    }
    const m = nm.info;
    if (m.kind === 'embedding' && cfg.lora_bias) {
      error ??= new InputError('peft-lora-bias-embedding', `lora_bias=true is not supported for Embedding (${m.name}).`);
    }
    const r = patternValue(cfg.rank_pattern, m.name, cfg.r);
    const alpha = patternValue(cfg.alpha_pattern, m.name, cfg.lora_alpha);
    if (!(r > 0) || !Number.isInteger(r)) {
      error ??= new InputError('lora-config-out-of-range', `\`r\` should be a positive integer value but the value passed is ${r}`, { hint: `module ${m.name}` });
      continue;
    }
    targets.push({ module: m, r, alpha, scaling: loraScaling(alpha, r, cfg.use_rslora) });
    const names = allLinear ? ['all-linear'] : typeof targetModules === 'string' ? [targetModules] : matchingEntries(targetModules, m.name);
    for (const e of names) {
      const rep = report.get(e);
      if (rep === undefined) continue;
      rep.matched.push(m.name);
      if (m.layer !== null && !rep.layers.includes(m.layer)) rep.layers.push(m.layer);
    }
  }
  for (const rep of report.values()) rep.layers.sort((a, b) => a - b);
  // LoraModel._create_new_module forces fan_in_fan_out per layer type, with a warning.
  if (cfg.fan_in_fan_out && targets.some((t) => t.module.kind === 'linear')) {
    warnings.push('fan_in_fan_out is set to True but the target module is `torch.nn.Linear`. Setting fan_in_fan_out to False.');
  }
  if (!cfg.fan_in_fan_out && targets.some((t) => t.module.kind === 'conv1d')) {
    warnings.push('fan_in_fan_out is set to False but the target module is `Conv1D`. Setting fan_in_fan_out to True.');
  }
  if (error === null && targets.length === 0) error = noTargetsError(cfg, targetModules, excluded.length, unmatched.length);
  const ex = cfg.exclude_modules;
  if (targets.length > 0 && ex !== null && ex.length > 0 && excluded.length === 0) {
    warnings.push(`You have passed exclude_modules=${JSON.stringify(ex)} but no modules were excluded. Please check that exclude_modules was set correctly.`);
  }
  return { targets, entries: [...report.values()], targetModules, excluded, error, warnings };
}

/**
 * Resolve which modules `cfg` adapts in `inv`, as PEFT's inject_adapter does, with per-module r, alpha and scaling
 * (rank_pattern / alpha_pattern, use_rslora), plus a per-entry report for the validator. Raises InputError where
 * PEFT raises ValueError: nothing matched, everything excluded, or a matched module that LoRA cannot adapt.
 */
export function resolveTargets(cfg: LoraConfig, inv: ModelInventory): ResolvedTargets {
  const a = analyzeTargets(cfg, inv);
  if (a.error !== null) throw a.error;
  return { targets: a.targets, entries: a.entries, targetModules: a.targetModules, excluded: a.excluded };
}

function noTargetsError(cfg: LoraConfig, tm: string[] | string, nExcluded: number, nUnmatched: number): InputError {
  const layersNote = (): string => {
    let s = '';
    if (cfg.layers_to_transform !== null) s += ` Note: You specified 'layers_to_transform': ${JSON.stringify(cfg.layers_to_transform)}.`;
    if (cfg.layers_pattern !== null) s += ` You also specified 'layers_pattern': ${JSON.stringify(cfg.layers_pattern)}.`;
    return s;
  };
  if (nExcluded > 0 && nUnmatched === 0) {
    return new InputError('peft-all-excluded', 'All modules were excluded. This is likely unintended. Check your `target_modules`, `exclude_modules` and `modules_to_save` configuration.');
  }
  if (nExcluded === 0 && (tm.length === 0)) {
    return new InputError('peft-no-targets', 'No `target_modules` passed but also no `target_parameters` found. Please check the values for these arguments.');
  }
  if (nExcluded === 0) {
    return new InputError('peft-targets-not-found', `Target modules ${JSON.stringify(tm)} not found in the base model. Please check the target modules and try again.${layersNote()}`);
  }
  return new InputError('peft-no-targets', `No modules were targeted for adaptation. This might be caused by a combination of mismatched target modules and excluded modules. Please check your \`target_modules\` and \`exclude_modules\` configuration. You may also have only targeted modules that are marked to be saved (\`modules_to_save\`).${layersNote()}`);
}

function pyListCompare(a: string[], b: string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i] as string;
    const y = b[i] as string;
    if (x !== y) return x < y ? -1 : 1;
  }
  return a.length - b.length;
}

/** PEFT's _find_minimal_target_modules: the fewest name suffixes that match `targets` and none of `others` (sorted). */
export function findMinimalTargetModules(targets: readonly string[], others: readonly string[]): string[] {
  const suffixes = (s: string): string[] => {
    const parts = s.split('.');
    return parts.map((_, i) => parts.slice(i).join('.')).reverse();
  };
  const otherSuffixes = new Set(others.flatMap(suffixes));
  const required = new Set<string>();
  const items = [...new Set(targets)].map((t) => [t, suffixes(t)] as const).sort((a, b) => pyListCompare(a[1], b[1]));
  for (const [item, sfx] of items) {
    for (const s of sfx) {
      if (required.has(s) || otherSuffixes.has(s)) continue;
      if (![...required].some((r) => item.endsWith(`.${r}`))) {
        required.add(s);
        break;
      }
    }
  }
  return required.size === 0 ? [...new Set(targets)].sort() : [...required].sort();
}

/**
 * target_modules as PEFT saves them in adapter_config.json after injecting into `inv`: null → the model type's
 * defaults; "all-linear" → the linear module names; lists of 20 or more names shrunk to suffixes
 * (MIN_TARGET_MODULES_FOR_OPTIMIZATION); a regex unchanged. PEFT keeps a set, so the order is ours (sorted).
 */
export function savedTargetModules(cfg: LoraConfig, inv: ModelInventory): string[] | string {
  const { targetModules } = resolveTargetModules(cfg, inv);
  if (typeof targetModules === 'string') return targetModules;
  if (targetModules.length < 20) return [...new Set(targetModules)];
  const keys = ['', ...namedModules(inv).map((m) => m.name)];
  const others = keys.filter((k) => !targetModules.includes(k) && !targetModules.some((t) => k.endsWith(`.${t}`)));
  const minimal = findMinimalTargetModules(targetModules, others);
  return minimal.length < new Set(targetModules).size ? minimal : [...new Set(targetModules)];
}
