// Incremental detokenization for streaming: the text of all new tokens so far, and the piece each token adds,
// holding back a trailing incomplete UTF-8 character (U+FFFD) until the token that completes it arrives.
import type { HfTokenizer } from '../hf/tokenizer';

export class TextStream {
  private readonly ids: number[] = [];
  private emitted = 0;
  /** The decoded text of all tokens pushed (special tokens skipped). */
  text = '';

  constructor(private readonly tokenizer: HfTokenizer) {}

  /** Adds a token; returns the newly completed text ('' when it only starts a multi-byte character). */
  push(id: number): string {
    this.ids.push(id);
    this.text = this.tokenizer.decode(this.ids, { skipSpecialTokens: true });
    let end = this.text.length;
    while (end > this.emitted && this.text.charCodeAt(end - 1) === 0xfffd) end--;
    if (end < this.emitted) return '';
    const piece = this.text.slice(this.emitted, end);
    this.emitted = end;
    return piece;
  }
}
