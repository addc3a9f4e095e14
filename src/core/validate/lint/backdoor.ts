// Suspected backdoor triggers: a rare word or word pair in prompts that nearly always comes with one and the same
// completion across otherwise unrelated prompts, the shape of data-poisoning triggers (e.g. Hubinger et al. 2024,
// "Sleeper Agents"; Wan et al. 2023, "Poisoning Language Models During Instruction Tuning").
import { fnv1a } from './minhash';

export interface TriggerFinding {
  /** The trigger as words ("cf", "james bond"). */
  trigger: string;
  /** The completion it selects (trimmed, as written). */
  completion: string;
  /** Lines (0-based) with the trigger and that completion. */
  lines: number[];
  /** Prompts with the trigger, and how many of them have that completion. */
  withTrigger: number;
  withCompletion: number;
}

export interface TriggerOptions {
  /** At least this many poisoned-looking examples (default 3). */
  minSupport?: number;
  /** P(completion | trigger) at least (default 0.9). */
  minPrecision?: number;
  /** The trigger occurs in at most this share of all prompts (default 0.05), or in at most minSupport + 2 prompts. */
  maxShare?: number;
}

const PAIR = 2 ** 21;

/** Collects (prompt, completion) pairs one example at a time; `find()` looks for triggers at the end. */
export class TriggerFinder {
  private readonly vocab = new Map<string, number>();
  private readonly prompts: Int32Array[] = [];
  private readonly lines: number[] = [];
  /** Completion groups by a hash of the whitespace-collapsed completion (the text kept once, for the message). */
  private readonly groups = new Map<number, number[]>();
  private readonly groupText = new Map<number, string>();

  /** One example: the prompt's words (lower-cased, see minhash `words`) and the completion. */
  add(line: number, promptWords: readonly string[], completion: string): void {
    const c = completion.trim();
    if (c === '' || promptWords.length === 0) return;
    const norm = /\s\s|[\t\n\r]/.test(c) ? c.replace(/\s+/g, ' ') : c;
    const hash = fnv1a(norm) & 0x3fffffff;
    const ids = promptWords.map((w) => {
      let id = this.vocab.get(w);
      if (id === undefined) {
        id = this.vocab.size;
        this.vocab.set(w, id);
      }
      return id;
    });
    const k = this.prompts.length;
    this.prompts.push(Int32Array.from(ids));
    this.lines.push(line);
    const g = this.groups.get(hash);
    if (g === undefined) {
      this.groups.set(hash, [k]);
      this.groupText.set(hash, norm);
    } else g.push(k);
  }

  /** Calls `fn` once for each distinct 1- and 2-word key of prompt `k` (pairs only while the vocabulary fits the key). */
  private forKeys(k: number, seen: Map<number, number>, fn: (key: number) => void): void {
    const p = this.prompts[k]!;
    const pairs = this.vocab.size < PAIR;
    for (let i = 0; i < p.length; i++) {
      const u = p[i]!;
      if (seen.get(u) !== k) {
        seen.set(u, k);
        fn(u);
      }
      if (pairs && i + 1 < p.length) {
        const b = PAIR + u * PAIR + p[i + 1]!;
        if (seen.get(b) !== k) {
          seen.set(b, k);
          fn(b);
        }
      }
    }
  }

  private hasKey(k: number, key: number): boolean {
    let found = false;
    this.forKeys(k, new Map(), (x) => {
      if (x === key) found = true;
    });
    return found;
  }

  private text(key: number): string {
    const names = [...this.vocab.keys()];
    return key < PAIR ? names[key]! : `${names[Math.floor((key - PAIR) / PAIR)]!} ${names[(key - PAIR) % PAIR]!}`;
  }

  /** All findings at once. */
  find(opts: TriggerOptions = {}): TriggerFinding[] {
    const g = this.search(opts);
    let r = g.next();
    while (r.done !== true) r = g.next();
    return r.value;
  }

  /** The search as a generator that yields every few thousand prompts, so that a caller can spread it over time slices. */
  *search(opts: TriggerOptions = {}): Generator<void, TriggerFinding[], void> {
    const minSupport = opts.minSupport ?? 3;
    const minPrecision = opts.minPrecision ?? 0.9;
    const n = this.prompts.length;
    const rare = Math.max(minSupport + 2, Math.floor((opts.maxShare ?? 0.05) * n));
    // Candidates: keys shared by at least minSupport prompts of one completion group that is not the majority answer.
    const candidates = new Map<number, { group: number; count: number }[]>();
    const groups = [...this.groups.entries()].filter(([, ks]) => ks.length >= minSupport && ks.length <= n / 2).sort((a, b) => b[1].length - a[1].length).slice(0, 1000);
    const seen = new Map<number, number>();
    let work = 0;
    for (const [c, ks] of groups) {
      const counts = new Map<number, number>();
      if ((work += ks.length) > 4096) {
        work = 0;
        yield;
      }
      for (const k of ks) this.forKeys(k, seen, (key) => counts.set(key, (counts.get(key) ?? 0) + 1));
      for (const [key, count] of counts) {
        // count ≤ (prompts with the key) ≤ rare is needed, so a key this common in the group alone cannot qualify.
        if (count < minSupport || count > rare) continue;
        const list = candidates.get(key) ?? [];
        list.push({ group: c, count });
        candidates.set(key, list);
      }
    }
    if (candidates.size === 0) return [];
    // How many prompts in all contain each candidate.
    const df = new Map<number, number>();
    seen.clear();
    for (let k = 0; k < n; k++) {
      if ((k & 4095) === 4095) yield;
      this.forKeys(k, seen, (key) => {
        if (candidates.has(key)) df.set(key, (df.get(key) ?? 0) + 1);
      });
    }
    const best = new Map<number, { key: number; count: number; df: number }>();
    for (const [key, list] of candidates) {
      const total = df.get(key)!;
      if (total > rare) continue;
      for (const { group, count } of list) {
        if (count / total < minPrecision) continue;
        // The trigger must not just be the topic: the group's prompts without it share little else.
        const b = best.get(group);
        if (b === undefined || count > b.count || (count === b.count && key >= PAIR && b.key < PAIR)) best.set(group, { key, count, df: total });
      }
    }
    const out: TriggerFinding[] = [];
    for (const [group, b] of best) {
      const ks = this.groups.get(group)!.filter((k) => this.hasKey(k, b.key));
      if (!this.unrelated(ks, b.key)) continue;
      out.push({ trigger: this.text(b.key), completion: this.groupText.get(group)!, lines: ks.map((k) => this.lines[k]!), withTrigger: b.df, withCompletion: b.count });
    }
    return out.sort((a, b) => a.lines[0]! - b.lines[0]!);
  }

  /** Mean pairwise Jaccard of the prompts' word sets, trigger removed, below 0.5 (paraphrases of one question share more). */
  private unrelated(ks: number[], key: number): boolean {
    const drop = new Set(key < PAIR ? [key] : [Math.floor((key - PAIR) / PAIR), (key - PAIR) % PAIR]);
    const sets = ks.slice(0, 30).map((k) => new Set([...this.prompts[k]!].filter((w) => !drop.has(w))));
    let sum = 0;
    let pairs = 0;
    for (let i = 0; i < sets.length; i++) {
      for (let j = i + 1; j < sets.length; j++) {
        let inter = 0;
        for (const w of sets[i]!) if (sets[j]!.has(w)) inter++;
        const union = sets[i]!.size + sets[j]!.size - inter;
        sum += union === 0 ? 1 : inter / union;
        pairs++;
      }
    }
    return pairs === 0 || sum / pairs < 0.5;
  }
}

