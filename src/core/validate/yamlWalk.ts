// Reading a peft-train.yaml with positions: the yaml package's AST, flattened into key/value entries
// that carry dotted paths and source ranges, so every recipe diagnostic points at the exact token.
import { isMap, isScalar, parseDocument, type Document, type Node, type Pair } from 'yaml';
import { recipeTextProblem } from '../train/recipe';

export interface YamlEntry {
  /** Dotted path, e.g. training.learning_rate. */
  path: string;
  key: string;
  /** Offsets of the key token and of the value node (value range = key end when the value is empty). */
  keyRange: [number, number];
  valueRange: [number, number];
  /** Plain JS value (undefined for an empty value). */
  value: unknown;
  /** The value is a mapping (its children are entries too). */
  isMapping: boolean;
}

export interface YamlRead {
  doc: Document;
  /** Entries of every mapping reached from the root, parents before children. */
  entries: YamlEntry[];
  /** Syntax errors with offsets. */
  errors: { message: string; range: [number, number] }[];
  /** The root is a mapping (or the document is empty). */
  rootIsMap: boolean;
  rootRange: [number, number];
}

function nodeRange(n: Node | null | undefined, fallback: number): [number, number] {
  const r = n?.range;
  return r ? [r[0], r[1]] : [fallback, fallback];
}

export function readYaml(text: string): YamlRead {
  const bad = recipeTextProblem(text);
  if (bad !== null) return { doc: parseDocument(''), errors: [{ message: bad.message, range: [bad.offset, bad.offset] }], entries: [], rootIsMap: true, rootRange: [0, 0] };
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  const errors = doc.errors.map((e) => ({ message: e.message.split('\n')[0] ?? e.message, range: [e.pos[0], e.pos[1]] as [number, number] }));
  const entries: YamlEntry[] = [];
  const root = doc.contents;
  const rootIsMap = root === null || isMap(root) || (isScalar(root) && (root.value === null || root.value === undefined));
  const walk = (map: Node, prefix: string): void => {
    if (!isMap(map)) return;
    for (const item of map.items as Pair<unknown, unknown>[]) {
      const k = item.key as Node | null;
      const key = isScalar(k) ? String(k.value) : String(k ?? '');
      const keyRange = nodeRange(k, 0);
      const vNode = item.value as Node | null;
      const valueRange = vNode?.range ? nodeRange(vNode, keyRange[1]) : [keyRange[1], keyRange[1]] as [number, number];
      const path = prefix === '' ? key : `${prefix}.${key}`;
      let value: unknown;
      try {
        value = vNode === null || vNode === undefined ? undefined : (vNode as Node).toJS(doc);
      } catch {
        value = undefined;
      }
      entries.push({ path, key, keyRange, valueRange, value, isMapping: isMap(vNode) });
      if (isMap(vNode)) walk(vNode, path);
    }
  };
  if (root !== null && isMap(root)) walk(root, '');
  return { doc, entries, errors, rootIsMap, rootRange: nodeRange(root, 0) };
}
