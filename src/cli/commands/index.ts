// The table of CLI sub-commands, in the order `peft-studio --help` lists them.
import type { CliCommand } from '../command';
import { fixtureCommand } from './fixture';
import { initCommand } from './init';
import { countCommand } from './count';
import { inspectCommand } from './inspect';
import { inspectDataCommand } from './inspectData';
import { validateCommand } from './validate';
import { estimateCommand } from './estimate';
import { trainCommand } from './train';
import { demoCommand } from './demo';
import { sweepCommand } from './sweep';
import { mergeCommand } from './merge';
import { exportCommand } from './export';
import { generateCommand } from './generate';
import { serveCommand } from './serve';
import { adaptersCommand } from './adapters';

export const commands: CliCommand[] = [demoCommand, initCommand, validateCommand, countCommand, estimateCommand, trainCommand, sweepCommand, generateCommand, inspectCommand, inspectDataCommand, fixtureCommand, mergeCommand, exportCommand, serveCommand, adaptersCommand];
