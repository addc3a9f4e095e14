// adapter_config.json against the real base model: target_modules entries that match nothing or only some layers,
// layers_to_transform out of range, rank/alpha_pattern keys and modules_to_save that match nothing, base model mismatch.
import * as path from 'node:path';
import type { Node } from 'jsonc-parser';
import type { ModelInventory } from '../hf/types';
import { suggest } from '../util/didYouMean';
import { looksLikeHubId, pathKindOf } from './env';
import { nodeRange, replaceNode, type JsonProp } from './jsonTree';
import { entryMatches, layerIndexOf, matchTargets, targetNameChoices } from './targets';
import { pythonRegexProblem, safeMatch } from '../util/safeRegex';
import { problem, type LineIndex } from './text';
import type { Problem, ValidationContext } from './types';

/** The base model of an adapter_config.json: ctx.model, else the recipe's base model, else a local base_model_name_or_path. */
export function modelForAdapter(ctx: ValidationContext, baseNameOrPath: unknown): ModelInventory | null {
  if (ctx.model !== undefined) return ctx.model;
  if (ctx.loadModel === undefined) return null;
  const dirs: string[] = [];
  if (ctx.recipe?.baseModelDir) dirs.push(ctx.recipe.baseModelDir);
  if (typeof baseNameOrPath === 'string' && baseNameOrPath !== '') {
    // Relative to the config's folder, then to the working directory (where PEFT's from_pretrained resolves it).
    for (const p of [path.resolve(path.dirname(path.resolve(ctx.path)), baseNameOrPath), path.resolve(baseNameOrPath)]) {
      if (!dirs.includes(p) && pathKindOf(ctx, p) === 'dir') dirs.push(p);
    }
  }
  for (const d of dirs) {
    try {
      const inv = ctx.loadModel(d);
      if (inv) return inv;
    } catch {
      // not a model folder: the recipe's own validation says why
    }
  }
  return null;
}

