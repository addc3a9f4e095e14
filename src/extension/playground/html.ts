// The Playground webview's HTML: the shared webview page (strict CSP with a per-load nonce) with the Playground bundle.
import type * as vscode from 'vscode';
import { webviewPageHtml } from '../webviewPage';

export function playgroundHtml(webview: vscode.Webview, extensionUri: vscode.Uri, uriJoin: (base: vscode.Uri, ...p: string[]) => vscode.Uri): string {
  return webviewPageHtml(webview, extensionUri, uriJoin, { bundle: 'playground', title: 'PEFT Playground', label: 'PEFT Studio Playground' });
}
