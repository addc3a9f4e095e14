// Validation of adapter_config.json (PEFT 0.20 LoraConfig): syntax, unknown keys (did-you-mean + fix), types,
// ranges and enums, LoraConfig.__post_init__'s cross-field rules; model checks live in adapterModel.ts.
import type { Node } from 'jsonc-parser';
import { INIT_LORA_WEIGHTS_VALUES, LORA_FIELD_NAMES, TASK_TYPES, isValidInitLoraWeights, jsonTypeOf, loraField, type JsonType } from '../peft/loraConfig';
import { suggest } from '../util/didYouMean';
import { checkAgainstModel } from './adapterModel';
import { pythonRegexProblem } from '../util/safeRegex';
import { checkServing } from './serving';
import { nodeRange, readJson, replaceNode, type JsonProp } from './jsonTree';
import { LineIndex, problem, typeName } from './text';
import type { Problem, ValidationContext } from './types';


const accepts = (types: readonly JsonType[], t: JsonType): boolean => types.includes(t) || (t === 'integer' && types.includes('number'));
const typeWords = (types: readonly JsonType[]): string =>
  types.map((t) => (t === 'null' ? 'null' : t === 'object' ? 'an object' : t === 'array' ? 'a list' : t === 'integer' ? 'an integer' : `a ${t}`)).join(' or ');

export function validateAdapterConfig(text: string, ctx: ValidationContext): Problem[] {
  const idx = new LineIndex(text);
  const out: Problem[] = [];
  const read = readJson(text);
  for (const e of read.errors) out.push(problem(idx.range(e.offset, e.offset + Math.max(1, e.length)), 'error', 'json-syntax', e.message));
  if (read.root === undefined) return out;
  if (read.root.type !== 'object') {
    out.push(problem(nodeRange(idx, read.root), 'error', 'not-an-object', 'adapter_config.json must be a JSON object of LoraConfig fields'));
    return out;
  }
  const byKey = new Map<string, JsonProp>();
  for (const p of read.props) {
    if (byKey.has(p.key)) out.push(problem(nodeRange(idx, p.keyNode), 'warning', 'duplicate-key', `Duplicate key "${p.key}": the last one wins`));
    byKey.set(p.key, p);
  }
  const badValue = new Set<string>();
  for (const p of read.props) if (!checkProp(p, idx, out)) badValue.add(p.key);
  if (!byKey.has('peft_type')) {
    out.push(problem(idx.range(read.root.offset, read.root.offset + 1), 'info', 'missing-peft-type', 'No "peft_type": PEFT needs "peft_type": "LORA" to load this config', {
      title: 'Add "peft_type": "LORA"',
      edits: [{ range: idx.range(read.root.offset + 1, read.root.offset + 1), newText: `\n  "peft_type": "LORA",` }],
    }));
  }
  const val = (k: string): unknown => (badValue.has(k) ? undefined : byKey.get(k)?.value);
  crossField(byKey, val, idx, out);
  if (ctx.servingEngines !== undefined && ctx.servingEngines.length > 0) checkServing(byKey, val, idx, out, ctx.servingEngines);
  // Model checks run unless the JSON is broken or a key they read is unusable (then they would check the defaults):
  // a wrong `r` or `bias` must not hide a target_modules entry that matches nothing.
  const modelKeys = ['target_modules', 'exclude_modules', 'layers_to_transform', 'layers_pattern'];
  if (!out.some((p) => p.code === 'json-syntax') && !modelKeys.some((k) => badValue.has(k))) {
    checkAgainstModel(byKey, val, idx, ctx, out);
  }
  return out;
}

