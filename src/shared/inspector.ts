// The dataset inspector's data (CONTRACTS.md §7) and the messages between the extension host and its webview.
// Pure types (no Node, no DOM): built by src/core/train/data/inspect.ts, sent by src/extension/inspector, drawn by webview/.

export interface InspectToken {
  /** Position in the example (0-based, before truncation). */
  pos: number;
  id: number;
  /** The token decoded on its own (special tokens kept). */
  text: string;
  /** The vocabulary entry ("Ġthe"), when the tokenizer can say. */
  piece?: string;
  /** -100 = masked (no loss); otherwise the id the logits at pos - 1 are trained to predict. */
  label: number;
  special: boolean;
  /** False for tokens that truncation cut off (shown, never fed). */
  fed: boolean;
}

export interface PackedSegment {
  /** Index of the packed row (a training sequence) and the span of this example in it. */
  row: number;
  start: number;
  end: number;
}

export interface ExampleView {
  /** 0-based example index (file order, blank lines skipped) and its 1-based JSONL line. */
  index: number;
  line: number;
  /** kept: trained; dropped: truncation cut every label token; unlabeled: no label token as written (the trainer refuses it). */
  status: 'kept' | 'dropped' | 'unlabeled';
  /** Tokens after the chat template / prompt format, before truncation. */
  length: number;
  /** Tokens fed to the model (length, or max_length when truncated). */
  fedLength: number;
  /** Token position where truncation cut the example, or null. */
  truncatedAt: number | null;
  /** Label tokens that produce a loss (as fed). */
  labelTokens: number;
  /** The fed tokens decoded (special tokens kept). */
  text: string;
  tokens: InspectToken[];
  /** With packing: the rows and spans the example occupies. */
  packed?: PackedSegment[];
  /** Training set: the first optimizer step (1-based) and micro-batch (0-based) that use it in epoch 0. */
  firstStep?: { step: number; microBatch: number };
}

export interface HistogramBucket {
  /** Token lengths in (from, to]; the last bucket of an over-long set is (max_length, longest]. */
  from: number;
  to: number;
  count: number;
}

export interface DatasetStats {
  file: string;
  format: string;
  examples: number;
  sequences: number;
  maxLength: number;
  packing: boolean;
  lengths: { min: number; max: number; mean: number; median: number; p95: number };
  histogram: HistogramBucket[];
  truncated: { count: number; tokensCut: number; reason: string };
  dropped: { count: number; lines: number[]; reason: string };
  unlabeled: { count: number; lines: number[]; reason: string };
  /** Non-pad tokens fed per epoch and the share of them that carry a loss. */
  tokens: { input: number; label: number; labelShare: number };
  /** Real tokens ÷ tensor slots: packed rows of max_length, or micro-batches padded to their longest row (epoch 0). */
  efficiency: { value: number; slots: number; how: string };
  /** Training set only: the epoch/step arithmetic of the run. */
  steps?: { globalBatch: number; stepsPerEpoch: number; totalSteps: number; epochs: number; sequencesPerEpoch: number };
}

/** What `peft-studio inspect-data --json` prints (src/core/train/inspectData.ts builds it). */
export interface DataInspectionView {
  recipe: string;
  split: 'train' | 'eval';
  stats: DatasetStats;
  example: ExampleView;
  notes: { level: 'info' | 'warning'; message: string }[];
  /** The file's diagnostics: counts by code, the first few, and those on the inspected example's line. */
  lint: { counts: Record<string, number>; first: LintRow[]; atExample: LintRow[] };
}

export interface LintRow {
  line: number;
  severity: string;
  code: string;
  message: string;
}

export type HostToInspector =
  | { type: 'loading'; what: string }
  | { type: 'inspection'; inspection: DataInspectionView }
  | { type: 'error'; message: string };

export type InspectorToHost =
  | { type: 'ready' }
  /** Show another example of the same data set (0-based index). */
  | { type: 'goto'; index: number }
  | { type: 'openLine'; file: string; line: number };

export function isInspectorToHost(x: unknown): x is InspectorToHost {
  if (typeof x !== 'object' || x === null) return false;
  const m = x as Record<string, unknown>;
  if (m['type'] === 'ready') return true;
  if (m['type'] === 'goto') return typeof m['index'] === 'number' && Number.isInteger(m['index']) && m['index'] >= 0;
  if (m['type'] === 'openLine') return typeof m['file'] === 'string' && typeof m['line'] === 'number';
  return false;
}
