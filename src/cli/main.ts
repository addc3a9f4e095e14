// The `peft-studio` command line: dispatches to the sub-commands of commands/index.ts.
// Exit codes (CONTRACTS.md §3): 0 success, 1 the input is wrong, 2 usage error.
import { parseArgs } from 'node:util';
import { commands } from './commands/index';
import type { CliIO } from './command';
import { InputError, PeftStudioError, UsageError, errorMessage, errorStack } from '../core/errors';
import { didYouMean } from '../core/util/didYouMean';
import { fsErrorToInput } from '../core/util/fsErrors';

const VERSION = '0.1.0';

function topHelp(): string {
  const width = Math.max(...commands.map((c) => c.name.length), 4);
  const lines = commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return [
    'peft-studio: develop LoRA adapters for Hugging Face models, trained locally through onnxruntime-node.',
    '',
    'Usage: peft-studio <command> [options]',
    '',
    'Commands:',
    ...lines,
    '',
    'Run `peft-studio <command> --help` for a command\'s options. `--json` switches to machine output.',
    'Exit codes: 0 success, 1 the input is wrong, 2 usage error.',
  ].join('\n');
}

export async function main(argv: string[], io: CliIO = defaultIO()): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    // No command is a usage error: the usage goes to stderr so that stdout stays clean for scripts.
    io.err(`peft-studio: missing command\n\n${topHelp()}`);
    return 2;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    // `peft-studio help COMMAND` is `peft-studio COMMAND --help`.
    const topic = name === 'help' ? rest[0] : undefined;
    const c = topic === undefined ? undefined : commands.find((x) => x.name === topic);
    if (topic !== undefined && c === undefined) return unknownCommand(topic, io);
    io.out(c !== undefined ? c.help : topHelp());
    return 0;
  }
  if (name === '--version' || name === '-V') {
    io.out(VERSION);
    return 0;
  }
  const command = commands.find((c) => c.name === name);
  if (command === undefined) return unknownCommand(name, io);
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      options: { ...command.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    io.err(`peft-studio ${name}: ${errorMessage(e)}\n\n${command.help}`);
    return 2;
  }
  if (parsed.values['help'] === true) {
    io.out(command.help);
    return 0;
  }
  try {
    return await command.run({ positionals: parsed.positionals, values: parsed.values as Record<string, string | boolean | string[] | undefined> }, io);
  } catch (caught) {
    const e = fsErrorToInput(caught);
    if (e instanceof UsageError) {
      io.err(`peft-studio ${name}: ${e.message}\n\n${command.help}`);
      return 2;
    }
    if (e instanceof InputError || e instanceof PeftStudioError) {
      io.err(`peft-studio ${name}: error: ${e.message}`);
      return 1;
    }
    io.err(`peft-studio ${name}: internal error: ${errorStack(e)}`);
    return 3;
  }
}

function unknownCommand(name: string, io: CliIO): number {
  const names = commands.map((c) => c.name);
  const what = name.startsWith('-') ? `unknown option "${name}"` : `unknown command "${name}".${didYouMean(name, names)}`;
  io.err(`peft-studio: ${what}\n\n${topHelp()}`);
  return 2;
}

let pipeGuard = false;

function defaultIO(): CliIO {
  if (!pipeGuard) {
    pipeGuard = true;
    // `peft-studio inspect MODEL | head`: a closed pipe ends the output quietly instead of an EPIPE stack trace.
    process.stdout.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw e;
    });
  }
  return {
    out: (t) => process.stdout.write(t.endsWith('\n') ? t : t + '\n'),
    err: (t) => process.stderr.write(t.endsWith('\n') ? t : t + '\n'),
    write: (t) => process.stdout.write(t),
    isTTY: process.stdout.isTTY === true,
  };
}
