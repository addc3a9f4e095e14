// The dashboard webview's HTML: a strict Content Security Policy with a per-load nonce, the bundled
// script and stylesheet through asWebviewUri, and nothing loaded from outside the extension.
import { randomBytes } from 'node:crypto';
import type * as vscode from 'vscode';

export function nonce(): string {
  return randomBytes(18).toString('base64').replace(/[+/=]/g, '');
}

/** Where a dashboard is shown: the narrow side-bar view or a wide editor-area panel (styles differ a little). */
export type DashboardPlace = 'view' | 'panel';

export function dashboardHtml(webview: vscode.Webview, extensionUri: vscode.Uri, uriJoin: (base: vscode.Uri, ...p: string[]) => vscode.Uri, place: DashboardPlace = 'view'): string {
  const n = nonce();
  const script = webview.asWebviewUri(uriJoin(extensionUri, 'dist', 'webview', 'dashboard.js'));
  const style = webview.asWebviewUri(uriJoin(extensionUri, 'dist', 'webview', 'dashboard.css'));
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
<title>PEFT Studio Dashboard</title>
</head>
<body data-place="${place}">
<main id="app" aria-label="PEFT Studio training dashboard"></main>
<script nonce="${n}" src="${script.toString()}"></script>
</body>
</html>`;
}
