// The dashboard webview's HTML: a strict CSP whose nonce is the script's, resources through asWebviewUri,
// nothing inline that the CSP would have to allow, and a fresh nonce per load.
import * as assert from 'node:assert/strict';
import type * as vscode from 'vscode';
import { dashboardHtml } from '../../../src/extension/dashboard/html';

/** The two members of vscode.Webview the HTML uses, as VS Code's desktop webview fills them. */
const webview = {
  cspSource: 'https://file+.vscode-resource.vscode-cdn.net',
  asWebviewUri: (u: { path: string }) => ({ toString: () => `https://file+.vscode-resource.vscode-cdn.net${u.path}` }),
} as unknown as vscode.Webview;
const ext = { path: '/ext' } as unknown as vscode.Uri;
const join = (b: vscode.Uri, ...p: string[]): vscode.Uri => ({ path: [b.path, ...p].join('/') }) as unknown as vscode.Uri;

describe('dashboard HTML', () => {
  it('has a strict CSP with the script nonce and loads only the bundled files', () => {
    const html = dashboardHtml(webview, ext, join);
    const csp = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(html)?.[1] ?? '';
    assert.match(csp, /^default-src 'none';/);
    const nonce = /script-src 'nonce-([A-Za-z0-9]+)'/.exec(csp)?.[1];
    assert.ok(nonce !== undefined && nonce.length >= 16, csp);
    assert.ok(!csp.includes('unsafe-inline') && !csp.includes('unsafe-eval'), csp);
    assert.ok(csp.includes(`style-src ${webview.cspSource}`));
    const scripts = [...html.matchAll(/<script([^>]*)>/g)].map((m) => m[1] ?? '');
    assert.deepEqual(scripts, [` nonce="${nonce}" src="https://file+.vscode-resource.vscode-cdn.net/ext/dist/webview/dashboard.js"`]);
    assert.ok(html.includes('href="https://file+.vscode-resource.vscode-cdn.net/ext/dist/webview/dashboard.css"'));
    assert.ok(!/ style="/.test(html), 'no inline style attributes');
    assert.ok(html.includes('id="app"'));
  });

  it('tells the webview where it is shown (side view or editor panel), for the layout', () => {
    assert.match(dashboardHtml(webview, ext, join), /<body data-place="view">/);
    assert.match(dashboardHtml(webview, ext, join, 'panel'), /<body data-place="panel">/);
  });

  it('uses a new nonce each time', () => {
    const n = (h: string): string | undefined => /nonce-([A-Za-z0-9]+)/.exec(h)?.[1];
    assert.notEqual(n(dashboardHtml(webview, ext, join)), n(dashboardHtml(webview, ext, join)));
  });
});
