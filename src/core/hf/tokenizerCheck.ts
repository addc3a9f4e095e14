// Checks a tokenizer.json before @huggingface/tokenizers builds it: vocabulary and added-token ids are bounded
// integers, the vocabulary has the shape its model type needs, and no pattern can backtrack exponentially.
import { InputError } from '../errors';
import { regexHazard } from '../util/regexHazard';

/** Largest token id accepted (8M; the largest released vocabularies are ~260k). */
export const MAX_TOKEN_ID = (1 << 23) - 1;

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function tokenIdProblem(v: unknown, max = MAX_TOKEN_ID): string | null {
  if (typeof v !== 'number' || !Number.isInteger(v)) return 'must be an integer';
  if (v < 0 || v > max) return `is ${v}, outside 0..${max}`;
  return null;
}

/** Every `{"Regex": "..."}` pattern under `node`, with a path for the message (pre_tokenizer.pretokenizers[1].pattern). */
function regexPatterns(node: unknown, where: string, out: { where: string; pattern: string }[], depth = 0): void {
  if (depth > 32) return;
  if (Array.isArray(node)) {
    node.forEach((x, i) => regexPatterns(x, `${where}[${i}]`, out, depth + 1));
    return;
  }
  if (!isObject(node)) return;
  for (const [k, v] of Object.entries(node)) {
    if (k === 'pattern' && isObject(v) && typeof v['Regex'] === 'string') out.push({ where: `${where}.pattern`, pattern: v['Regex'] });
    else if (k !== 'vocab' && k !== 'merges') regexPatterns(v, `${where}.${k}`, out, depth + 1);
  }
}

/** Throws InputError (naming `file` and the field) when the tokenizer.json cannot be loaded safely. */
export function checkTokenizerJson(json: Json, file: string): void {
  const model = json['model'];
  if (!isObject(model)) throw new InputError('tokenizer-json', '"model" must be an object', { file });
  const type = model['type'];
  const vocab = model['vocab'];
  let entries = 0;
  if (type === 'Unigram' || (type === undefined && Array.isArray(vocab))) {
    if (!Array.isArray(vocab)) throw new InputError('tokenizer-json', '"model.vocab" of a Unigram model must be a list of [token, score] pairs', { file });
    vocab.forEach((e, i) => {
      if (!Array.isArray(e) || typeof e[0] !== 'string' || typeof e[1] !== 'number') {
        throw new InputError('tokenizer-json', `"model.vocab[${i}]" must be a [token, score] pair`, { file });
      }
    });
    entries = vocab.length;
    if (entries > MAX_TOKEN_ID) throw new InputError('tokenizer-json', `"model.vocab" has more than ${MAX_TOKEN_ID} entries`, { file });
  } else if (vocab !== undefined) {
    if (!isObject(vocab)) {
      throw new InputError('tokenizer-json', `"model.vocab" of a ${typeof type === 'string' ? type : 'BPE/WordPiece'} model must be an object {token: id}`, { file, actual: Array.isArray(vocab) ? 'a list' : typeof vocab });
    }
    for (const [token, id] of Object.entries(vocab)) {
      const p = tokenIdProblem(id);
      if (p !== null) throw new InputError('tokenizer-json', `the id of vocabulary entry ${JSON.stringify(token.slice(0, 40))} ${p}`, { file, actual: JSON.stringify(id)?.slice(0, 40) ?? 'undefined' });
      entries++;
    }
  }
  if (type === 'BPE' && model['merges'] !== undefined && !Array.isArray(model['merges'])) {
    throw new InputError('tokenizer-json', '"model.merges" must be a list', { file });
  }
  const added = json['added_tokens'] ?? [];
  if (!Array.isArray(added)) throw new InputError('tokenizer-json', '"added_tokens" must be a list', { file });
  // Ids index arrays in the tokenizer: an id far past the vocabulary would allocate and walk a huge sparse table.
  const maxId = Math.min(MAX_TOKEN_ID, 2 * (entries + added.length) + 65536);
  added.forEach((t, i) => {
    if (!isObject(t) || typeof t['content'] !== 'string') throw new InputError('tokenizer-json', `"added_tokens[${i}]" must be an object with a string "content"`, { file });
    const p = tokenIdProblem(t['id'], maxId);
    if (p !== null) {
      throw new InputError('tokenizer-json', `"added_tokens[${i}].id" ${p} (the file defines ${entries + added.length} tokens)`, { file, ...(p.startsWith('must') ? { actual: JSON.stringify(t['id'])?.slice(0, 40) ?? 'undefined' } : {}) });
    }
  });
  const patterns: { where: string; pattern: string }[] = [];
  for (const k of ['normalizer', 'pre_tokenizer', 'decoder', 'post_processor']) regexPatterns(json[k], k, patterns);
  for (const { where, pattern } of patterns) {
    const hazard = regexHazard(pattern);
    if (hazard !== null) {
      throw new InputError('tokenizer-regex', `the pattern in "${where}" is refused: ${hazard}`, {
        file, actual: JSON.stringify(pattern.length > 80 ? pattern.slice(0, 80) + '…' : pattern),
        hint: 'Rewrite it without a repeated group that itself repeats or alternates',
      });
    }
  }
}
