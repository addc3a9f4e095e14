// `validate` on a recipe loads the base model's tokenizer and renders its chat template on a two-turn sample, so that
// a template that fails (or loops, see hf/templateBudget.ts) is reported before training rather than during it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError, errorMessage } from '../errors';
import { loadTokenizer } from '../hf/tokenizer';

export interface FileProblem {
  file: string;
  code: string;
  message: string;
}

export const SAMPLE_CHAT = [
  { role: 'system', content: 'You are a helpful assistant.' },
  { role: 'user', content: 'Hello!' },
  { role: 'assistant', content: 'Hi, how can I help?' },
];

/**
 * Problems of the tokenizer of `modelDir` (one that cannot be loaded safely) and of its chat template (one that does
 * not render the sample) when the data is in `messages` format or `auto`. Each names the file at fault.
 */
export async function tokenizerProblems(modelDir: string, format: string): Promise<FileProblem[]> {
  if (!fs.existsSync(path.join(modelDir, 'tokenizer.json')) || format === 'tokenized') return [];
  let tok;
  try {
    tok = await loadTokenizer(modelDir);
  } catch (e) {
    return [{ file: e instanceof InputError && e.context.file !== undefined ? e.context.file : path.join(modelDir, 'tokenizer.json'), code: 'tokenizer-invalid', message: errorMessage(e) }];
  }
  if (tok.chatTemplate === null || (format !== 'messages' && format !== 'auto')) return [];
  try {
    tok.applyChatTemplate(SAMPLE_CHAT, { addGenerationPrompt: false });
    tok.applyChatTemplate(SAMPLE_CHAT.slice(0, 2), { addGenerationPrompt: true });
  } catch (e) {
    const file = e instanceof InputError && e.context.file !== undefined ? e.context.file : path.join(modelDir, 'tokenizer_config.json');
    return [{ file, code: 'chat-template', message: `${errorMessage(e)} (rendering a sample system/user/assistant chat)` }];
  }
  return [];
}
