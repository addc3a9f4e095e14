// The dataset inspector's editor side without VS Code: its webview HTML (strict CSP, nonce, bundled files only),
// which recipe, split and example `PEFT: Inspect Dataset` picks for a file, and the webview message guard.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { assertStrictPage, ext, join, webview } from './webviewHtml';
import { inspectorHtml } from '../../../src/extension/inspector/html';
import { inspectTarget } from '../../../src/extension/inspector/target';
import { isInspectorToHost } from '../../../src/shared/inspector';


describe('dataset inspector (editor side)', () => {
  it('HTML: strict CSP with the script nonce, only the bundled inspector script and stylesheet', () => {
    const html = inspectorHtml(webview, ext, join);
    const nonce = assertStrictPage(html, 'inspector');
    assert.notEqual(/nonce-([A-Za-z0-9]+)/.exec(inspectorHtml(webview, ext, join))?.[1], nonce);
  });

  it('picks the recipe that names the file, the split, and the example line', () => {
    const dir = path.resolve('/proj');
    const files: Record<string, string> = {
      [path.join(dir, 'peft-train.yaml')]: 'base_model: ./m\ndataset:\n  train: data/train.jsonl\n  eval: data/eval.jsonl\n',
    };
    const read = (p: string): string | null => files[p] ?? null;
    assert.deepEqual(inspectTarget(path.join(dir, 'data', 'train.jsonl'), 7, read), { recipe: path.join(dir, 'peft-train.yaml'), split: 'train', line: 7 });
    assert.deepEqual(inspectTarget(path.join(dir, 'data', 'eval.jsonl'), undefined, read), { recipe: path.join(dir, 'peft-train.yaml'), split: 'eval', index: 0 });
    assert.deepEqual(inspectTarget(path.join(dir, 'peft-train.yaml'), undefined, read), { recipe: path.join(dir, 'peft-train.yaml'), split: 'train', index: 0 });
    assert.match(String(inspectTarget(path.join(dir, 'data', 'other.jsonl'), 1, read)), /No peft-train.yaml .* names other.jsonl as dataset.train or dataset.eval/);
    assert.match(String(inspectTarget(path.join(dir, 'notes.txt'), 1, read)), /JSONL data set or a peft-train.yaml/);
  });

  it('accepts only well-formed webview messages', () => {
    assert.ok(isInspectorToHost({ type: 'ready' }));
    assert.ok(isInspectorToHost({ type: 'goto', index: 3 }));
    assert.ok(!isInspectorToHost({ type: 'goto', index: -1 }));
    assert.ok(!isInspectorToHost({ type: 'goto', index: '3' }));
    assert.ok(isInspectorToHost({ type: 'openLine', file: '/a.jsonl', line: 2 }));
    assert.ok(!isInspectorToHost({ type: 'run', command: 'rm' }));
    assert.ok(!isInspectorToHost(null));
  });
});
