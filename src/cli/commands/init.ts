// `peft-studio init DIR --model PATH_OR_ID [--template chat|instruct|text] [--force] [--json]`: scaffolds an adapter
// project (adapter_config.json, peft-train.yaml, data/) exactly as the editor's "New Adapter Project" command does.
import * as path from 'node:path';
import type { CliCommand } from '../command';
import { UsageError } from '../../core/errors';
import { didYouMean } from '../../core/util/didYouMean';
import { SCAFFOLD_TEMPLATES, type ScaffoldTemplate, scaffoldProject } from '../../core/scaffold/scaffold';

export const initCommand: CliCommand = {
  name: 'init',
  summary: 'Scaffold an adapter project: adapter_config.json, peft-train.yaml and sample data',
  help: [
    'Usage: peft-studio init DIR --model PATH_OR_ID [--template chat|instruct|text] [--force] [--json]',
    '',
    'Writes DIR/adapter_config.json (PEFT LoraConfig: r 16, lora_alpha 32, the model type\'s default targets),',
    'DIR/peft-train.yaml (every recipe key, commented) and DIR/data/{train,eval}.jsonl sample data.',
    '',
    'Options:',
    '  --model PATH_OR_ID   base model: a local Hugging Face folder or a hub id org/name[@revision]',
    '                       (for a hub id only config.json is downloaded now; the weights come with the first train)',
    '  --template NAME      sample data format: chat (messages), instruct (alpaca) or text;',
    '                       default chat when the model has a chat template, else instruct',
    '  --force              overwrite existing project files',
    '  --json               print {"dir","template","files","warnings"} as JSON',
  ].join('\n'),
  options: {
    model: { type: 'string', short: 'm' },
    template: { type: 'string', short: 't' },
    force: { type: 'boolean', short: 'f' },
    json: { type: 'boolean' },
  },
  async run(args, io) {
    const [dir, ...extra] = args.positionals;
    if (dir === undefined) throw new UsageError('missing DIR', 'Example: peft-studio init my-adapter --model ./models/my-model');
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
    const model = args.values['model'];
    if (typeof model !== 'string' || model === '') throw new UsageError('missing --model PATH_OR_ID', 'Give a local model folder or a hub id org/name');
    const t = args.values['template'];
    let template: ScaffoldTemplate | undefined;
    if (typeof t === 'string') {
      if (!(SCAFFOLD_TEMPLATES as readonly string[]).includes(t)) {
        throw new UsageError(`unknown template "${t}".${didYouMean(t, SCAFFOLD_TEMPLATES)}`, `Templates: ${SCAFFOLD_TEMPLATES.join(', ')}`);
      }
      template = t as ScaffoldTemplate;
    }
    const result = await scaffoldProject({ dir, model, overwrite: args.values['force'] === true, ...(template !== undefined ? { template } : {}) });
    const abs = path.resolve(dir);
    if (args.values['json'] === true) {
      io.out(JSON.stringify({ dir: abs, template: result.template, files: result.files, warnings: result.warnings }));
      return 0;
    }
    for (const w of result.warnings) io.err(`warning: ${w}`);
    const rel = (f: string): string => path.relative(process.cwd(), f) || f;
    io.out([
      `Created an adapter project in ${rel(abs) || '.'} (${result.template} template):`,
      ...result.files.map((f) => `  ${rel(f)}`),
      '',
      'Next:',
      `  peft-studio validate ${rel(path.join(abs, 'peft-train.yaml'))} ${rel(path.join(abs, 'adapter_config.json'))}`,
      `  peft-studio train ${rel(path.join(abs, 'peft-train.yaml'))}`,
    ].join('\n'));
    return 0;
  },
};
