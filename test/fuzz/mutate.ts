// Seeded mutators for the fuzzing suite: byte flips, truncation, huge/negative/fractional numbers, type swaps, deep
// nesting, invalid UTF-8, catastrophic regexes, YAML alias bombs, looping chat templates, huge lines, symlinks.
import { Rng } from '../../src/core/util/random';

/** The files a case mutates (one per case), relative to the project folder. */
export const TARGETS = ['safetensors', 'config.json', 'adapter_config.json', 'peft-train.yaml', 'train.jsonl', 'tokenizer.json', 'tokenizer_config.json'] as const;
export type Target = (typeof TARGETS)[number];

export interface Mutation {
  /** What was done, for the report. */
  what: string;
  /** New content of the file (a Buffer), or a symlink target. */
  bytes?: Buffer;
  symlinkTo?: string;
}

export class Mutator {
  readonly rng: Rng;
  constructor(seed: number) {
    this.rng = new Rng(seed);
  }

  int(n: number): number {
    return this.rng.int(Math.max(1, n));
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)] as T;
  }

  /** Sizes: `big` allows the multi-megabyte cases of the slow suite. */
  mutate(target: Target, original: Buffer, big: boolean): Mutation {
    const generic: (() => Mutation)[] = [
      () => this.flip(original),
      () => this.truncate(original),
      () => this.invalidUtf8(original),
    ];
    const structured: (() => Mutation)[] = target === 'safetensors' ? [() => this.header(original, big)] : this.textMutations(target, original.toString('utf8'), big);
    const all = [...generic, ...structured, ...structured, ...structured];
    return this.pick(all)();
  }

  flip(b: Buffer): Mutation {
    const out = Buffer.from(b);
    const n = 1 + this.int(8);
    // Flips fall in the first 4 KB most of the time (a safetensors header, the top of a JSON file).
    for (let i = 0; i < n; i++) {
      const j = this.int(Math.min(out.length, this.int(2) === 0 ? 4096 : out.length));
      out[j] = (out[j] ?? 0) ^ (1 << this.int(8));
    }
    return { what: `flip ${n} bits`, bytes: out };
  }

  truncate(b: Buffer): Mutation {
    const at = this.int(Math.min(b.length, 8192));
    return { what: `truncate at ${at}`, bytes: b.subarray(0, at) };
  }

  invalidUtf8(b: Buffer): Mutation {
    const at = this.int(Math.min(b.length, 4096));
    const bad = this.pick([Buffer.from([0xff]), Buffer.from([0xc3, 0x28]), Buffer.from([0xe2, 0x82]), Buffer.from([0xed, 0xa0, 0x80])]);
    return { what: `invalid UTF-8 at ${at}`, bytes: Buffer.concat([b.subarray(0, at), bad, b.subarray(at)]) };
  }

  number(): string {
    return this.pick(['1e308', '-1', '0', '1000000000', '-1000000000', '9007199254740993', '1.5', '-0.5', '1e-320', '4294967296', '2147483648', '1e9', '123456789012']);
  }

  nest(depth: number): string {
    return this.pick(['[', '{"a":']) === '[' ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
  }

  depth(big: boolean): number {
    return this.pick(big ? [100, 1000, 10000, 100000] : [100, 1000, 10000, 50000]);
  }

  /** Replace one JSON value (a number, string, or literal) at a random place with `repl`. */
  replaceValue(text: string, repl: string): string {
    const spots = [...text.matchAll(/:\s*(-?\d[\d.eE+-]*|"(?:[^"\\]|\\.)*"|true|false|null)/g)];
    if (spots.length === 0) return text;
    const m = this.pick(spots);
    const start = (m.index ?? 0) + m[0].length - (m[1] as string).length;
    return text.slice(0, start) + repl + text.slice(start + (m[1] as string).length);
  }

  replaceNumber(text: string, repl: string): string {
    const spots = [...text.matchAll(/-?\d+(\.\d+)?([eE][+-]?\d+)?/g)];
    if (spots.length === 0) return text;
    const m = this.pick(spots);
    return text.slice(0, m.index) + repl + text.slice((m.index ?? 0) + m[0].length);
  }

  typeSwap(): string {
    return this.pick(['[]', '{}', 'null', '"x"', '[1,2]', '{"a":1}', 'true', '""', '"../../../../tmp/escape"', '[["q_proj"]]']);
  }

  textMutations(target: Target, text: string, big: boolean): (() => Mutation)[] {
    const s = (what: string, t: string): Mutation => ({ what, bytes: Buffer.from(t, 'utf8') });
    const json = target !== 'peft-train.yaml' && target !== 'train.jsonl';
    const ms: (() => Mutation)[] = [
      () => s('huge/negative number', this.replaceNumber(text, this.number())),
      () => s('deep nesting', json || target === 'train.jsonl' ? this.replaceValue(text, this.nest(this.depth(big))) : text.replace(/: .*/, `: ${'['.repeat(this.depth(big))}`)),
    ];
    if (json) ms.push(() => s('type swap', this.replaceValue(text, this.typeSwap())));
    const evil = this.pick(['(.*.*)*X', '(a|aa)+$', '((((a*)*)*)*)*b', '(?P<x>a)(?P=x)', '(?<=q)_proj', '[', '(.*\\.)?(.*)*$']);
    switch (target) {
      case 'adapter_config.json':
        ms.push(() => {
          const o = safeParse(text);
          const key = this.pick(['target_modules', 'exclude_modules', 'rank_pattern', 'alpha_pattern', 'layers_pattern']);
          o[key] = key.endsWith('_pattern') && key !== 'layers_pattern' ? { [evil]: 8 } : evil;
          if (key === 'layers_pattern') o['layers_to_transform'] = [0];
          return s(`regex ${key}`, JSON.stringify(o));
        });
        break;
      case 'config.json':
        ms.push(() => {
          const o = safeParse(text);
          const key = this.pick(['num_hidden_layers', 'hidden_size', 'vocab_size', 'num_attention_heads', 'num_key_value_heads', 'intermediate_size', 'max_position_embeddings', 'head_dim', 'bos_token_id', 'eos_token_id']);
          o[key] = JSON.parse(this.pick(['1000000000', '-1', '0', '1.5', '1e308', '"64"', '[64]', 'null', '4096', '3'])) as unknown;
          return s(`config ${key}`, JSON.stringify(o));
        });
        break;
      case 'tokenizer.json':
        ms.push(() => {
          const o = safeParse(text);
          const k = this.int(5);
          if (k === 0) o['pre_tokenizer'] = { type: 'Split', pattern: { Regex: evil }, behavior: 'Isolated', invert: false };
          else if (k === 1) o['added_tokens'] = [{ id: JSON.parse(this.pick(['1000000000', '-1', '1.5', '"5"', 'null'])) as unknown, content: '<x>', special: true }];
          else if (k === 2) (o['model'] as Record<string, unknown>)['vocab'] = Object.keys(((o['model'] as Record<string, unknown>)['vocab'] ?? {}) as object);
          else if (k === 3) o['normalizer'] = { type: 'Replace', pattern: { Regex: evil }, content: 'x' };
          else (o['model'] as Record<string, unknown>)['merges'] = this.typeSwap();
          return s(`tokenizer ${k}`, JSON.stringify(o));
        });
        ms.push(() => ({ what: 'symlink to /etc/passwd', symlinkTo: '/etc/passwd' }));
        break;
      case 'tokenizer_config.json':
        ms.push(() => {
          const o = safeParse(text);
          o['chat_template'] = this.pick([
            '{% for i in range(1000000000) %}x{% endfor %}',
            '{% for i in range(100000) %}{% for j in range(100000) %}{{ j }}{% endfor %}{% endfor %}',
            '{% set ns = namespace(s="x") %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}',
            '{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}',
            '{{ raise_exception("nope") }}', '{% for m in messages %}', '{{ messages[0].content * 1000000000 }}',
            '{{ " " | indent(100000000) }}',
          ]);
          return s('chat template', JSON.stringify(o));
        });
        break;
      case 'peft-train.yaml':
        ms.push(() => s('alias bomb', `a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n${text}`));
        ms.push(() => s('long line', text.replace(/run_name: .*|$/, `run_name: ${'r'.repeat(big ? 10_000_000 : 1_000_000)}`)));
        ms.push(() => s('yaml type swap', text.replace(this.pick([/output_dir: .*/, /base_model: .*/, /max_length: .*/, /per_device_train_batch_size: .*/, /learning_rate: .*/]), (m) => `${m.split(':')[0] as string}: ${this.pick(['[a, b]', '{x: 1}', '~', '-1', '1e308', '"../.."', '/dev/zero', '!!binary aGVsbG8='])}`)));
        ms.push(() => s('yaml tag', `${text}\nx: !!js/function "function(){}"\n`));
        break;
      case 'train.jsonl':
        ms.push(() => s('long line', `${text}{"prompt":"${'a'.repeat(big ? 30_000_000 : 2_000_000)}","completion":"b"}\n`));
        ms.push(() => s('jsonl type swap', `${text}${this.pick(['{"prompt":1,"completion":[]}', '[1,2,3]', '"x"', '{"messages":"x"}', '{"input_ids":[1.5,1e308,-7]}', '{"text":null}', '{}'])}\n`));
        break;
      default:
        break;
    }
    return ms;
  }

  /** A safetensors file with its JSON header mutated (numbers, nesting, types, dtype) or its length prefix broken. */
  header(b: Buffer, big: boolean): Mutation {
    const n = Number(b.readBigUInt64LE(0));
    const head = b.subarray(8, 8 + n).toString('utf8');
    const data = b.subarray(8 + n);
    const k = this.int(6);
    let h = head;
    let what: string;
    if (k === 0) { h = this.replaceNumber(head, this.number()); what = 'header number'; }
    else if (k === 1) { h = this.replaceValue(head, this.nest(this.depth(big))); what = 'header nesting'; }
    else if (k === 2) { h = this.replaceValue(head, this.typeSwap()); what = 'header type swap'; }
    else if (k === 3) { h = head.replace(/"F32"|"BF16"|"F16"/, this.pick(['"F64"', '"X9"', '"I8"', '"BOOL"', '""'])); what = 'header dtype'; }
    else if (k === 4) {
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(this.pick([0, 1, n + 1, n * 1000, 2 ** 40, 2 ** 53])));
      return { what: 'header length', bytes: Buffer.concat([len, b.subarray(8)]) };
    } else { h = head.replace(/"shape":\[/, `"shape":[${this.pick(['1000000000,', '-1,', '0,', '1.5,', '1e308,'])}`); what = 'header shape'; }
    const hb = Buffer.from(h, 'utf8');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(hb.length));
    return { what, bytes: Buffer.concat([len, hb, data]) };
  }
}

function safeParse(text: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