/** Per-key checks; returns false when the value is unusable (later checks then use the default). */
function checkProp(p: JsonProp, idx: LineIndex, out: Problem[]): boolean {
  const keyRange = nodeRange(idx, p.keyNode);
  const spec = loraField(p.key);
  if (spec === undefined) {
    const best = suggest(p.key, LORA_FIELD_NAMES, 1)[0];
    out.push(problem(keyRange, 'warning', 'unknown-key', `Unknown LoraConfig key "${p.key}": PEFT ignores it.${best !== undefined ? ` Did you mean "${best}"?` : ''}`,
      best !== undefined ? { title: `Change to "${best}"`, edits: [{ range: keyRange, newText: JSON.stringify(best) }] } : undefined,
      best !== undefined ? { suggestion: best } : undefined));
    return true;
  }
  if (p.valueNode === undefined) return false;
  const vr = nodeRange(idx, p.valueNode);
  const t = jsonTypeOf(p.value);
  if (!accepts(spec.types, t)) {
    let fix;
    if (typeof p.value === 'string' && spec.types.includes('integer') && /^-?\d+$/.test(p.value.trim())) fix = { title: `Change to ${Number(p.value)}`, edits: [replaceNode(idx, p.valueNode, Number(p.value))] };
    else if (typeof p.value === 'string' && spec.types.includes('number') && p.value.trim() !== '' && Number.isFinite(Number(p.value))) fix = { title: `Change to ${Number(p.value)}`, edits: [replaceNode(idx, p.valueNode, Number(p.value))] };
    else if (typeof p.value === 'string' && spec.types.includes('boolean') && /^(true|false)$/i.test(p.value)) fix = { title: `Change to ${p.value.toLowerCase()}`, edits: [replaceNode(idx, p.valueNode, p.value.toLowerCase() === 'true')] };
    else if (typeof p.value === 'string' && spec.types.includes('array') && !spec.types.includes('string')) fix = { title: `Change to ["${p.value}"]`, edits: [replaceNode(idx, p.valueNode, [p.value])] };
    out.push(problem(vr, 'error', 'bad-type', `"${p.key}" must be ${typeWords(spec.types)}, got ${typeName(p.value)}`, fix));
    return false;
  }
  if (spec.items !== undefined && (t === 'array' || t === 'object') && p.valueNode.children) {
    let ok = true;
    for (const child of p.valueNode.children) {
      const itemNode = t === 'object' ? child.children?.[1] : child;
      if (itemNode === undefined) continue;
      const it = jsonTypeOf(itemNode.value ?? (itemNode.type === 'array' ? [] : itemNode.type === 'object' ? {} : null));
      if (!accepts(spec.items, it)) {
        out.push(problem(nodeRange(idx, itemNode), 'error', 'bad-type', `Every entry of "${p.key}" must be ${typeWords(spec.items)}`));
        ok = false;
      }
    }
    if (!ok) return false;
  }
  return checkValue(p.key, p.value, p.valueNode, idx, out);
}

function enumFix(idx: LineIndex, node: Node, value: string, options: readonly string[]): { title: string; edits: ReturnType<typeof replaceNode>[] } | undefined {
  const best = suggest(value, options, 1)[0] ?? options.find((o) => o.toLowerCase() === value.toLowerCase());
  return best !== undefined ? { title: `Change to "${best}"`, edits: [replaceNode(idx, node, best)] } : undefined;
}

function checkValue(key: string, v: unknown, node: Node, idx: LineIndex, out: Problem[]): boolean {
  const r = nodeRange(idx, node);
  const err = (code: string, msg: string, fix?: ReturnType<typeof enumFix>): false => {
    out.push(problem(r, 'error', code, msg, fix));
    return false;
  };
  switch (key) {
    case 'r':
      return (v as number) >= 1 ? true : err('out-of-range', `"r" must be a positive integer (the LoRA rank), got ${String(v)}`);
    case 'lora_dropout':
      return (v as number) >= 0 && (v as number) < 1 ? true : err('out-of-range', `"lora_dropout" must be in [0, 1), got ${String(v)}`);
    case 'lora_alpha':
      if ((v as number) <= 0) out.push(problem(r, 'warning', 'out-of-range', `"lora_alpha" ${String(v)} makes the LoRA update ${(v as number) === 0 ? 'zero' : 'negative'}; it is usually 1-2 × r`));
      return true;
    case 'bias': {
      const opts = ['none', 'all', 'lora_only'];
      return opts.includes(v as string) ? true : err('bad-enum', `"bias" must be one of "none", "all", "lora_only", got ${typeName(v)}`, enumFix(idx, node, String(v), opts));
    }
    case 'task_type': {
      if (v === null) return true;
      const opts = TASK_TYPES as readonly string[];
      if (!opts.includes(v as string)) return err('bad-enum', `Invalid task type ${JSON.stringify(v)}: must be one of ${opts.join(', ')}`, enumFix(idx, node, String(v), opts));
      if (v !== 'CAUSAL_LM') out.push(problem(r, 'warning', 'task-type', `PEFT Studio trains causal language models; task_type "${String(v)}" is not supported for training`, { title: 'Change to "CAUSAL_LM"', edits: [replaceNode(idx, node, 'CAUSAL_LM')] }));
      return true;
    }
    case 'peft_type':
      return v === null || v === 'LORA' ? true : err('bad-enum', `peft_type ${JSON.stringify(v)} is not supported: this is a LoraConfig (peft_type "LORA")`, { title: 'Change to "LORA"', edits: [replaceNode(idx, node, 'LORA')] });
    case 'init_lora_weights': {
      if (isValidInitLoraWeights(v)) return true;
      const opts = INIT_LORA_WEIGHTS_VALUES.filter((x): x is string => typeof x === 'string' && !x.includes('['));
      return err('bad-enum', `Unknown init_lora_weights value ${JSON.stringify(v)}: use true, false, ${opts.map((o) => `"${o}"`).join(', ')} or "pissa_niter_<N>"`, enumFix(idx, node, String(v), opts));
    }
    case 'layers_to_transform': {
      const list = Array.isArray(v) ? (v as number[]) : typeof v === 'number' ? [v] : [];
      if (list.some((x) => x < 0)) return err('out-of-range', '"layers_to_transform" indices must be >= 0');
      return true;
    }
    case 'rank_pattern':
    case 'alpha_pattern': {
      let ok = true;
      for (const c of node.children ?? []) {
        const [k, val] = c.children ?? [];
        if (k === undefined || val === undefined) continue;
        if (key === 'rank_pattern' && typeof val.value === 'number' && !(val.value >= 1)) {
          out.push(problem(nodeRange(idx, val), 'error', 'out-of-range', `rank_pattern "${String(k.value)}": the rank must be a positive integer, got ${String(val.value)}`));
          ok = false;
        }
        const bad = pythonRegexProblem(`(.*\\.)?(${String(k.value)})$`, `${key} key "${String(k.value)}"`);
        if (bad !== null) {
          out.push(problem(nodeRange(idx, k), 'error', 'bad-regex', bad));
          ok = false;
        }
      }
      return ok;
    }
    case 'qalora_group_size':
      return (v as number) >= 1 ? true : err('out-of-range', `"qalora_group_size" must be >= 1, got ${String(v)}`);
    default:
      return true;
  }
}

