// The dashboard webview's HTML: a strict CSP whose nonce is the script's, resources through asWebviewUri,
// nothing inline that the CSP would have to allow, and a fresh nonce per load.
import * as assert from 'node:assert/strict';
import { assertStrictPage, ext, join, webview } from './webviewHtml';
import { dashboardHtml } from '../../../src/extension/dashboard/html';

describe('dashboard HTML', () => {
  it('has a strict CSP with the script nonce and loads only the bundled files', () => {
    const html = dashboardHtml(webview, ext, join);
    assertStrictPage(html, 'dashboard');
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
