// Child process for bigLines.test.ts: runs one CLI command in-process and prints {code, text, peakMb} as JSON.
import { main } from '../../../src/cli/main';
import { peakRssBytes } from '../../../src/core/util/peakRss';

void (async () => {
  let text = '';
  const code = await main(process.argv.slice(2), { out: (t) => (text += t + '\n'), err: (t) => (text += t + '\n'), isTTY: false });
  process.stdout.write(JSON.stringify({ code, text: text.slice(0, 4000), textLength: text.length, peakMb: Math.round(peakRssBytes() / 2 ** 20) }));
})();
