// The one module that knows which web-component library draws the dashboard's controls (docs/FORMATS.md):
// @vscode/webview-ui-toolkit today; moving to @vscode-elements/elements changes only this file.
import { provideVSCodeDesignSystem, vsCodeButton, vsCodeCheckbox, vsCodeDivider, vsCodeDropdown, vsCodeOption } from '@vscode/webview-ui-toolkit';

let registered = false;

/** Registers the custom elements once; call before creating controls. */
export function registerToolkit(): void {
  if (registered) return;
  provideVSCodeDesignSystem().register(vsCodeButton(), vsCodeCheckbox(), vsCodeDropdown(), vsCodeOption(), vsCodeDivider());
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

export interface CheckboxOptions {
  id?: string;
  label: string;
  ariaLabel?: string;
  checked: boolean;
  onChange: (checked: boolean) => void;
}

export function checkbox(o: CheckboxOptions): HTMLElement {
  const c = document.createElement('vscode-checkbox') as HTMLElement & { checked: boolean };
  if (o.id !== undefined) c.id = o.id;
  c.setAttribute('aria-label', o.ariaLabel ?? o.label);
  c.textContent = o.label;
  c.checked = o.checked;
  if (o.checked) c.setAttribute('checked', '');
  c.addEventListener('change', () => o.onChange(c.checked));
  return c;
}

export interface DropdownOptions {
  id?: string;
  ariaLabel: string;
  options: { value: string; label: string }[];
  value: string;
  onChange: (value: string) => void;
}

export function dropdown(o: DropdownOptions): HTMLElement {
  const d = document.createElement('vscode-dropdown') as HTMLElement & { value: string };
  if (o.id !== undefined) d.id = o.id;
  d.setAttribute('aria-label', o.ariaLabel);
  for (const opt of o.options) {
    const e = document.createElement('vscode-option');
    e.setAttribute('value', opt.value);
    e.textContent = opt.label;
    if (opt.value === o.value) e.setAttribute('selected', '');
    d.appendChild(e);
  }
  d.addEventListener('change', () => o.onChange(d.value));
  return d;
}

export function divider(): HTMLElement {
  return document.createElement('vscode-divider');
}
