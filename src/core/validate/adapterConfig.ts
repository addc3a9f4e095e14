// Validation of adapter_config.json (PEFT 0.20 LoraConfig): syntax, unknown keys (did-you-mean + fix), types, and
// the shared value rules of peft/loraRules.ts (ranges, enums, cross-field) as Problems; model checks: adapterModel.ts.
import type { Node } from 'jsonc-parser';
import { LORA_FIELD_NAMES, jsonTypeOf, loraField, type JsonType } from '../peft/loraConfig';
import { crossFieldIssues, valueIssues } from '../peft/loraRules';
import { suggest } from '../util/didYouMean';
import { checkAgainstModel } from './adapterModel';
import { checkServing } from './serving';
import { pyRegex } from './targets';
import { nodeRange, readJson, replaceNode, type JsonProp } from './jsonTree';
import { LineIndex, problem, typeName } from './text';
import type { Problem, ValidationContext } from './types';
import { errorMessage } from '../errors';


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
  const best = suggest(value, options, 1)[0] ?? options.find((o) => o.toLowerCase() === value.toLowerCase()) ?? (options.length === 1 ? options[0] : undefined);
  return best !== undefined ? { title: `Change to "${best}"`, edits: [replaceNode(idx, node, best)] } : undefined;
}

/** A rank that is not positive: its magnitude when it is a negative integer (a stray minus), else PEFT's default r = 8. */
function rankFix(idx: LineIndex, node: Node, v: number): { title: string; edits: ReturnType<typeof replaceNode>[] } {
  const to = Number.isInteger(v) && v < 0 ? -v : 8;
  return { title: `Change to ${to}${to === 8 ? " (PEFT's default rank)" : ''}`, edits: [replaceNode(idx, node, to)] };
}

/** The shared range and enum rules (peft/loraRules.ts) on one value, at the value or the offending entry. */
function checkValue(key: string, v: unknown, node: Node, idx: LineIndex, out: Problem[]): boolean {
  let ok = true;
  for (const issue of valueIssues(key, v)) {
    const at = entryNode(node, issue.entry) ?? node;
    const rank = (key === 'r' || key === 'rank_pattern') && issue.severity === 'error' && at.type === 'number' ? rankFix(idx, at, at.value as number) : undefined;
    const fix = issue.options !== undefined ? enumFix(idx, node, String(v), issue.options) : rank;
    out.push(problem(nodeRange(idx, at), issue.severity, issue.code, issue.message, fix));
    if (issue.severity === 'error') ok = false;
  }
  if (key === 'rank_pattern' || key === 'alpha_pattern') {
    for (const c of node.children ?? []) {
      const k = c.children?.[0];
      if (k === undefined) continue;
      try {
        new RegExp(pyRegex(String(k.value)));
      } catch (e) {
        out.push(problem(nodeRange(idx, k), 'error', 'bad-regex', `${key} key "${String(k.value)}" is not a valid regular expression: ${errorMessage(e)}`));
        ok = false;
      }
    }
  }
  return ok;
}

/** The node of a list item (index) or an object's value (key). */
function entryNode(node: Node, entry: string | number | undefined): Node | undefined {
  if (entry === undefined) return undefined;
  if (typeof entry === 'number') return node.type === 'array' ? node.children?.[entry] : undefined;
  return node.children?.find((c) => c.children?.[0]?.value === entry)?.children?.[1];
}

/** LoraConfig.__post_init__'s cross-field rules (peft/loraRules.ts); unusable keys read as PEFT's defaults. */
function crossField(byKey: Map<string, JsonProp>, val: (k: string) => unknown, idx: LineIndex, out: Problem[]): void {
  for (const issue of crossFieldIssues(val)) {
    const p = byKey.get(issue.key);
    out.push(problem(p === undefined ? idx.range(0, 0) : nodeRange(idx, p.keyNode), issue.severity, issue.code, issue.message));
  }
}
