// `peft-studio demo` end to end through the CLI entry: makes the small Llama fixture and the sample chat data,
// trains, and prints the adapter folder and the PEFT loading snippet; a second run reuses the model.
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main';
import type { CliIO } from '../../src/cli/command';
import { isRunEvent, type RunEvent } from '../../src/shared/protocol';

describe('peft-studio demo (slow)', function () {
  this.timeout(600000);
  let dir: string;
  before(() => {
    dir = join(mkdtempSync(join(tmpdir(), 'peft-demo-')), 'demo');
  });
  after(() => rmSync(join(dir, '..'), { recursive: true, force: true }));

  it('trains the small fixture: the loss falls and the adapter is where it says', async () => {
    const out: string[] = [];
    const io: CliIO = { out: (t) => out.push(t), err: (t) => out.push(t), isTTY: false };
    assert.equal(await main(['demo', '--dir', dir, '--steps', '30'], io), 0, out.join('\n'));
    const text = out.join('\n');
    const m = /Loss ([\d.]+) → ([\d.]+)/.exec(text);
    assert.ok(m !== null, text);
    assert.ok(Number(m[2]) < Number(m[1]) - 0.5, text);
    const adapter = /Adapter \(PEFT format\): (.+)/.exec(text)![1]!;
    assert.ok(existsSync(join(adapter, 'adapter_model.safetensors')));
    assert.ok(existsSync(join(adapter, 'adapter_config.json')));
    assert.match(text, /model = PeftModel\.from_pretrained\(base, ".*adapter"\)/);
  });

  it('reuses the model on a second run and prints JSON lines with --json', async () => {
    const before = statSync(join(dir, 'model', 'model.safetensors')).mtimeMs;
    const out: string[] = [];
    const io: CliIO = { out: (t) => out.push(t), err: () => undefined, isTTY: false };
    assert.equal(await main(['demo', '--dir', dir, '--steps', '2', '--json'], io), 0);
    const records = out.map((l) => JSON.parse(l) as unknown);
    assert.ok(records.every(isRunEvent));
    assert.equal((records[records.length - 1] as RunEvent).event, 'done');
    assert.equal(statSync(join(dir, 'model', 'model.safetensors')).mtimeMs, before);
  });
});
