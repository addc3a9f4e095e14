// A tiny character-level tokenizer for data-pipeline tests (id = code point + 3; 1 = <s>, 2 = </s>, 0 = <pad>),
// with a real Jinja chat template (ChatML, as Qwen2) rendered by @huggingface/jinja.
import { Template } from '@huggingface/jinja';
import type { ChatMessage, DataTokenizer } from '../../../../src/core/train/data/formats';

export const CHATML =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

export class CharTokenizer implements DataTokenizer {
  readonly eosTokenId = 2;
  readonly padTokenId = 0;
  private readonly template = new Template(CHATML);

  constructor(private readonly addBos = true) {}

  encode(text: string, addSpecialTokens: boolean): number[] {
    const ids = Array.from(text, (c) => c.codePointAt(0)! + 3);
    return addSpecialTokens && this.addBos ? [1, ...ids] : ids;
  }

  applyChatTemplate(messages: ChatMessage[], addGenerationPrompt: boolean): string {
    return this.template.render({ messages, add_generation_prompt: addGenerationPrompt, bos_token: '<s>', eos_token: '</s>' });
  }

  decode(ids: readonly number[]): string {
    return ids.filter((i) => i >= 3).map((i) => String.fromCodePoint(i - 3)).join('');
  }
}
