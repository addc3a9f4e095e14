// Editor assistance computed in core (the extension only adapts it): completions for keys and values
// (target_modules from the model's real module names), and hovers with field docs, defaults and match results.
import { getLocation } from 'jsonc-parser';
import type { ModelInventory } from '../hf/types';
import { LORA_CONFIG_FIELDS, loraField } from '../peft/loraConfig';
import { recipeField, recipeKeys } from '../train/recipeSchema';
import { readJson } from './jsonTree';
import { matchTargets, targetNameChoices } from './targets';
import { LineIndex } from './text';
import type { Range } from './types';
import { readYaml } from './yamlWalk';

export interface Completion {
  label: string;
  /** Text to insert (may be a snippet-free plain text). */
  insertText: string;
  kind: 'property' | 'value' | 'module';
  detail?: string;
  documentation?: string;
  /** The text it replaces (the whole string token when the cursor is inside one); default: the word at the cursor. */
  range?: Range;
}

export interface HoverInfo {
  markdown: string;
  range: Range;
}

const show = (v: unknown): string => JSON.stringify(v);

function layersText(layers: number[], numLayers: number): string {
  if (layers.length === 0) return 'outside the decoder layers';
  if (layers.length === numLayers) return `all ${numLayers} layers`;
  return `${layers.length} of ${numLayers} layers (${layers.join(', ')})`;
}

/**
 * Completions in adapter_config.json at `offset`. `schemaItems: false` leaves out what the JSON schema
 * (schemas/adapter_config.schema.json) already offers in VS Code — keys, enums, booleans — keeping the model's names.
 */
export function adapterCompletions(text: string, offset: number, model: ModelInventory | null, schemaItems = true): Completion[] {
  const items = adapterCompletionItems(text, offset, model).filter((c) => schemaItems || c.kind === 'module');
  const loc = getLocation(text, offset);
  const n = loc.previousNode;
  if (n?.type === 'string' && offset > n.offset && offset < n.offset + n.length) {
    const range = new LineIndex(text).range(n.offset, n.offset + n.length);
    return items.map((c) => ({ ...c, range }));
  }
  return items;
}

function adapterCompletionItems(text: string, offset: number, model: ModelInventory | null): Completion[] {
  const loc = getLocation(text, offset);
  const read = readJson(text);
  const present = new Set(read.props.map((p) => p.key));
  if (loc.path.length === 1 && loc.isAtPropertyKey) {
    return LORA_CONFIG_FIELDS.filter((f) => f.saved && !present.has(f.name)).map((f) => ({
      label: f.name,
      insertText: `"${f.name}": ${show(f.default)}`,
      kind: 'property',
      detail: `${f.types.join(' | ')} = ${show(f.default)}`,
      documentation: f.doc,
    }));
  }
  const key = loc.path[0];
  if (typeof key !== 'string') return [];
  if ((key === 'target_modules' || key === 'exclude_modules' || key === 'modules_to_save') && model !== null) {
    const names = key === 'modules_to_save' ? [...new Set(model.modules.map((m) => m.name.slice(m.name.lastIndexOf('.') + 1)))] : targetNameChoices(model);
    const out: Completion[] = names.map((n) => {
      const count = model.modules.filter((m) => m.name === n || m.name.endsWith('.' + n)).length;
      const sample = model.modules.find((m) => m.name.endsWith('.' + n) || m.name === n);
      return { label: n, insertText: `"${n}"`, kind: 'module', detail: `${count} module(s)${sample ? `, ${sample.inFeatures} → ${sample.outFeatures}` : ''}`, documentation: sample?.name };
    });
    if (key === 'target_modules' && loc.path.length === 1) out.push({ label: 'all-linear', insertText: '"all-linear"', kind: 'value', detail: 'every linear layer except the output head' });
    return out;
  }
  const f = loraField(key);
  if (f?.enum !== undefined && loc.path.length === 1) {
    return f.enum.filter((v) => typeof v !== 'string' || !v.includes('[')).map((v) => ({ label: String(v), insertText: show(v), kind: 'value' }));
  }
  if (f?.types.includes('boolean') && loc.path.length === 1) return [true, false].map((v) => ({ label: String(v), insertText: String(v), kind: 'value' }));
  return [];
}

/**
 * Hover in adapter_config.json: the field's PEFT default (and doc unless `withDoc` is false: VS Code shows the JSON
 * schema's description already); on target_modules, what each entry matched in the model.
 */
