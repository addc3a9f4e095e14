// One fuzzing case: copy the base project, mutate one file (seeded), run the CLI in-process on it and classify the
// outcome (exit code, whether the message names a file of the project, whether it echoed content it could not parse).
// Family "inputs" checks what validate/count/estimate/inspect read; "export" what merge, export gguf, generate and
// the adapter registry read (an adapter, the model's files, the registry's state and manifest).
import { cpSync, mkdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../../src/cli/main';
import { Mutator, TARGETS, type Target } from './mutate';

export type Family = 'inputs' | 'export';

export interface CaseInput {
  family?: Family;
  base: string;
  root: string;
  seed: number;
  index: number;
  big: boolean;
}

export interface CommandResult {
  argv: string[];
  code: number;
  ms: number;
  namesFile: boolean;
  leaked: boolean;
  message: string;
}

export interface CaseResult {
  index: number;
  target: string;
  what: string;
  commands: CommandResult[];
}

const PATHS: Record<Target, string> = {
  safetensors: 'model/model.safetensors',
  'config.json': 'model/config.json',
  'adapter_config.json': 'adapter_config.json',
  'peft-train.yaml': 'peft-train.yaml',
  'train.jsonl': 'data/prompt_completion/train.jsonl',
  'tokenizer.json': 'model/tokenizer.json',
  'tokenizer_config.json': 'model/tokenizer_config.json',
};

function commandsFor(target: Target, dir: string): string[][] {
  const model = join(dir, 'model');
  const adapter = join(dir, 'adapter_config.json');
  const recipe = join(dir, 'peft-train.yaml');
  switch (target) {
    case 'safetensors': return [['inspect', model], ['count', adapter, '--model', model]];
    case 'config.json': return [['inspect', model], ['count', adapter, '--model', model], ['validate', adapter, '--model', model]];
    case 'adapter_config.json': return [['validate', adapter, '--model', model, '--json'], ['count', adapter, '--model', model], ['estimate', recipe]];
    case 'peft-train.yaml': return [['validate', recipe], ['estimate', recipe]];
    case 'train.jsonl': return [['validate', join(dir, PATHS['train.jsonl'])]];
    case 'tokenizer.json': case 'tokenizer_config.json': return [['validate', recipe, '--json']];
  }
}

/** The export family's files: the path in the project, the mutator's kind of file, the commands that read it. */
const EXPORT_TARGETS: { path: string; kind: Target; commands: (dir: string) => string[][] }[] = (() => {
  const model = (d: string): string => join(d, 'model');
  const adapter = (d: string): string => join(d, 'adapter');
  const merge = (d: string): string[] => ['merge', '--model', model(d), '--adapter', adapter(d), join(d, 'merged')];
  const ggufAdapter = (d: string): string[] => ['export', 'gguf-adapter', adapter(d), join(d, 'lora.gguf'), '--model', model(d)];
  const gguf = (d: string): string[] => ['export', 'gguf', model(d), join(d, 'base.gguf')];
  const generate = (d: string, ...extra: string[]): string[] => ['generate', '--model', model(d), '--max-new-tokens', '3', '--device', 'cpu', ...extra];
  const prompt = ['--prompt', 'Hello there'];
  const registry = (d: string): string[][] => [['adapters', 'list', '--workspace', d, '--json'], ['adapters', 'promote', 'demo', 'v1', '--workspace', d], ['adapters', 'rollback', 'demo', '--workspace', d]];
  return [
    { path: 'adapter/adapter_config.json', kind: 'adapter_config.json', commands: (d) => [merge(d), ggufAdapter(d), generate(d, '--adapter', adapter(d), ...prompt), ['adapters', 'register', 'fuzzed', adapter(d), '--workspace', d]] },
    { path: 'adapter/adapter_model.safetensors', kind: 'safetensors', commands: (d) => [merge(d), ggufAdapter(d), generate(d, '--adapter', adapter(d), ...prompt)] },
    { path: 'model/config.json', kind: 'config.json', commands: (d) => [merge(d), gguf(d), generate(d, ...prompt)] },
    { path: 'model/tokenizer.json', kind: 'tokenizer.json', commands: (d) => [gguf(d), generate(d, ...prompt)] },
    { path: 'model/tokenizer_config.json', kind: 'tokenizer_config.json', commands: (d) => [gguf(d), generate(d, '--messages', join(d, 'chat.json'))] },
    { path: '.peft-studio/adapters/demo/state.json', kind: 'config.json', commands: registry },
    { path: '.peft-studio/adapters/demo/v1/manifest.json', kind: 'config.json', commands: registry },
  ];
})();

export async function runCase(c: CaseInput): Promise<CaseResult> {
  const m = new Mutator(c.seed * 1_000_003 + c.index);
  const spec = c.family === 'export'
    ? EXPORT_TARGETS[c.index % EXPORT_TARGETS.length]!
    : ((t: Target) => ({ path: PATHS[t], kind: t, commands: (d: string) => commandsFor(t, d) }))(TARGETS[c.index % TARGETS.length] as Target);
  const dir = join(c.root, `case-${c.index}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  cpSync(c.base, dir, { recursive: true });
  const file = join(dir, spec.path);
  const mutation = m.mutate(spec.kind, readFileSync(file), c.big);
  if (mutation.symlinkTo !== undefined) {
    unlinkSync(file);
    symlinkSync(mutation.symlinkTo, file);
  } else {
    writeFileSync(file, mutation.bytes ?? Buffer.alloc(0));
  }
  const commands: CommandResult[] = [];
  try {
    for (const argv of spec.commands(dir)) {
      let text = '';
      const t0 = Date.now();
      let code: number;
      try {
        code = await main(argv, { out: (t) => (text += t.length > 100_000 ? t.slice(0, 100_000) : t), err: (t) => (text += t.length > 100_000 ? t.slice(0, 100_000) : t), isTTY: false });
      } catch (e) {
        code = 99; // main itself threw: a crash
        text += String(e);
      }
      commands.push({
        argv: argv.map((a) => a.replace(dir, '<case>')), code, ms: Date.now() - t0,
        // a file of the case, or another absolute path the input pointed to (base_model: /dev/zero)
        namesFile: text.includes(dir) || /(^|\s)\/[^\s:]*[^\s:/]:/m.test(text),
        leaked: mutation.symlinkTo !== undefined && /root:.*:0:0:/.test(text),
        message: text.slice(0, 400).replaceAll(dir, '<case>'),
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { index: c.index, target: spec.path, what: mutation.what, commands };
}