export function checkAgainstModel(byKey: Map<string, JsonProp>, val: (k: string) => unknown, idx: LineIndex, ctx: ValidationContext, out: Problem[]): void {
  checkBaseModelName(byKey, val, idx, ctx, out);
  const inv = modelForAdapter(ctx, val('base_model_name_or_path'));
  if (inv === null) return;
  const asList = (v: unknown): string[] | string | null => (typeof v === 'string' || Array.isArray(v) ? (v as string[] | string) : null);
  const tmProp = byKey.get('target_modules');
  const ltt = val('layers_to_transform');
  const lp = asList(val('layers_pattern'));
  const m = matchTargets(inv, {
    targetModules: asList(val('target_modules')),
    excludeModules: asList(val('exclude_modules')),
    layersToTransform: Array.isArray(ltt) || typeof ltt === 'number' ? (ltt as number[] | number) : null,
    layersPattern: lp,
  });
  const numLayers = inv.spec.numLayers;
  const choices = targetNameChoices(inv);
  const tmNode = tmProp?.valueNode;
  if (m.spec === null) {
    out.push(problem(tmProp ? nodeRange(idx, tmProp.keyNode) : idx.range(0, 1), 'error', 'no-default-targets', `target_modules is not set and PEFT has no default for model_type "${inv.spec.modelType}": list the modules to adapt, e.g. ${JSON.stringify(choices.slice(0, 2))}`));
    return;
  }
  // per entry
  const entryNodes: (Node | undefined)[] = tmNode?.type === 'array' ? (tmNode.children ?? []) : [tmNode];
  m.entries.forEach((e, i) => {
    const node = tmProp === undefined ? undefined : entryNodes[i];
    const range = node ? nodeRange(idx, node) : tmProp ? nodeRange(idx, tmProp.keyNode) : idx.range(0, 1);
    const data = { entry: e.entry, matched: e.matched.map((x) => x.name), layers: e.layers };
    if (e.matched.length === 0 && typeof m.spec === 'string' && m.spec !== 'all-linear') {
      out.push(regexProblem(e.entry, range, node, idx, choices, inv));
      return;
    }
    if (e.matched.length === 0) {
      const best = suggest(e.entry, choices, 3);
      const fix = node && best.length > 0 ? { title: `Replace with "${best[0]}"`, edits: [replaceNode(idx, node, best[0])] } : undefined;
      out.push(problem(range, 'error', 'target-not-found', `Target module "${e.entry}" is not found in the base model (${inv.spec.modelType}).` +
        (best.length > 0 ? ` Did you mean "${best[0]}"?` : '') + ` Linear layers: ${choices.join(', ')}`, fix, { ...data, suggestions: best.length > 0 ? best : choices }));
      return;
    }
    const bad = e.matched.filter((x) => x.kind === 'layernorm' || x.kind === 'rmsnorm');
    if (bad.length > 0) {
      out.push(problem(range, 'error', 'target-unsupported', `"${e.entry}" matches ${bad[0]!.name}, a ${bad[0]!.kind === 'rmsnorm' ? 'RMSNorm' : 'LayerNorm'}: LoRA supports Linear, Conv1D and Embedding layers only`, undefined, data));
      return;
    }
    const emb = e.matched.filter((x) => x.kind === 'embedding');
    if (emb.length > 0) out.push(problem(range, 'info', 'target-embedding', `"${e.entry}" matches the embedding ${emb[0]!.name}: adapted with lora_embedding_A [r, vocab] and lora_embedding_B [dim, r] (no lora_dropout); PEFT's save_pretrained also writes the base embedding beside them, PEFT Studio does not`, undefined, data));
    if (ltt === null || ltt === undefined) {
      const inLayers = e.matched.some((x) => x.layer !== null);
      if (inLayers && e.layers.length < numLayers) {
        out.push(problem(range, 'warning', 'target-partial', `"${e.entry}" matched in ${e.layers.length} of ${numLayers} layers (${e.layers.join(', ')})`, undefined, data));
      }
    }
  });
  // exclude_modules that excludes nothing (PEFT warns: "You have passed exclude_modules=... but no modules were excluded")
  const exProp = byKey.get('exclude_modules');
  const exVal = val('exclude_modules');
  const exSet = typeof exVal === 'string' ? exVal !== '' : Array.isArray(exVal) && exVal.length > 0;
  if (exProp !== undefined && exSet && m.excludedCount === 0 && m.targets.length > 0) {
    out.push(problem(nodeRange(idx, exProp.valueNode ?? exProp.keyNode), 'warning', 'exclude-unused', `exclude_modules ${JSON.stringify(exVal)} excludes none of the ${m.targets.length} targeted modules`));
  }
  // layers_to_transform
  const lttProp = byKey.get('layers_to_transform');
  if (lttProp?.valueNode && (Array.isArray(ltt) || typeof ltt === 'number')) {
    const nodes = lttProp.valueNode.type === 'array' ? (lttProp.valueNode.children ?? []) : [lttProp.valueNode];
    for (const n of nodes) {
      if (typeof n.value === 'number' && n.value >= numLayers) out.push(problem(nodeRange(idx, n), 'error', 'layer-out-of-range', `Layer ${n.value} does not exist: the model has ${numLayers} layers (0-${numLayers - 1})`));
    }
    if (lp !== null && typeof m.spec !== 'string') {
      const any = inv.modules.some((x) => layerIndexOf(x.name, lp) !== null);
      if (!any) out.push(problem(nodeRange(idx, byKey.get('layers_pattern')!.valueNode ?? byKey.get('layers_pattern')!.keyNode), 'error', 'layers-pattern-not-found', `layers_pattern ${JSON.stringify(lp)} matches no module list of the model (its layers are "${layerListName(inv)}")`));
    }
  }
  if (m.targets.length === 0 && !out.some((p) => p.code === 'target-not-found' || p.code === 'layer-out-of-range' || p.code === 'bad-regex')) {
    out.push(problem(tmProp ? nodeRange(idx, tmProp.keyNode) : idx.range(0, 1), 'error', 'no-targets', 'No module is left to adapt after exclude_modules and layers_to_transform'));
  }
  // rank_pattern / alpha_pattern keys vs the targets
  for (const key of ['rank_pattern', 'alpha_pattern']) {
    const prop = byKey.get(key);
    for (const c of prop?.valueNode?.children ?? []) {
      const k = c.children?.[0];
      if (k === undefined) continue;
      const pattern = `(.*\\.)?(${String(k.value)})$`;
      if (pythonRegexProblem(pattern) !== null) continue;
      if (!m.targets.some((t) => safeMatch(pattern, t.name) !== null)) {
        out.push(problem(nodeRange(idx, k), 'warning', 'pattern-not-matching', `${key} key "${String(k.value)}" matches none of the ${m.targets.length} adapted modules`));
      }
    }
  }
  // modules_to_save
  const mts = byKey.get('modules_to_save');
  if (mts?.valueNode?.type === 'array') {
    const all = [...inv.modules.map((x) => x.name), ...containerNames(inv)];
    for (const n of mts.valueNode.children ?? []) {
      if (typeof n.value !== 'string') continue;
      const name = n.value;
      if (!all.some((x) => entryMatches(x, name))) {
        const best = suggest(name, [...new Set(all.map((x) => x.slice(x.lastIndexOf('.') + 1)))], 1)[0];
        out.push(problem(nodeRange(idx, n), 'error', 'module-not-found', `modules_to_save: no module "${name}" in the base model.${best !== undefined ? ` Did you mean "${best}"?` : ''}`,
          best !== undefined ? { title: `Replace with "${best}"`, edits: [replaceNode(idx, n, best)] } : undefined));
      }
    }
  }
}

