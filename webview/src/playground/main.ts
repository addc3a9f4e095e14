// The Playground webview's entry point (browser bundle dist/webview/playground.js): columns for the base model and
// adapters streaming at once, shared or per-column sampling, divergence highlight, comparisons; state in setState.
import { DEFAULT_SAMPLING, type HostToPlayground, type PgComparison, type PgSampling, type PgSetup, type PlaygroundToHost } from '../../../src/shared/playground';
import { button, checkbox, dropdown, registerToolkit, setDisabled } from '../ui/toolkit';
import { el } from '../view/tables';
import { type ColumnOutput, columnSeed, emptyOutput, firstDivergence, shortName } from './model';
import { columnCard, settingsForm } from './view';

interface VsCodeApi {
  postMessage(msg: PlaygroundToHost): void;
  getState(): unknown;
  setState(s: PersistedState): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

interface PersistedState {
  mode: 'prompt' | 'chat';
  prompt: string;
  shared: PgSampling;
  sameSeed: boolean;
  perColumn: boolean;
  own: PgSampling[];
  outputs: ColumnOutput[];
  setup?: PgSetup;
}

const vscode = acquireVsCodeApi();
const saved = vscode.getState() as Partial<PersistedState> | undefined;
const state: PersistedState = {
  mode: saved?.mode === 'chat' ? 'chat' : 'prompt',
  prompt: typeof saved?.prompt === 'string' ? saved.prompt : '',
  shared: { ...DEFAULT_SAMPLING, ...saved?.shared },
  sameSeed: saved?.sameSeed !== false,
  perColumn: saved?.perColumn === true,
  own: Array.isArray(saved?.own) ? saved.own : [],
  outputs: Array.isArray(saved?.outputs) ? saved.outputs : [],
  ...(saved?.setup !== undefined ? { setup: saved.setup } : {}),
};
let setup: PgSetup = state.setup ?? { columns: [], adapters: [], status: 'empty' };
let running: number | undefined;
let nextId = Date.now();
let scheduled = false;

function post(m: PlaygroundToHost): void {
  vscode.postMessage(m);
}
function save(): void {
  vscode.setState({ ...state, setup });
}

registerToolkit();
const root = document.getElementById('app') ?? document.body;
const modelLabel = el('span', { id: 'model-label', class: 'model' });
const statusLine = el('div', { id: 'status', class: 'muted', role: 'status', 'aria-live': 'polite' });
const addButton = button({ id: 'add-column', label: 'Add adapter…', ariaLabel: 'Add an adapter column', onClick: () => post({ type: 'addColumn' }) });
const toolbar = el('div', { class: 'toolbar' },
  el('h2', {}, 'Playground'),
  button({ id: 'choose-model', label: 'Base model…', ariaLabel: 'Choose the base model', onClick: () => post({ type: 'chooseModel' }) }),
  addButton,
  button({ id: 'open-comparison', label: 'Open comparison…', onClick: () => post({ type: 'openComparison' }) }),
  button({ id: 'save-comparison', label: 'Save comparison', onClick: () => saveComparison() }));

const promptBox = el('textarea', { id: 'prompt', rows: '4', 'aria-label': 'Prompt (Ctrl+Enter generates, Escape stops)', placeholder: 'Prompt — Ctrl+Enter to generate, Escape to stop' });
promptBox.value = state.prompt;
promptBox.addEventListener('input', () => { state.prompt = promptBox.value; save(); });
promptBox.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); generate(); }
});
document.addEventListener('keydown', (e) => { if (e.key === 'Escape' && running !== undefined) cancel(); });
const generateButton = button({ id: 'generate', label: 'Generate', appearance: 'primary', ariaLabel: 'Generate in every column', onClick: () => generate() });
const stopButton = button({ id: 'stop', label: 'Stop', ariaLabel: 'Stop generating', onClick: () => cancel() });
const clearButton = button({ id: 'clear-chat', label: 'Clear chat', onClick: () => { state.outputs = state.outputs.map(() => emptyOutput()); save(); schedule(); } });
const modeDropdown = dropdown({ id: 'mode', ariaLabel: 'Prompt or chat', value: state.mode, options: [{ value: 'prompt', label: 'Prompt' }, { value: 'chat', label: 'Chat' }], onChange: (v) => { state.mode = v === 'chat' ? 'chat' : 'prompt'; save(); schedule(); } });
const sharedHost = el('div', { id: 'shared-settings' });
const options = el('div', { class: 'toolbar' },
  checkbox({ id: 'same-seed', label: 'Same seed', ariaLabel: 'Same seed in every column', checked: state.sameSeed, onChange: (v) => { state.sameSeed = v; save(); } }),
  checkbox({ id: 'per-column', label: 'Settings per column', checked: state.perColumn, onChange: (v) => { state.perColumn = v; save(); schedule(); } }));
