// The shape of one CLI sub-command; each lives in src/cli/commands/<name>.ts and is listed in commands/index.ts.
import type { ParseArgsConfig } from 'node:util';

export interface CliIO {
  out(text: string): void;
  err(text: string): void;
  /** Raw stdout text, no newline added (streamed output); `out` is used where absent. */
  write?(text: string): void;
  /** True when stdout is a terminal (progress bars, colours). */
  isTTY: boolean;
}

export interface ParsedArgs {
  positionals: string[];
  values: Record<string, string | boolean | string[] | undefined>;
}

export interface CliCommand {
  name: string;
  summary: string;
  /** Usage line(s) and option help, shown by `peft-studio NAME --help`. */
  help: string;
  options: NonNullable<ParseArgsConfig['options']>;
  /** Returns the exit code: 0 ok, 1 bad input, 2 usage error. */
  run(args: ParsedArgs, io: CliIO): Promise<number>;
}