/**
 * target_modules given as a string: PEFT takes it as a regex that must fullmatch the whole module name. An invalid one
 * is `bad-regex`; one that matches nothing explains the rule, and a plain module name gets a fix to the list form.
 */
function regexProblem(entry: string, range: Problem['range'], node: Node | undefined, idx: LineIndex, choices: string[], inv: ModelInventory): Problem {
  const bad = pythonRegexProblem(entry, `target_modules "${entry}"`);
  if (bad !== null) return problem(range, 'error', 'bad-regex', bad);
  const example = inv.modules.find((x) => x.kind === 'linear' || x.kind === 'conv1d')?.name ?? choices[0] ?? '';
  const plain = choices.includes(entry);
  const fix = node !== undefined && plain ? { title: `Change to ["${entry}"]`, edits: [replaceNode(idx, node, [entry])] } : undefined;
  return problem(range, 'error', 'target-not-found',
    `Target module regex "${entry}" matches no module of the base model (${inv.spec.modelType}): a string target_modules must match the whole name, e.g. "${example}".` +
      (plain ? ` Write ["${entry}"] to match it by name in every layer.` : '') + ` Linear layers: ${choices.join(', ')}`,
    fix, { entry, matched: [], layers: [], suggestions: choices });
}

/** Parent modules (model.layers.0.self_attn, ...) — modules_to_save may name containers. */
function containerNames(inv: ModelInventory): string[] {
  const s = new Set<string>();
  for (const m of inv.modules) {
    const parts = m.name.split('.');
    for (let i = 1; i < parts.length; i++) s.add(parts.slice(0, i).join('.'));
  }
  return [...s];
}

function layerListName(inv: ModelInventory): string {
  const m = inv.modules.find((x) => x.layer !== null);
  const mm = m ? /^(?:.*\.)?([^.]+)\.\d+\./.exec(m.name) : null;
  return mm?.[1] ?? '?';
}

function checkBaseModelName(byKey: Map<string, JsonProp>, val: (k: string) => unknown, idx: LineIndex, ctx: ValidationContext, out: Problem[]): void {
  const prop = byKey.get('base_model_name_or_path');
  const mine = val('base_model_name_or_path');
  const theirs = ctx.recipe?.baseModel;
  if (prop?.valueNode === undefined || typeof mine !== 'string' || mine === '' || theirs === null || theirs === undefined) return;
  const here = path.dirname(path.resolve(ctx.path));
  const there = path.dirname(ctx.recipe!.path);
  const same = looksLikeHubId(mine) && looksLikeHubId(theirs) && pathKindOf(ctx, path.resolve(here, mine)) !== 'dir'
    ? mine === theirs
    : path.resolve(here, mine) === path.resolve(there, theirs) || mine === theirs;
  if (same) return;
  const rel = ctx.recipe!.baseModelDir !== null && !looksLikeHubId(theirs) ? path.relative(here, ctx.recipe!.baseModelDir) || '.' : theirs;
  out.push(problem(nodeRange(idx, prop.valueNode), 'warning', 'base-model-mismatch', `base_model_name_or_path "${mine}" differs from the recipe's base_model "${theirs}" (${path.basename(ctx.recipe!.path)}): the recipe's model is the one trained on`,
    { title: `Change to "${rel}"`, edits: [replaceNode(idx, prop.valueNode, rel)] }));
}