const columnsHost = el('div', { id: 'columns', class: 'columns' });
root.append(toolbar, el('div', { class: 'toolbar' }, modelLabel), statusLine, promptBox,
  el('div', { class: 'toolbar' }, modeDropdown, generateButton, stopButton, clearButton), sharedHost, options, columnsHost);

function columnSampling(i: number): PgSampling {
  const s = state.perColumn ? (state.own[i] ?? state.shared) : state.shared;
  return { ...s, seed: columnSeed(s, i, state.sameSeed) };
}

function generate(): void {
  if (running !== undefined || setup.status !== 'ready' || setup.columns.length === 0) return;
  const prompt = promptBox.value;
  if (prompt.trim() === '') { statusLine.textContent = 'Type a prompt first.'; return; }
  const id = nextId++;
  running = id;
  const chat = state.mode === 'chat';
  const columns = setup.columns.map((adapter, i) => {
    const prev = state.outputs[i] ?? emptyOutput();
    const history = chat ? [...prev.history, ...(prev.result !== undefined ? [{ role: 'assistant' as const, content: prev.result.text }] : []), { role: 'user' as const, content: prompt }] : [];
    state.outputs[i] = { ...emptyOutput(), history };
    return { adapter, sampling: columnSampling(i), ...(chat ? { messages: history } : { prompt }) };
  });
  state.outputs.length = setup.columns.length;
  if (chat) { promptBox.value = ''; state.prompt = ''; }
  post({ type: 'generate', id, columns });
  save();
  schedule();
}

function cancel(): void {
  if (running !== undefined) post({ type: 'cancel', id: running });
}

function saveComparison(): void {
  const c: PgComparison = {
    kind: 'peft-studio.playground-comparison', version: 1, saved_at: new Date().toISOString(), model: setup.model ?? '', mode: state.mode,
    ...(state.mode === 'prompt' ? { prompt: promptBox.value } : {}),
    same_seed: state.sameSeed,
    columns: setup.columns.map((adapter, i) => {
      const o = state.outputs[i] ?? emptyOutput();
      const sha = setup.adapters.find((a) => a.dir === adapter)?.sha256;
      return {
        adapter, ...(sha !== undefined ? { adapter_sha256: sha } : {}), sampling: columnSampling(i), output: o.result?.text ?? o.pieces.join(''), token_ids: o.tokens, pieces: o.pieces,
        ...(o.result !== undefined ? { result: o.result } : {}), ...(o.error !== undefined ? { error: o.error } : {}), ...(o.history.length > 0 ? { history: o.history } : {}),
      };
    }),
  };
  post({ type: 'save', comparison: c });
}

function loadComparison(c: PgComparison, file: string): void {
  state.mode = c.mode;
  state.sameSeed = c.same_seed;
  if (c.prompt !== undefined) { promptBox.value = c.prompt; state.prompt = c.prompt; }
  state.perColumn = c.columns.some((col) => JSON.stringify({ ...col.sampling, seed: 0 }) !== JSON.stringify({ ...c.columns[0]!.sampling, seed: 0 }));
  state.shared = { ...c.columns[0]?.sampling ?? state.shared };
  state.own = c.columns.map((col) => ({ ...col.sampling }));
  state.outputs = c.columns.map((col) => ({
    tokens: col.token_ids, pieces: col.pieces ?? [col.output], history: col.history ?? [],
    ...(col.result !== undefined ? { result: col.result } : {}), ...(col.error !== undefined ? { error: col.error } : {}),
  }));
  statusLine.textContent = `Opened ${file}`;
  save();
  schedule();
}

