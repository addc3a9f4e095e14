// `peft-studio export FORMAT ...`: writes a model or adapter in another tool's format. One entry per format in
// EXPORT_FORMATS (each lives in its own module); `export --help` lists them.
import type { CliCommand, CliIO, ParsedArgs } from '../command';
import { UsageError } from '../../core/errors';
import { didYouMean } from '../../core/util/didYouMean';
import { GGUF_EXPORT_OPTIONS, exportGgufAdapterCli, exportGgufCli, GGUF_HELP } from './exportGguf';

interface ExportFormat {
  name: string;
  run(args: ParsedArgs, io: CliIO): Promise<number>;
}

const EXPORT_FORMATS: ExportFormat[] = [
  { name: 'gguf', run: exportGgufCli },
  { name: 'gguf-adapter', run: exportGgufAdapterCli },
];

export const exportCommand: CliCommand = {
  name: 'export',
  summary: 'Export a model or adapter for other tools (gguf, gguf-adapter: llama.cpp and Ollama)',
  help: ['Usage: peft-studio export FORMAT ... (formats: ' + EXPORT_FORMATS.map((f) => f.name).join(', ') + ')', '', GGUF_HELP].join('\n'),
  options: { ...GGUF_EXPORT_OPTIONS, json: { type: 'boolean' } },
  async run(args, io) {
    const [format, ...rest] = args.positionals;
    if (format === undefined) throw new UsageError('missing FORMAT', `Formats: ${EXPORT_FORMATS.map((f) => f.name).join(', ')}`);
    const f = EXPORT_FORMATS.find((x) => x.name === format);
    if (f === undefined) throw new UsageError(`unknown export format "${format}".${didYouMean(format, EXPORT_FORMATS.map((x) => x.name))}`);
    return f.run({ positionals: rest, values: args.values }, io);
  },
};
