// Malformed safetensors files: each case must be an InputError that names the file (and the tensor, when one is at fault).
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readSafetensorsHeader, readTensorBytes } from '../../../src/core/safetensors/read';
import { writeSafetensors } from '../../../src/core/safetensors/write';
import { InputError } from '../../../src/core/errors';

describe('safetensors validation of malformed files', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stbad-'));
    file = path.join(dir, 'model.safetensors');
  });
  afterEach(() => { fs.rmSync(dir, { recursive: true, force: true }); });

  /** A file with the given header text (unpadded) and `dataBytes` zero bytes of data. */
  function raw(header: string, dataBytes: number, lengthOverride?: bigint): void {
    const json = Buffer.from(header, 'utf8');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(lengthOverride ?? BigInt(json.length));
    fs.writeFileSync(file, Buffer.concat([len, json, Buffer.alloc(dataBytes)]));
  }

  function expectError(code: string, mustMention: string[]): void {
    assert.throws(() => readSafetensorsHeader(file), (e: unknown) => {
      assert.ok(e instanceof InputError, `expected InputError, got ${String(e)}`);
      assert.equal(e.code, code, e.message);
      assert.ok(e.message.includes(file), `message names the file: ${e.message}`);
      for (const m of mustMention) assert.ok(e.message.includes(m), `message mentions ${m}: ${e.message}`);
      return true;
    });
  }

  const ok = (name: string, begin: number, end: number, shape = '[2]', dtype = 'F32'): string =>
    `"${name}":{"dtype":"${dtype}","shape":${shape},"data_offsets":[${begin},${end}]}`;

  it('accepts a well-formed hand-written file (the baseline for the cases below)', () => {
    raw(`{${ok('a', 0, 8)},${ok('b', 8, 16)}}`, 16);
    const h = readSafetensorsHeader(file);
    assert.equal(h.tensors.size, 2);
  });

  it('huge header length', () => {
    raw('{}', 0, 100_000_001n);
    expectError('safetensors-header-too-large', ['100000000']);
    raw('{}', 0, 2n ** 63n);
    expectError('safetensors-header-too-large', []);
  });

  it('header length past the end of the file, and files shorter than 8 bytes', () => {
    raw('{}', 0, 1000n);
    expectError('safetensors-truncated', ['past the end']);
    fs.writeFileSync(file, Buffer.from([1, 2, 3]));
    expectError('safetensors-too-small', []);
  });

  it('header not starting with {', () => {
    raw(` {${ok('a', 0, 8)}}`, 8);
    expectError('safetensors-header-start', ['"{"']);
    raw(`[${ok('a', 0, 8)}]`, 8);
    expectError('safetensors-header-start', []);
  });

  it('bad JSON and non-UTF-8 headers', () => {
    raw(`{${ok('a', 0, 8)},}`, 8);
    expectError('safetensors-header-json', ['not valid JSON']);
    const bytes = Buffer.from('{"\xff":1}', 'latin1');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(bytes.length));
    fs.writeFileSync(file, Buffer.concat([len, bytes]));
    expectError('safetensors-header-utf8', []);
  });

  it('duplicate keys', () => {
    raw(`{${ok('a', 0, 8)},${ok('a', 8, 16)}}`, 16);
    expectError('safetensors-duplicate-key', ['tensor "a"']);
  });

  it('unknown dtype', () => {
    raw(`{${ok('w', 0, 8, '[2]', 'F17')}}`, 8);
    expectError('safetensors-unknown-dtype', ['tensor "w"', 'F17']);
  });

  it('overlapping offsets', () => {
    raw(`{${ok('a', 0, 8)},${ok('b', 4, 12)}}`, 12);
    expectError('safetensors-bad-offsets', ['tensor "b"', 'overlaps']);
  });

  it('non-contiguous offsets (a gap) and offsets not starting at 0', () => {
    raw(`{${ok('a', 0, 8)},${ok('b', 12, 20)}}`, 20);
    expectError('safetensors-bad-offsets', ['tensor "b"', 'gap']);
    raw(`{${ok('a', 4, 12)}}`, 12);
    expectError('safetensors-bad-offsets', ['tensor "a"']);
    raw(`{${ok('a', 8, 0)}}`, 8);
    expectError('safetensors-bad-offsets', ['tensor "a"']);
  });

  it('byte length that does not match shape and dtype', () => {
    raw(`{${ok('a', 0, 8)},${ok('b', 8, 20, '[2]')}}`, 20);
    expectError('safetensors-byte-length', ['tensor "b"', 'expected 8 bytes, got 12 bytes']);
    raw(`{${ok('f4', 0, 1, '[3]', 'F4')}}`, 1);
    expectError('safetensors-misaligned', ['tensor "f4"']);
  });

  it('truncated file names the tensor whose data is missing', () => {
    writeSafetensors(file, [
      { name: 'model.embed_tokens.weight', dtype: 'F32', shape: [4, 4], data: new Float32Array(16) },
      { name: 'model.norm.weight', dtype: 'F32', shape: [4], data: new Float32Array(4) },
    ]);
    const size = fs.statSync(file).size;
    fs.truncateSync(file, size - 10);
    expectError('safetensors-truncated', ['truncated', `tensor "model.norm.weight"`, `got ${size - 10} bytes`]);
  });

  it('trailing bytes after the last tensor', () => {
    raw(`{${ok('a', 0, 8)}}`, 11);
    expectError('safetensors-trailing-bytes', ['3 bytes after']);
  });

  it('bad shapes, offsets and metadata values', () => {
    raw(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}`, 0);
    expectError('safetensors-bad-shape', ['tensor "a"']);
    raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}`, 0);
    expectError('safetensors-bad-offsets', ['tensor "a"']);
    raw(`{"__metadata__":{"format":3}}`, 0);
    expectError('safetensors-bad-metadata', ['format']);
    raw(`{"a":5}`, 0);
    expectError('safetensors-bad-entry', ['tensor "a"']);
  });

  it('a missing file, and a tensor whose file shrank after the header was read', () => {
    expectError('safetensors-open', ['not found']);
    writeSafetensors(file, [{ name: 'w', dtype: 'F32', shape: [64], data: new Float32Array(64) }]);
    const entry = readSafetensorsHeader(file).tensors.get('w')!;
    fs.truncateSync(file, entry.offset + 10);
    assert.throws(() => readTensorBytes(entry), (e: unknown) => e instanceof InputError && e.message.includes('tensor "w"') && e.message.includes(file));
  });
});