function crossField(byKey: Map<string, JsonProp>, val: (k: string) => unknown, idx: LineIndex, out: Problem[]): void {
  const at = (k: string) => {
    const p = byKey.get(k);
    return p === undefined ? idx.range(0, 0) : nodeRange(idx, p.keyNode);
  };
  const truthy = (v: unknown): boolean => v !== null && v !== undefined && v !== 0 && v !== '' && v !== false && !(Array.isArray(v) && v.length === 0);
  const tm = val('target_modules');
  if (typeof tm === 'string' && truthy(val('layers_to_transform'))) {
    out.push(problem(at('layers_to_transform'), 'error', 'layers-with-regex', '`layers_to_transform` cannot be used when `target_modules` is a str (a regex): write target_modules as a list'));
  }
  if (typeof tm === 'string' && truthy(val('layers_pattern'))) {
    out.push(problem(at('layers_pattern'), 'error', 'layers-with-regex', '`layers_pattern` cannot be used when `target_modules` is a str (a regex): write target_modules as a list'));
  }
  if (truthy(val('layers_pattern')) && !truthy(val('layers_to_transform'))) {
    out.push(problem(at('layers_pattern'), 'error', 'pattern-without-layers', 'When `layers_pattern` is specified, `layers_to_transform` must also be specified'));
  }
  const init = val('init_lora_weights');
  const loftq = val('loftq_config');
  if (init === 'loftq' && !(typeof loftq === 'object' && loftq !== null && Object.keys(loftq).length > 0)) {
    out.push(problem(at('init_lora_weights'), 'error', 'loftq-without-config', "`loftq_config` must be specified when `init_lora_weights` is 'loftq'"));
  } else if (init !== 'loftq' && typeof loftq === 'object' && loftq !== null && Object.keys(loftq).length > 0) {
    out.push(problem(at('loftq_config'), 'warning', 'ignored-config', "`loftq_config` is ignored when `init_lora_weights` is not 'loftq'"));
  }
  if (val('lora_bias') === true) {
    if (val('use_dora') === true) out.push(problem(at('lora_bias'), 'error', 'lora-bias-dora', 'lora_bias is not supported with DoRA: set use_dora to false or lora_bias to false'));
    if (init !== undefined && typeof init !== 'boolean') out.push(problem(at('lora_bias'), 'error', 'lora-bias-init', `lora_bias is only supported with init_lora_weights true or false, got ${typeName(init)}`));
  }
  const mc = val('megatron_config');
  if (val('use_dora') === true && typeof mc === 'object' && mc !== null && Object.keys(mc).length > 0) {
    out.push(problem(at('use_dora'), 'error', 'dora-megatron', 'DoRA does not support megatron_core: set use_dora to false'));
  }
  for (const [cfgKey, initName] of [['eva_config', 'eva'], ['corda_config', 'corda']] as const) {
    if (val(cfgKey) !== null && val(cfgKey) !== undefined && init !== initName) out.push(problem(at(cfgKey), 'warning', 'ignored-config', `\`${cfgKey}\` is ignored when \`init_lora_weights\` is not '${initName}'`));
  }
}
