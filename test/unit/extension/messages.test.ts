// Editor wording of CLI errors and of runs refused at start-up (src/shared/messages.ts).
import * as assert from 'node:assert/strict';
import { cliMessage, refusedAtStart } from '../../../src/shared/messages';
import type { RunView } from '../../../src/shared/dashboard';

describe('editor messages', () => {
  it('drops the CLI\'s "peft-studio init: error:" prefix, keeps the message', () => {
    assert.equal(cliMessage('peft-studio init: error: Model "x" is neither a local folder nor a hub id.'), 'Model "x" is neither a local folder nor a hub id.');
    assert.equal(cliMessage('peft-studio: unknown command "trian"'), 'unknown command "trian"');
    assert.equal(cliMessage('log line\npeft-studio count: error: no such file'), 'log line\nno such file');
    assert.equal(cliMessage('a message that mentions peft-studio init: error: inside'), 'a message that mentions peft-studio init: error: inside');
  });

  it('a run with no start event, no step and no checkpoint was refused at start-up', () => {
    const base: RunView = { dir: '/r', name: 'r', status: 'failed', steps: [], evals: [], checkpoints: [], logs: [], skippedLines: 0 };
    assert.equal(refusedAtStart(base), true);
    const step = { event: 'step', step: 1, loss: 2, lr: 1e-4, grad_norm: 1, tokens_per_s: 10, elapsed_s: 1 } as unknown as RunView['steps'][number];
    assert.equal(refusedAtStart({ ...base, steps: [step] }), false);
    assert.equal(refusedAtStart({ ...base, start: {} as RunView['start'] }), false);
  });
});
