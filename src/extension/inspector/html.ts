// The dataset inspector webview's HTML: the shared webview page (strict CSP with a per-load nonce) with its bundle.
import type * as vscode from 'vscode';
import { webviewPageHtml } from '../webviewPage';

export function inspectorHtml(webview: vscode.Webview, extensionUri: vscode.Uri, uriJoin: (base: vscode.Uri, ...p: string[]) => vscode.Uri): string {
  return webviewPageHtml(webview, extensionUri, uriJoin, { bundle: 'inspector', title: 'PEFT Dataset Inspector', label: 'PEFT Studio dataset inspector' });
}
