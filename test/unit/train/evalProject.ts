// A tiny training project for the evaluation tests (unit and slow): the tiny Llama fixture with prompt_completion,
// messages and alpaca data, a trainer that can stop at a step or resume, `peft-studio generate` on a checkpoint.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../../src/cli/main';
import { runTraining } from '../../../src/core/train/trainer';
import { readSafetensorsHeader, readTensorAsFloat32 } from '../../../src/core/safetensors/read';
import { writeSampleData } from '../../../src/core/fixtures/sampleData';
import type { DoneEvent, RunEvent } from '../../../src/shared/protocol';
import { makeProject } from './project';

export class EvalProject {
  readonly root = mkdtempSync(join(tmpdir(), 'peft-evalp-'));
  readonly proj = join(this.root, 'proj');

  async create(): Promise<void> {
    await makeProject(this.proj);
    writeSampleData(join(this.proj, 'data'), { trainCount: 24, evalCount: 4, formats: ['messages', 'alpaca'] });
    process.env['PEFT_STUDIO_GRAPH_CACHE'] = join(this.root, 'cache');
  }

  remove(): void {
    delete process.env['PEFT_STUDIO_GRAPH_CACHE'];
    rmSync(this.root, { recursive: true, force: true });
  }

  /** Trains the recipe `text` (written as NAME.yaml); `stopAt` stops after that step, `resume` continues a run. */
  async train(name: string, text: string, more: { stopAt?: number; resume?: string } = {}): Promise<{ events: RunEvent[]; done: DoneEvent }> {
    const file = join(this.proj, `${name}.yaml`);
    writeFileSync(file, text);
    const events: RunEvent[] = [];
    const ac = new AbortController();
    const done = await runTraining({
      configFile: file, signal: ac.signal, ...(more.resume !== undefined ? { resume: more.resume } : {}),
      onEvent: (e) => {
        events.push(e);
        if (e.event === 'step' && e.step === more.stopAt) ac.abort();
      },
    });
    return { events, done };
  }

  /** `peft-studio generate --json` greedy on an adapter folder: the done record's text. */
  async generate(adapter: string, source: string[], maxNewTokens: number): Promise<string> {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(['generate', '--model', join(this.proj, 'model'), '--adapter', adapter, ...source, '--temperature', '0', '--max-new-tokens', String(maxNewTokens), '--device', 'cpu', '--json'],
      { out: (t) => out.push(t), err: (t) => err.push(t), isTTY: false });
    assert.equal(code, 0, err.join('\n'));
    const done = JSON.parse(out.at(-1)!) as { event: string; text: string };
    assert.equal(done.event, 'done');
    return done.text;
  }
}

/** An adapter folder's tensors, by name. */
export function tensors(dir: string): Map<string, number[]> {
  const h = readSafetensorsHeader(join(dir, 'adapter_model.safetensors'));
  return new Map([...h.tensors].map(([n, e]) => [n, [...readTensorAsFloat32(e)]]));
}
