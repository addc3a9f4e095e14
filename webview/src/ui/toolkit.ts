// The one module that knows which web-component library draws the dashboard's controls (docs/FORMATS.md):
// @vscode/webview-ui-toolkit today; moving to @vscode-elements/elements changes only this file.
import { provideVSCodeDesignSystem, vsCodeButton, vsCodeDivider } from '@vscode/webview-ui-toolkit';

let registered = false;

/** Registers the custom elements once; call before creating controls. */
export function registerToolkit(): void {
  if (registered) return;
  provideVSCodeDesignSystem().register(vsCodeButton(), vsCodeDivider());
  registered = true;
}

export interface ButtonOptions {
  id?: string;
  label: string;
  ariaLabel?: string;
  appearance?: 'primary' | 'secondary' | 'icon';
  title?: string;
  onClick: () => void;
}

export function button(o: ButtonOptions): HTMLElement {
  const b = document.createElement('vscode-button');
  if (o.id !== undefined) b.id = o.id;
  b.setAttribute('appearance', o.appearance ?? 'secondary');
  b.setAttribute('aria-label', o.ariaLabel ?? o.label);
  if (o.title !== undefined) b.title = o.title;
  b.textContent = o.label;
  b.addEventListener('click', () => o.onClick());
  return b;
}

export function setDisabled(el: HTMLElement, disabled: boolean): void {
  if (disabled) el.setAttribute('disabled', '');
  else el.removeAttribute('disabled');
}

export function divider(): HTMLElement {
  return document.createElement('vscode-divider');
}
