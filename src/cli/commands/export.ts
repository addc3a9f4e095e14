// `peft-studio export FORMAT ...`: writes a model, adapter or recipe in another tool's format. One entry per format
// in EXPORT_FORMATS (each lives in its own module); `export --help` lists them.
import type { CliCommand, CliIO, ParsedArgs } from '../command';
import { UsageError } from '../../core/errors';
import { didYouMean } from '../../core/util/didYouMean';
import { CLUSTER_EXPORT_OPTIONS, CLUSTER_HELP, exportServeCli, exportTrlCli } from './exportCluster';
import { GGUF_EXPORT_OPTIONS, exportGgufAdapterCli, exportGgufCli, GGUF_HELP } from './exportGguf';

interface ExportFormat {
  name: string;
  run(args: ParsedArgs, io: CliIO): Promise<number>;
}

/** The gguf exports take one --adapter; `serve` repeats it (the option is declared repeatable for all). */
const oneAdapter = (run: ExportFormat['run']): ExportFormat['run'] => (args, io) => {
  const a = args.values['adapter'];
  if (Array.isArray(a) && a.length > 1) throw new UsageError('give --adapter once here');
  return run({ positionals: args.positionals, values: { ...args.values, adapter: Array.isArray(a) ? a[0] : a } }, io);
};

const EXPORT_FORMATS: ExportFormat[] = [
  { name: 'gguf', run: oneAdapter(exportGgufCli) },
  { name: 'gguf-adapter', run: oneAdapter(exportGgufAdapterCli) },
  { name: 'trl', run: exportTrlCli },
  { name: 'serve', run: exportServeCli },
];

export const exportCommand: CliCommand = {
  name: 'export',
  summary: 'Export for other tools: gguf, gguf-adapter (llama.cpp, Ollama), trl (a cluster), serve (vLLM, LoRAX)',
  help: ['Usage: peft-studio export FORMAT ... (formats: ' + EXPORT_FORMATS.map((f) => f.name).join(', ') + ')', '', GGUF_HELP, '', ...CLUSTER_HELP].join('\n'),
  options: { ...GGUF_EXPORT_OPTIONS, ...CLUSTER_EXPORT_OPTIONS, json: { type: 'boolean' } },
  async run(args, io) {
    const [format, ...rest] = args.positionals;
    if (format === undefined) throw new UsageError('missing FORMAT', `Formats: ${EXPORT_FORMATS.map((f) => f.name).join(', ')}`);
    const f = EXPORT_FORMATS.find((x) => x.name === format);
    if (f === undefined) throw new UsageError(`unknown export format "${format}".${didYouMean(format, EXPORT_FORMATS.map((x) => x.name))}`);
    return f.run({ positionals: rest, values: args.values }, io);
  },
};
