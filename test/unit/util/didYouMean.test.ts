import { strict as assert } from 'node:assert';
import { editDistance, suggest, didYouMean } from '../../../src/core/util/didYouMean';

describe('didYouMean', () => {
  it('measures edit distance with adjacent swaps as one edit', () => {
    assert.equal(editDistance('lora_alpah', 'lora_alpha'), 1);
    assert.equal(editDistance('learnig_rate', 'learning_rate'), 1);
    assert.equal(editDistance('abc', 'xyz'), 3);
  });
  it('suggests the closest key and nothing for unrelated words', () => {
    assert.deepEqual(suggest('lora_alpah', ['r', 'lora_alpha', 'lora_dropout']), ['lora_alpha']);
    assert.equal(didYouMean('zzzzzzzz', ['r', 'lora_alpha']), '');
    assert.equal(didYouMean('learnig_rate', ['learning_rate', 'seed']), ' Did you mean "learning_rate"?');
  });
});