function schedule(): void {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => { scheduled = false; render(); });
}

function render(): void {
  modelLabel.textContent = setup.model !== undefined ? `Base model: ${setup.model}` : 'No base model: choose one, or use "Try in Playground" on a run or checkpoint.';
  if (running === undefined) {
    if (setup.status === 'loading') statusLine.textContent = 'Loading the model and adapters…';
    else if (setup.status === 'error') statusLine.textContent = setup.message ?? 'The model could not be opened.';
  }
  statusLine.classList.toggle('error', setup.status === 'error');
  setDisabled(generateButton, running !== undefined || setup.status !== 'ready' || setup.columns.length === 0);
  setDisabled(stopButton, running === undefined);
  setDisabled(addButton, setup.model === undefined || setup.columns.length >= 4);
  clearButton.hidden = state.mode !== 'chat';
  sharedHost.replaceChildren(state.perColumn ? el('span') : settingsForm('shared', state.shared, (s) => { state.shared = s; save(); }));
  const divergeAt = firstDivergence(state.outputs.slice(0, setup.columns.length));
  const canRemove = setup.columns.length > 1 && running === undefined;
  columnsHost.style.setProperty('--columns', String(Math.max(1, setup.columns.length)));
  columnsHost.replaceChildren(...setup.columns.map((adapter, i) => columnCard({
    index: i, adapter, info: setup.adapters.find((a) => a.dir === adapter), output: state.outputs[i] ?? emptyOutput(), divergeAt, chat: state.mode === 'chat', streaming: running !== undefined,
    ownSettings: state.perColumn ? settingsForm(`column-${i}`, state.own[i] ?? state.shared, (s) => { state.own[i] = s; save(); }) : undefined,
    onRemove: canRemove ? () => post({ type: 'removeColumn', column: i }) : undefined,
  })));
}

function onMessage(m: HostToPlayground): void {
  switch (m.type) {
    case 'setup': {
      const before = setup.columns;
      setup = m.setup;
      // keep outputs of columns that stayed, in their new places
      if (JSON.stringify(before) !== JSON.stringify(setup.columns)) {
        state.outputs = setup.columns.map((a) => { const j = before.indexOf(a); return j >= 0 ? (state.outputs[j] ?? emptyOutput()) : emptyOutput(); });
        state.own = setup.columns.map((a) => { const j = before.indexOf(a); return j >= 0 ? (state.own[j] ?? { ...state.shared }) : { ...state.shared }; });
      }
      if (setup.status === 'ready' && running === undefined) statusLine.textContent = setup.columns.map((c) => shortName(c)).join(' · ');
      break;
    }
    case 'token': {
      if (m.id !== running) return;
      const o = (state.outputs[m.column] ??= emptyOutput());
      o.tokens.push(m.token);
      o.pieces.push(m.text);
      break;
    }
    case 'columnDone':
      if (m.id !== running) return;
      (state.outputs[m.column] ??= emptyOutput()).result = m.result;
      break;
    case 'columnError':
      if (m.id !== running) return;
      (state.outputs[m.column] ??= emptyOutput()).error = m.message;
      break;
    case 'done':
      if (m.id !== running) return;
      running = undefined;
      statusLine.textContent = 'Done.';
      break;
    case 'comparison':
      loadComparison(m.comparison, m.file);
      return;
    case 'saved':
      statusLine.textContent = `Saved ${m.file}`;
      return;
  }
  save();
  schedule();
}

window.addEventListener('message', (ev: MessageEvent<HostToPlayground>) => onMessage(ev.data));
render();
post({ type: 'ready', ...(state.setup?.model !== undefined ? { setup: { model: state.setup.model, columns: state.setup.columns } } : {}) });
