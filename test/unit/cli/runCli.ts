// Runs the `peft-studio` CLI in-process, as the tests call it: exit code and what it printed (each line ends with \n).
import { main } from '../../../src/cli/main';

export interface CliResult {
  code: number;
  out: string;
  err: string;
  /** stdout and stderr interleaved in the order they were written. */
  text: string;
}

export async function runCli(argv: string[]): Promise<CliResult> {
  let out = '';
  let err = '';
  let text = '';
  const code = await main(argv, {
    out: (t) => { out += `${t}\n`; text += `${t}\n`; },
    err: (t) => { err += `${t}\n`; text += `${t}\n`; },
    isTTY: false,
  });
  return { code, out, err, text };
}
