// The Playground webview's DOM: a column card (title, hash, own settings, streamed answer with the divergence
// highlight, speed line or error) and the sampling settings form; theme colours come from media/playground.css.
import type { PgAdapterInfo, PgSampling } from '../../../src/shared/playground';
import { el } from '../view/tables';
import { type ColumnOutput, parseField, shortName } from './model';

export const FIELDS: { key: keyof PgSampling; label: string; step: string }[] = [
  { key: 'temperature', label: 'Temperature', step: '0.05' },
  { key: 'topK', label: 'Top-k', step: '1' },
  { key: 'topP', label: 'Top-p', step: '0.05' },
  { key: 'repetitionPenalty', label: 'Repetition penalty', step: '0.05' },
  { key: 'maxNewTokens', label: 'Max new tokens', step: '1' },
  { key: 'seed', label: 'Seed', step: '1' },
];

/** A form of the six sampling fields; `onChange` gets the updated settings. */
export function settingsForm(idPrefix: string, s: PgSampling, onChange: (s: PgSampling) => void): HTMLElement {
  const form = el('div', { class: 'settings', role: 'group', 'aria-label': 'Sampling settings' });
  for (const f of FIELDS) {
    const id = `${idPrefix}-${f.key}`;
    const input = el('input', { id, type: 'number', step: f.step, min: '0', value: String(s[f.key]) });
    input.addEventListener('change', () => {
      const v = parseField(f.key, input.value, s[f.key]);
      input.value = String(v);
      onChange({ ...s, [f.key]: v });
    });
    form.append(el('label', { for: id }, f.label), input);
  }
  return form;
}

export interface ColumnCardOptions {
  index: number;
  adapter: string | null;
  info: PgAdapterInfo | undefined;
  output: ColumnOutput;
  divergeAt: number | undefined;
  chat: boolean;
  /** A generation is running (a cursor follows answers still streaming). */
  streaming: boolean;
  ownSettings: HTMLElement | undefined;
  onRemove: (() => void) | undefined;
}

function answer(o: ColumnOutput, divergeAt: number | undefined, streaming: boolean): HTMLElement {
  const pre = el('div', { class: 'answer', 'data-testid': 'answer' });
  o.pieces.forEach((p, i) => {
    const cls = divergeAt === undefined || i < divergeAt ? 'tok' : i === divergeAt ? 'tok diverge' : 'tok after';
    const span = el('span', { class: cls }, p);
    if (i === divergeAt) span.title = `The answers diverge here (token ${i + 1})`;
    pre.append(span);
  });
  if (o.result !== undefined && o.pieces.every((p) => p === '')) {
    pre.append(el('span', { class: 'muted' }, o.result.finishReason === 'eos' ? '(no text: the model ended with its end-of-sequence token)' : '(no text)'));
  }
  if (streaming && o.result === undefined && o.error === undefined) pre.append(el('span', { class: 'cursor', 'aria-hidden': 'true' }, '▍'));
  return pre;
}

function stats(o: ColumnOutput, divergeAt: number | undefined): HTMLElement {
  const r = o.result;
  const parts: string[] = [];
  if (r !== undefined) {
    parts.push(`TTFT ${r.ttftMs.toFixed(0)} ms`, `${r.tokensPerS.toFixed(1)} tok/s`, `${r.tokenIds.length} tokens`, r.finishReason);
  } else if (o.tokens.length > 0) parts.push(`${o.tokens.length} tokens…`);
  if (divergeAt !== undefined && o.tokens.length > divergeAt) parts.push(`diverges at token ${divergeAt + 1}`);
  return el('div', { class: 'col-stats', 'data-testid': 'stats' }, parts.join(' · '));
}

export function columnCard(c: ColumnCardOptions): HTMLElement {
  const title = c.adapter === null ? 'Base model' : shortName(c.adapter);
  const card = el('section', { class: 'column card', id: `column-${c.index}`, 'aria-label': `Column ${c.index + 1}: ${title}` });
  const header = el('div', { class: 'card-header' }, el('h3', { title: c.adapter ?? 'the base model without an adapter' }, title));
  if (c.info?.sha256 !== undefined) header.append(el('code', { class: 'sha', title: `sha256 ${c.info.sha256}` }, c.info.sha256.slice(0, 10)));
  if (c.onRemove !== undefined) {
    const rm = el('button', { class: 'icon', 'aria-label': `Remove column ${c.index + 1}`, title: 'Remove this column' }, '✕');
    const onRemove = c.onRemove;
    rm.addEventListener('click', () => onRemove());
    header.append(rm);
  }
  card.append(header);
  if (c.ownSettings !== undefined) card.append(c.ownSettings);
  if (c.chat) {
    const hist = el('div', { class: 'history' });
    for (const t of c.output.history) hist.append(el('div', { class: `turn ${t.role}` }, el('b', {}, `${t.role}: `), t.content));
    card.append(hist);
  }
  const err = c.output.error ?? c.info?.error;
  if (err !== undefined) card.append(el('div', { class: 'col-error', role: 'alert' }, err));
  else card.append(answer(c.output, c.divergeAt, c.streaming), stats(c.output, c.divergeAt));
  return card;
}
