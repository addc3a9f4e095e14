// The table of CLI sub-commands, in the order `peft-studio --help` lists them.
import type { CliCommand } from '../command';

export const commands: CliCommand[] = [];
