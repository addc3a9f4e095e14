// Editor wording of CLI errors and of runs refused at start-up (src/shared/messages.ts).
import * as assert from 'node:assert/strict';
import { cliMessage, compactCount, describeModel, refusedAtStart } from '../../../src/shared/messages';
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

  it('describes a picked model in one line: architecture, parameters, layers', () => {
    assert.deepEqual([1234, 139_584, 4_600_000, 1_100_048_384, 999].map(compactCount), ['1.23K', '140K', '4.6M', '1.1B', '999']);
    const spec = { modelType: 'llama', architectures: ['LlamaForCausalLM'], numLayers: 22, hiddenSize: 2048, vocabSize: 32000 };
    assert.equal(describeModel({ spec, totalParameters: 1_100_048_384 }), 'LlamaForCausalLM (llama) · 1.1B parameters · 22 layers · hidden 2048 · vocab 32000');
    assert.equal(describeModel({ spec: { ...spec, architectures: [], numLayers: 1 }, totalParameters: 5 }), 'llama (llama) · 5 parameters · 1 layer · hidden 2048 · vocab 32000');
  });
});