export function adapterHover(text: string, offset: number, model: ModelInventory | null, withDoc = true): HoverInfo | null {
  const read = readJson(text);
  const idx = new LineIndex(text);
  for (const p of read.props) {
    const k = p.keyNode;
    const v = p.valueNode;
    const inKey = offset >= k.offset && offset <= k.offset + k.length;
    const inValue = v !== undefined && offset >= v.offset && offset <= v.offset + v.length;
    if (!inKey && !inValue) continue;
    const f = loraField(p.key);
    const lines: string[] = [];
    if (f === undefined) lines.push(`**${p.key}**: not a LoraConfig field (PEFT 0.20 ignores it)`);
    else lines.push(`**${f.name}** \`${f.types.join(' | ')}\` — PEFT default \`${show(f.default)}\``, ...(withDoc ? ['', f.doc] : []));
    if (p.key === 'target_modules' && model !== null) {
      const tm = typeof p.value === 'string' || Array.isArray(p.value) ? (p.value as string | string[]) : null;
      const m = matchTargets(model, { targetModules: tm });
      lines.push('', `**In ${model.spec.modelType} (${model.spec.numLayers} layers):**`);
      for (const e of m.entries) lines.push(`- \`${e.entry}\` → ${e.matched.length === 0 ? 'no module' : `${e.matched.length} module(s), ${layersText(e.layers, model.spec.numLayers)}`}`);
    }
    const node = inKey ? k : v!;
    return { markdown: lines.join('\n'), range: idx.range(node.offset, node.offset + node.length) };
  }
  return null;
}

/** The recipe section the YAML line at `line` belongs to (by indentation), '' at top level. */
function yamlSection(lines: string[], line: number): string {
  const indent = (s: string): number => s.length - s.trimStart().length;
  const cur = lines[line] ?? '';
  const myIndent = indent(cur);
  if (myIndent === 0) return '';
  for (let i = line - 1; i >= 0; i--) {
    const l = lines[i]!;
    if (l.trim() === '' || l.trimStart().startsWith('#')) continue;
    if (indent(l) < myIndent) {
      const m = /^\s*([\w-]+)\s*:/.exec(l);
      if (!m) return '';
      // Nested sections (dataset.lint) are named by their whole dotted path.
      const parent = yamlSection(lines, i);
      return parent === '' ? m[1]! : `${parent}.${m[1]!}`;
    }
  }
  return '';
}

/** Completions in peft-train.yaml at (line, character). */
export function recipeCompletions(text: string, line: number, character: number): Completion[] {
  const lines = text.split('\n');
  const cur = (lines[line] ?? '').slice(0, character);
  const section = yamlSection(lines, line);
  const kv = /^\s*([\w-]+)\s*:\s*(\S*)$/.exec(cur);
  if (kv !== null) {
    const f = recipeField(section === '' ? kv[1]! : `${section}.${kv[1]}`);
    if (f?.type === 'enum') return f.enum!.map((v) => ({ label: v, insertText: v, kind: 'value' }));
    if (f?.type === 'boolean') return ['true', 'false'].map((v) => ({ label: v, insertText: v, kind: 'value' }));
    return [];
  }
  if (!/^\s*[\w-]*$/.test(cur)) return [];
  const have = new Set(readYaml(text).entries.map((e) => e.path));
  return recipeKeys(section)
    .map((k) => recipeField(section === '' ? k : `${section}.${k}`)!)
    .filter((f) => !have.has(f.path))
    .map((f) => {
      const key = f.path.slice(f.path.lastIndexOf('.') + 1);
      const value = f.type === 'section' ? '' : f.default === undefined || f.default === null ? (f.nullable ? ' null' : ' ') : ` ${typeof f.default === 'number' && f.default !== 0 && Math.abs(f.default) < 1e-3 ? f.default.toExponential() : String(f.default)}`;
      return { label: key, insertText: `${key}:${value}`, kind: 'property' as const, detail: f.hf !== undefined ? `TrainingArguments.${f.hf}` : f.type, documentation: f.doc };
    });
}

/** Hover in peft-train.yaml: doc, default, allowed values and the TrainingArguments name. */
export function recipeHover(text: string, offset: number): HoverInfo | null {
  const idx = new LineIndex(text);
  for (const e of readYaml(text).entries) {
    if (offset < e.keyRange[0] || offset > e.keyRange[1]) continue;
    const f = recipeField(e.path);
    if (f === undefined) return { markdown: `**${e.path}**: not a peft-train.yaml key`, range: idx.range(e.keyRange[0], e.keyRange[1]) };
    const parts = [`**${f.path}** \`${f.type === 'enum' ? f.enum!.join(' | ') : f.type}${f.nullable ? ' | null' : ''}\``];
    if (f.default !== undefined) parts[0] += ` — default \`${show(f.default)}\``;
    if (f.required) parts[0] += ' — required';
    parts.push('', f.doc);
    if (f.hf !== undefined) parts.push('', `Same as Hugging Face \`TrainingArguments.${f.hf}\`.`);
    return { markdown: parts.join('\n'), range: idx.range(e.keyRange[0], e.keyRange[1]) };
  }
  return null;
}

