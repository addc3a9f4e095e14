// Reading adapter_config.json with positions: jsonc-parser's tree, syntax errors with offsets, and helpers
// to find a property's key/value nodes and to build edits that replace a value (quick fixes).
import { getNodeValue, parseTree, printParseErrorCode, type Node, type ParseError } from 'jsonc-parser';
import { LineIndex } from './text';
import type { Range, TextEdit } from './types';
import { MAX_JSON_DEPTH, deepNestingAt } from '../util/safeJson';

export interface JsonProp {
  key: string;
  keyNode: Node;
  valueNode: Node | undefined;
  value: unknown;
}

export interface JsonRead {
  root: Node | undefined;
  errors: { message: string; offset: number; length: number }[];
  props: JsonProp[];
}

export function readJson(text: string): JsonRead {
  const deep = deepNestingAt(text);
  if (deep !== null) {
    return { root: undefined, errors: [{ message: `nests arrays/objects more than ${MAX_JSON_DEPTH} levels deep: the file is damaged`, offset: deep.offset, length: 1 }], props: [] };
  }
  const errs: ParseError[] = [];
  const root = parseTree(text, errs, { allowTrailingComma: false, disallowComments: true, allowEmptyContent: false });
  const errors = errs.map((e) => ({ message: describeError(printParseErrorCode(e.error)), offset: e.offset, length: e.length }));
  const props: JsonProp[] = [];
  if (root?.type === 'object') {
    for (const p of root.children ?? []) {
      const [k, v] = p.children ?? [];
      if (k === undefined) continue;
      props.push({ key: String(k.value), keyNode: k, valueNode: v, value: v !== undefined ? safeValue(v) : undefined });
    }
  }
  return { root, errors, props };
}

function safeValue(n: Node): unknown {
  try {
    return getNodeValue(n);
  } catch {
    return undefined;
  }
}

function describeError(code: string): string {
  const words: Record<string, string> = {
    InvalidSymbol: 'Invalid symbol',
    InvalidNumberFormat: 'Invalid number',
    PropertyNameExpected: 'Property name expected',
    ValueExpected: 'Value expected',
    ColonExpected: 'Colon expected',
    CommaExpected: 'Comma expected',
    CloseBraceExpected: 'Closing brace expected',
    CloseBracketExpected: 'Closing bracket expected',
    EndOfFileExpected: 'End of file expected',
    InvalidCommentToken: 'Comments are not allowed in JSON',
    UnexpectedEndOfComment: 'Unexpected end of comment',
    UnexpectedEndOfString: 'Unterminated string',
    UnexpectedEndOfNumber: 'Unexpected end of number',
    InvalidUnicode: 'Invalid unicode escape',
    InvalidEscapeCharacter: 'Invalid escape character',
    InvalidCharacter: 'Invalid character',
  };
  return `JSON syntax: ${words[code] ?? code}`;
}

export function nodeRange(idx: LineIndex, n: Node): Range {
  return idx.range(n.offset, n.offset + n.length);
}

export function replaceNode(idx: LineIndex, n: Node, value: unknown): TextEdit {
  return { range: nodeRange(idx, n), newText: JSON.stringify(value) };
}
