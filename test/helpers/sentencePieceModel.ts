// Writes a SentencePiece tokenizer.model (protobuf ModelProto: pieces {piece, score, type}, normalizer_spec
// add_dummy_prefix) for GGUF tests: <unk>, <s>, </s>, the 256 byte pieces, then "▁w<i>" pieces up to the vocab size.
import * as fs from 'node:fs';

class ProtoWriter {
  private readonly parts: number[] = [];
  varint(v: number): this {
    while (v >= 0x80) {
      this.parts.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.parts.push(v);
    return this;
  }
  key(no: number, wire: number): this {
    return this.varint(no * 8 + wire);
  }
  bytesField(no: number, b: Uint8Array): this {
    this.key(no, 2).varint(b.length);
    for (const x of b) this.parts.push(x);
    return this;
  }
  floatField(no: number, v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.key(no, 5);
    for (const x of b) this.parts.push(x);
    return this;
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

export interface TestPiece { piece: string; score: number; type: number }

/** The test vocabulary: 3 specials, 256 byte pieces, then normal pieces (scores falling with the id). */
export function testPieces(size: number): TestPiece[] {
  const pieces: TestPiece[] = [{ piece: '<unk>', score: 0, type: 2 }, { piece: '<s>', score: 0, type: 3 }, { piece: '</s>', score: 0, type: 3 }];
  for (let b = 0; b < 256; b++) pieces.push({ piece: `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`, score: 0, type: 6 });
  for (let i = pieces.length; i < size; i++) pieces.push({ piece: `\u2581w${i}`, score: -i, type: 1 });
  return pieces.slice(0, size);
}

export function writeSentencePieceModel(file: string, pieces: readonly TestPiece[], addDummyPrefix: boolean): void {
  const top = new ProtoWriter();
  const enc = new TextEncoder();
  for (const p of pieces) {
    const m = new ProtoWriter().bytesField(1, enc.encode(p.piece)).floatField(2, p.score);
    if (p.type !== 1) m.key(3, 0).varint(p.type);
    top.bytesField(1, m.bytes());
  }
  top.bytesField(3, new ProtoWriter().bytesField(1, enc.encode('identity')).key(3, 0).varint(addDummyPrefix ? 1 : 0).bytes());
  fs.writeFileSync(file, top.bytes());
}
