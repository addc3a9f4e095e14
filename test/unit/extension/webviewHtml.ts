// Shared by the webview HTML tests: the two vscode.Webview members the page builder uses (as VS Code's desktop webview
// fills them), and the checks every PEFT Studio page must pass (strict CSP, nonce script, bundled files only).
import * as assert from 'node:assert/strict';
import type * as vscode from 'vscode';

export const webview = {
  cspSource: 'https://file+.vscode-resource.vscode-cdn.net',
  asWebviewUri: (u: { path: string }) => ({ toString: () => `https://file+.vscode-resource.vscode-cdn.net${u.path}` }),
} as unknown as vscode.Webview;
export const ext = { path: '/ext' } as unknown as vscode.Uri;
export const join = (b: vscode.Uri, ...p: string[]): vscode.Uri => ({ path: [b.path, ...p].join('/') }) as unknown as vscode.Uri;

/** Asserts a strict CSP whose script nonce is the one script's, loading only dist/webview/<bundle>.js and .css; returns the nonce. */
export function assertStrictPage(html: string, bundle: string): string {
  const csp = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(html)?.[1] ?? '';
  assert.match(csp, /^default-src 'none';/);
  const nonce = /script-src 'nonce-([A-Za-z0-9]+)'/.exec(csp)?.[1];
  assert.ok(nonce !== undefined && nonce.length >= 16, csp);
  assert.ok(!csp.includes('unsafe-inline') && !csp.includes('unsafe-eval'), csp);
  assert.ok(csp.includes(`style-src ${webview.cspSource}`));
  const scripts = [...html.matchAll(/<script([^>]*)>/g)].map((m) => m[1] ?? '');
  assert.deepEqual(scripts, [` nonce="${nonce}" src="https://file+.vscode-resource.vscode-cdn.net/ext/dist/webview/${bundle}.js"`]);
  assert.ok(html.includes(`href="https://file+.vscode-resource.vscode-cdn.net/ext/dist/webview/${bundle}.css"`));
  assert.ok(!/ style="/.test(html), 'no inline style attributes');
  assert.ok(html.includes('id="app"'));
  return nonce;
}
