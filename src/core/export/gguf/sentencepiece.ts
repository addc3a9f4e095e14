// SentencePiece vocabularies (tokenizer.model, a protobuf ModelProto) as llama.cpp takes them: tokenizer.ggml.model
// "llama" with every piece's text, score and type (convert_hf_to_gguf's _create_vocab_sentencepiece), for Gemma, Phi-3.
import * as fs from 'node:fs';
import { InputError, errorMessage } from '../../errors';
import { TOKEN_TYPE } from './tokenizer';

export interface SentencePieceModel {
  pieces: { piece: string; score: number; type: number }[];
  /** normalizer_spec.add_dummy_prefix (default true): llama.cpp's tokenizer.ggml.add_space_prefix. */
  addDummyPrefix: boolean;
}

/** A minimal protobuf reader: varints, length-delimited fields and fixed32/fixed64 (all ModelProto uses). */
class Proto {
  pos = 0;
  constructor(private readonly buf: Uint8Array, private readonly end = buf.length) {}
  done(): boolean {
    return this.pos >= this.end;
  }
  varint(): number {
    let result = 0;
    let mul = 1;
    for (;;) {
      if (this.pos >= this.end) throw new Error('truncated varint');
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return result;
      mul *= 128;
    }
  }
  /** The next field: its number, wire type, and a reader for it. */
  field(): { no: number; wire: number } {
    const key = this.varint();
    return { no: Math.floor(key / 8), wire: key % 8 };
  }
  bytes(): Uint8Array {
    const n = this.varint();
    if (this.pos + n > this.end) throw new Error('truncated field');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  float(): number {
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4).getFloat32(0, true);
    this.pos += 4;
    return v;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
}

/** Reads tokenizer.model: ModelProto.pieces (1) {piece 1, score 2, type 3} and normalizer_spec (3).add_dummy_prefix (3). */
export function readSentencePieceModel(file: string): SentencePieceModel {
  try {
    const buf = fs.readFileSync(file);
    const top = new Proto(buf);
    const pieces: SentencePieceModel['pieces'] = [];
    let addDummyPrefix = true;
    const text = new TextDecoder('utf-8', { fatal: true });
    while (!top.done()) {
      const f = top.field();
      if (f.no === 1 && f.wire === 2) {
        const m = top.bytes();
        const p = new Proto(m);
        let piece = '';
        let score = 0;
        let type = TOKEN_TYPE.NORMAL as number;
        while (!p.done()) {
          const g = p.field();
          if (g.no === 1 && g.wire === 2) piece = text.decode(p.bytes());
          else if (g.no === 2 && g.wire === 5) score = p.float();
          else if (g.no === 3 && g.wire === 0) type = p.varint();
          else p.skip(g.wire);
        }
        pieces.push({ piece, score, type });
      } else if (f.no === 3 && f.wire === 2) {
        const p = new Proto(top.bytes());
        while (!p.done()) {
          const g = p.field();
          if (g.no === 3 && g.wire === 0) addDummyPrefix = p.varint() !== 0;
          else p.skip(g.wire);
        }
      } else top.skip(f.wire);
    }
    if (pieces.length === 0) throw new Error('no pieces');
    return { pieces, addDummyPrefix };
  } catch (e) {
    throw new InputError('gguf-tokenizer-json', `cannot read the SentencePiece model: ${errorMessage(e)}`, { file, hint: 'tokenizer.model must be the SentencePiece ModelProto the model was released with' });
  }
}

/** convert_hf_to_gguf's does_token_look_special: added tokens some models leave unmarked that are control tokens. */
export function looksSpecial(t: string): boolean {
  return ['<pad>', '<mask>', '<2mass>', '[@BOS@]'].includes(t) || (t.startsWith('<|') && t.endsWith('|>')) || (t.startsWith('<｜') && t.endsWith('｜>')) || (t.startsWith('<unused') && t.endsWith('>'));
}

export interface SpmVocab {
  tokens: string[];
  scores: Float32Array;
  types: Int32Array;
  addSpacePrefix: boolean;
}

/**
 * Pieces by id, padded to vocabSize with `[PADi]` (score -10000, unused); tokenizer_config.json's added_tokens_decoder
 * entries become control tokens (special, or looking special) or user-defined ones (▁ read as a space), score -1000.
 */
export function sentencePieceVocab(model: SentencePieceModel, vocabSize: number, tokenizerConfig: Record<string, unknown>): SpmVocab {
  const n = Math.max(1, vocabSize);
  const tokens = Array.from({ length: n }, (_, i) => `[PAD${i}]`);
  const scores = new Float32Array(n).fill(-10000);
  const types = new Int32Array(n).fill(TOKEN_TYPE.UNUSED);
  model.pieces.slice(0, n).forEach((p, i) => {
    tokens[i] = p.piece;
    scores[i] = p.score;
    types[i] = p.type;
  });
  const decoder = tokenizerConfig['added_tokens_decoder'];
  if (typeof decoder === 'object' && decoder !== null) {
    for (const [idText, data] of Object.entries(decoder as Record<string, { content?: unknown; special?: unknown }>)) {
      const id = Number(idText);
      if (!Number.isInteger(id) || id < 0 || id >= n || typeof data.content !== 'string') continue;
      const special = data.special === true || looksSpecial(data.content);
      tokens[id] = special ? data.content : data.content.replaceAll('\u2581', ' ');
      types[id] = special ? TOKEN_TYPE.CONTROL : TOKEN_TYPE.USER_DEFINED;
      scores[id] = -1000;
    }
  }
  return { tokens, scores, types, addSpacePrefix: model.addDummyPrefix };
}
