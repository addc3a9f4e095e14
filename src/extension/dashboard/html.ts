// The dashboard webview's HTML: the shared webview page (strict CSP with a per-load nonce) with the dashboard bundle.
import type * as vscode from 'vscode';
import { webviewPageHtml } from '../webviewPage';

/** Where a dashboard is shown: the narrow side-bar view or a wide editor-area panel (styles differ a little). */
export type DashboardPlace = 'view' | 'panel';

export function dashboardHtml(webview: vscode.Webview, extensionUri: vscode.Uri, uriJoin: (base: vscode.Uri, ...p: string[]) => vscode.Uri, place: DashboardPlace = 'view'): string {
  return webviewPageHtml(webview, extensionUri, uriJoin, { bundle: 'dashboard', title: 'PEFT Studio Dashboard', label: 'PEFT Studio training dashboard', bodyAttributes: `data-place="${place}"` });
}
