// The Playground webview's HTML: the dashboard's strict Content Security Policy (per-load nonce, nothing from
// outside the extension), with the Playground bundle and stylesheet.
import type * as vscode from 'vscode';
import { nonce } from '../dashboard/html';

export function playgroundHtml(webview: vscode.Webview, extensionUri: vscode.Uri, uriJoin: (base: vscode.Uri, ...p: string[]) => vscode.Uri): string {
  const n = nonce();
  const script = webview.asWebviewUri(uriJoin(extensionUri, 'dist', 'webview', 'playground.js'));
  const style = webview.asWebviewUri(uriJoin(extensionUri, 'dist', 'webview', 'playground.css'));
  const csp = [
    "default-src 'none'",
    `img-src ${webview.cspSource} data:`,
    `font-src ${webview.cspSource}`,
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
<title>PEFT Playground</title>
</head>
<body>
<main id="app" aria-label="PEFT Studio Playground"></main>
<script nonce="${n}" src="${script.toString()}"></script>
</body>
</html>`;
}
