// The one HTML page every PEFT Studio webview uses (dashboard, Playground, dataset inspector): a strict Content
// Security Policy with a per-load nonce, the bundle and stylesheet through asWebviewUri, nothing from outside.
import { randomBytes } from 'node:crypto';
import type * as vscode from 'vscode';

export function nonce(): string {
  return randomBytes(18).toString('base64').replace(/[+/=]/g, '');
}

export interface WebviewPage {
  /** dist/webview/<bundle>.js and .css */
  bundle: string;
  title: string;
  /** aria-label of the app's <main>. */
  label: string;
  /** Attributes for <body>, e.g. `data-place="view"`. */
  bodyAttributes?: string;
}

export function webviewPageHtml(webview: vscode.Webview, extensionUri: vscode.Uri, uriJoin: (base: vscode.Uri, ...p: string[]) => vscode.Uri, page: WebviewPage): string {
  const n = nonce();
  const script = webview.asWebviewUri(uriJoin(extensionUri, 'dist', 'webview', `${page.bundle}.js`));
  const style = webview.asWebviewUri(uriJoin(extensionUri, 'dist', 'webview', `${page.bundle}.css`));
  const csp = [
    "default-src 'none'",
    `img-src ${webview.cspSource} data:`,
    `font-src ${webview.cspSource}`,
    // the UI toolkit's components attach their styles as constructed stylesheets / <style> with the nonce
    `style-src ${webview.cspSource} 'nonce-${n}'`,
    `script-src 'nonce-${n}'`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<meta property="csp-nonce" content="${n}">
<link rel="stylesheet" href="${style.toString()}">
<title>${page.title}</title>
</head>
<body${page.bodyAttributes !== undefined ? ` ${page.bodyAttributes}` : ''}>
<main id="app" aria-label="${page.label}"></main>
<script nonce="${n}" src="${script.toString()}"></script>
</body>
</html>`;
}
