// `peft-studio` from source, for tests that need the CLI in a child process they can kill (node --require tsx/cjs).
import { main } from '../../src/cli/main';

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
