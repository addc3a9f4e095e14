// DOM of the dashboard's eval-answers card (#eval-answers): how each eval prompt's answer changes across the
// checkpoints, with the scores per evaluation. Text goes in with textContent only (answers are never parsed as HTML).
import type { RunView } from '../../../src/shared/dashboard';
import { evalAnswersTable, type AnswerCell } from '../model/evalAnswers';
import { formatValue } from '../model/format';
import { el } from './tables';

const SCORE_TEXT: Record<NonNullable<AnswerCell['score']>, string> = { exact: '✓ exact match', contains: '≈ contains the expected answer', miss: '✗ does not contain the expected answer' };

function answerCell(c: AnswerCell | undefined, step: number, best: boolean): HTMLTableCellElement {
  if (c === undefined) return el('td', { class: 'answer missing' }, '–');
  const classes = ['answer', c.changed ? 'changed' : '', c.score !== undefined ? `score-${c.score}` : '', best ? 'best' : ''].filter((x) => x !== '');
  const title = [`step ${step}`, c.changed ? 'changed since the previous evaluation' : '', c.score !== undefined ? SCORE_TEXT[c.score] : '', c.finishReason === 'length' ? 'cut at eval_max_new_tokens' : ''].filter((x) => x !== '');
  const td = el('td', { class: classes.join(' '), title: title.join(' · '), 'data-step': String(step) });
  if (c.score !== undefined) td.append(el('span', { class: 'score-mark', 'aria-label': SCORE_TEXT[c.score] }, c.score === 'exact' ? '✓ ' : c.score === 'contains' ? '≈ ' : '✗ '));
  td.append(el('span', { class: 'answer-text' }, c.output === '' ? '(empty)' : c.output));
  return td;
}

/** The card's content: the table, or a line saying how to get one. */
export function evalAnswersView(run: RunView): HTMLElement {
  const t = evalAnswersTable(run);
  if (t === undefined) {
    return el('p', { id: 'eval-answers', class: 'empty', 'data-count': '0' }, 'No evaluation yet: set dataset.eval (eval loss, perplexity) or dataset.eval_prompts (answers at each evaluation) in the recipe.');
  }
  const head = el('tr', {}, el('th', { scope: 'col' }, t.rows.length > 0 ? 'prompt' : ''),
    ...t.steps.map((s) => el('th', { scope: 'col', class: s === t.bestStep ? 'best' : '', 'data-step': String(s), title: s === t.bestStep ? 'the best checkpoint' : '' }, `step ${s}${s === t.bestStep ? ' ★' : ''}`)));
  const body = el('tbody');
  for (const r of t.scores) {
    body.append(el('tr', { class: 'score-row', 'data-key': r.key }, el('th', { scope: 'row' }, r.label),
      ...r.values.map((v, i) => el('td', { class: t.steps[i] === t.bestStep ? 'num best' : 'num' }, v === undefined ? '–' : formatValue(v)))));
  }
  for (const [i, r] of t.rows.entries()) {
    const th = el('th', { scope: 'row', class: 'prompt' }, el('span', { class: 'prompt-text' }, r.prompt));
    if (r.expected !== undefined) th.append(el('div', { class: 'expected muted' }, `expected: ${r.expected}`));
    body.append(el('tr', { class: 'prompt-row', 'data-prompt-index': String(i) }, th, ...r.cells.map((c, j) => answerCell(c, t.steps[j]!, t.steps[j] === t.bestStep))));
  }
  return el('div', { id: 'eval-answers', 'data-count': String(t.rows.length), 'data-steps': t.steps.join(',') },
    el('table', { class: 'grid compact eval-answers', 'aria-label': 'Eval prompts: answers at each evaluation' }, el('thead', {}, head), body),
    t.rows.length > 0
      ? el('p', { class: 'muted legend' }, 'Highlighted: the answer changed since the previous evaluation. ✓ exact match, ≈ contains, ✗ neither (whitespace-normalised). ★ the best checkpoint.')
      : el('p', { class: 'muted legend' }, 'Set dataset.eval_prompts in the recipe to see the adapter\'s answers at each evaluation here.'));
}
