// Round trips through writeSafetensors/readSafetensorsHeader/readTensor*: every dtype, 0-rank and empty tensors,
// the Rust writer's byte layout, sharded checkpoints and header-only reads of a sparse 1 GiB file.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DTYPES, f16ToF32, f32ToBf16, f32ToF16, dtypeBits } from '../../../src/core/safetensors/dtypes';
import { readSafetensorsHeader, readTensorAsFloat32, readTensorBytes, dtypeByteSize } from '../../../src/core/safetensors/read';
import { serializeSafetensors, writeSafetensors } from '../../../src/core/safetensors/write';
import { getTensorEntry, openCheckpoint } from '../../../src/core/safetensors/checkpoint';
import type { SafetensorsDtype, TensorToWrite } from '../../../src/core/safetensors/types';
import { InputError } from '../../../src/core/errors';

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'st-'));
}

describe('safetensors write/read round trip', () => {
  let dir: string;
  beforeEach(() => { dir = tmpDir(); });
  afterEach(() => { fs.rmSync(dir, { recursive: true, force: true }); });

  it('writes the exact bytes of the Rust serializer (test_serialization vector)', () => {
    const buf = serializeSafetensors([{ name: 'attn.0', dtype: 'F32', shape: [1, 2, 3], data: new Float32Array([0, 1, 2, 3, 4, 5]) }], null);
    const expected = [64, 0, 0, 0, 0, 0, 0, 0, ...Buffer.from('{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}', 'utf8'),
      0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64];
    assert.deepEqual([...buf], expected);
    // Empty map with and without metadata (safetensors test_empty).
    assert.deepEqual([...serializeSafetensors([], null)], [8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
    const withMeta = serializeSafetensors([], { framework: 'pt' });
    assert.equal(withMeta.readUInt32LE(0), 40);
    assert.equal(withMeta.subarray(8).toString('utf8'), '{"__metadata__":{"framework":"pt"}}     ');
  });

  it('orders tensors by dtype alignment descending, then by name, and pads the header to 8 bytes', () => {
    const file = path.join(dir, 'o.safetensors');
    writeSafetensors(file, [
      { name: 'b', dtype: 'F16', shape: [1], data: new Uint16Array([0x3c00]) },
      { name: 'a', dtype: 'F16', shape: [1], data: new Uint16Array([0x4000]) },
      { name: 'z', dtype: 'F32', shape: [1], data: new Float32Array([1]) },
      { name: 'c', dtype: 'I64', shape: [1], data: new BigInt64Array([5n]) },
      { name: 'm', dtype: 'U8', shape: [3], data: new Uint8Array([1, 2, 3]) },
    ]);
    const h = readSafetensorsHeader(file);
    assert.equal(h.headerLength % 8, 0);
    assert.deepEqual(h.metadata, { format: 'pt' });
    const byOffset = [...h.tensors.values()].sort((x, y) => x.offset - y.offset).map((e) => e.name);
    assert.deepEqual(byOffset, ['c', 'z', 'a', 'b', 'm']);
    assert.equal(h.tensors.get('c')!.offset, h.dataStart);
    assert.equal(readTensorAsFloat32(h.tensors.get('c')!)[0], 5);
    assert.ok(!fs.readdirSync(dir).some((f) => f.endsWith('.tmp')), 'no temp file left behind');
  });

  it('round-trips every dtype, including 0-rank and empty tensors', () => {
    const file = path.join(dir, 'all.safetensors');
    const tensors: TensorToWrite[] = [];
    for (const dtype of DTYPES) {
      const bits = dtypeBits(dtype);
      const n = bits % 8 === 0 ? 6 : 8; // sub-byte types need whole bytes: F4 x 8 = 4 bytes, F6 x 8 = 6 bytes
      const bytes = new Uint8Array((n * bits) / 8).map((_, i) => (i * 37 + bits) & 0xff);
      tensors.push({ name: `t.${dtype}`, dtype, shape: [2, n / 2], data: bytes });
      tensors.push({ name: `empty.${dtype}`, dtype, shape: [0, 3], data: new Uint8Array(0) });
      if (bits % 8 === 0) tensors.push({ name: `scalar.${dtype}`, dtype, shape: [], data: new Uint8Array(bits / 8).fill(7) });
    }
    writeSafetensors(file, tensors);
    const h = readSafetensorsHeader(file);
    assert.equal(h.tensors.size, tensors.length);
    for (const t of tensors) {
      const e = h.tensors.get(t.name)!;
      assert.equal(e.dtype, t.dtype);
      assert.deepEqual(e.shape, t.shape);
      assert.deepEqual([...readTensorBytes(e)], [...(t.data as Uint8Array)], t.name);
    }
    assert.equal(dtypeByteSize('F4'), 0.5);
    assert.equal(dtypeByteSize('F6_E2M3'), 0.75);
    assert.equal(dtypeByteSize('BF16'), 2);
  });

  it('converts F16, BF16, F64 and integer tensors to float32', () => {
    const file = path.join(dir, 'conv.safetensors');
    const vals = [0, 1, -2.5, 0.1, 65504, 1e-5, -3e-7];
    writeSafetensors(file, [
      { name: 'f16', dtype: 'F16', shape: [vals.length], data: new Uint16Array(vals.map(f32ToF16)) },
      { name: 'bf16', dtype: 'BF16', shape: [vals.length], data: new Uint16Array(vals.map(f32ToBf16)) },
      { name: 'f64', dtype: 'F64', shape: [vals.length], data: new Float64Array(vals) },
      { name: 'i32', dtype: 'I32', shape: [3], data: new Int32Array([-7, 0, 123456]) },
      { name: 'i8', dtype: 'I8', shape: [2], data: new Int8Array([-128, 127]) },
      { name: 'i64', dtype: 'I64', shape: [2], data: new BigInt64Array([-(2n ** 40n), 9n]) },
      { name: 'bool', dtype: 'BOOL', shape: [2], data: new Uint8Array([1, 0]) },
      { name: 'e4m3', dtype: 'F8_E4M3', shape: [5], data: new Uint8Array([0x38, 0x7e, 0xb8, 0x01, 0x7f]) },
      { name: 'e5m2', dtype: 'F8_E5M2', shape: [4], data: new Uint8Array([0x3c, 0x7b, 0x7c, 0xc0]) },
      { name: 'e4m3fnuz', dtype: 'F8_E4M3FNUZ', shape: [2], data: new Uint8Array([0x40, 0x80]) },
      { name: 'e8m0', dtype: 'F8_E8M0', shape: [2], data: new Uint8Array([127, 130]) },
    ]);
    const h = readSafetensorsHeader(file);
    const f16 = readTensorAsFloat32(h.tensors.get('f16')!);
    const bf16 = readTensorAsFloat32(h.tensors.get('bf16')!);
    vals.forEach((v, i) => {
      assert.ok(Math.abs(f16[i]! - v) <= Math.max(Math.abs(v) * 2 ** -11, 2 ** -24), `f16 ${v} -> ${f16[i]}`);
      assert.ok(Math.abs(bf16[i]! - v) <= Math.abs(v) * 2 ** -8, `bf16 ${v} -> ${bf16[i]}`);
    });
    assert.equal(f16[4], 65504);
    assert.equal(bf16[1], 1);
    assert.equal(f16ToF32(f32ToF16(0.1)), 0.0999755859375); // nearest half to 0.1
    assert.deepEqual([...readTensorAsFloat32(h.tensors.get('f64')!)], vals.map((v) => Math.fround(v)));
    assert.deepEqual([...readTensorAsFloat32(h.tensors.get('i32')!)], [-7, 0, 123456]);
    assert.deepEqual([...readTensorAsFloat32(h.tensors.get('i8')!)], [-128, 127]);
    assert.deepEqual([...readTensorAsFloat32(h.tensors.get('i64')!)], [-(2 ** 40), 9]);
    assert.deepEqual([...readTensorAsFloat32(h.tensors.get('bool')!)], [1, 0]);
    // float8: 1.0, the max finite values (448, 57344), -1, the smallest subnormal 2^-9, NaN, inf, -2.
    const e4 = readTensorAsFloat32(h.tensors.get('e4m3')!);
    assert.deepEqual([...e4.subarray(0, 4)], [1, 448, -1, 2 ** -9]);
    assert.ok(Number.isNaN(e4[4]));
    assert.deepEqual([...readTensorAsFloat32(h.tensors.get('e5m2')!)], [1, 57344, Infinity, -2]);
    const fnuz = readTensorAsFloat32(h.tensors.get('e4m3fnuz')!);
    assert.equal(fnuz[0], 1);
    assert.ok(Number.isNaN(fnuz[1]));
    assert.deepEqual([...readTensorAsFloat32(h.tensors.get('e8m0')!)], [1, 8]);
  });

  it('rejects bad tensors on write with the tensor named', () => {
    const file = path.join(dir, 'bad.safetensors');
    assert.throws(() => writeSafetensors(file, [{ name: 'w', dtype: 'F32', shape: [2, 2], data: new Float32Array(3) }]),
      (e: unknown) => e instanceof InputError && e.message.includes('"w"') && e.message.includes('16 bytes'));
    assert.throws(() => writeSafetensors(file, [{ name: 'w', dtype: 'F32', shape: [1], data: new Float32Array(1) }, { name: 'w', dtype: 'F32', shape: [1], data: new Float32Array(1) }]),
      (e: unknown) => e instanceof InputError && e.message.includes('more than once'));
    assert.throws(() => writeSafetensors(file, [{ name: 'w', dtype: 'F17' as SafetensorsDtype, shape: [1], data: new Float32Array(1) }]),
      (e: unknown) => e instanceof InputError && e.message.includes('F17'));
    assert.ok(!fs.existsSync(file));
  });

  it('reads the header of a sparse 1 GiB file without reading its data', () => {
    const file = path.join(dir, 'big.safetensors');
    const n = 256 * 1024 * 1024; // 1 GiB of F32
    const json = Buffer.from(`{"w":{"dtype":"F32","shape":[${n}],"data_offsets":[0,${n * 4}]},"tail":{"dtype":"F32","shape":[2],"data_offsets":[${n * 4},${n * 4 + 8}]}}`);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    fs.writeFileSync(file, Buffer.concat([len, json]));
    fs.truncateSync(file, 8 + json.length + n * 4);
    fs.appendFileSync(file, Buffer.from(new Float32Array([1.5, -2]).buffer));
    // Timings are the best of three, so a GC pause or a busy CI core does not decide them.
    const best = (fn: () => unknown): number => {
      let min = Infinity;
      for (let i = 0; i < 3; i++) {
        const t = process.hrtime.bigint();
        fn();
        min = Math.min(min, Number(process.hrtime.bigint() - t) / 1e6);
      }
      return min;
    };
    const h = readSafetensorsHeader(file);
    const ms = best(() => readSafetensorsHeader(file));
    assert.ok(ms < 50, `header read took ${ms} ms`);
    const e = h.tensors.get('w')!;
    assert.equal(e.length, n * 4);
    assert.equal(e.offset, 8 + json.length);
    assert.equal(h.fileSize, 8 + json.length + n * 4 + 8);
    // Reading a tensor at the end of the file reads only its own bytes.
    assert.deepEqual([...readTensorAsFloat32(h.tensors.get('tail')!)], [1.5, -2]);
    const tailMs = best(() => readTensorAsFloat32(h.tensors.get('tail')!));
    assert.ok(tailMs < 50, `tail read took ${tailMs} ms`);
  });
});

describe('openCheckpoint', () => {
  let dir: string;
  beforeEach(() => { dir = tmpDir(); });
  afterEach(() => { fs.rmSync(dir, { recursive: true, force: true }); });

  function shard(file: string, names: string[], value: number): void {
    writeSafetensors(path.join(dir, file), names.map((name) => ({ name, dtype: 'F32', shape: [2], data: new Float32Array([value, value + 1]) })));
  }

  it('opens a single model.safetensors', () => {
    shard('model.safetensors', ['a.weight', 'b.weight'], 1);
    const ck = openCheckpoint(dir);
    assert.deepEqual(ck.files, [path.join(dir, 'model.safetensors')]);
    assert.deepEqual([...readTensorAsFloat32(getTensorEntry(ck, 'b.weight'))], [1, 2]);
    assert.throws(() => getTensorEntry(ck, 'a.weigth'), (e: unknown) => e instanceof InputError && e.message.includes('Did you mean "a.weight"'));
  });

  it('opens shards from model.safetensors.index.json and finds each tensor in its file', () => {
    shard('model-00001-of-00002.safetensors', ['model.layers.0.w', 'model.embed'], 1);
    shard('model-00002-of-00002.safetensors', ['model.layers.1.w'], 10);
    const weightMap = { 'model.embed': 'model-00001-of-00002.safetensors', 'model.layers.0.w': 'model-00001-of-00002.safetensors', 'model.layers.1.w': 'model-00002-of-00002.safetensors' };
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 24 }, weight_map: weightMap }));
    const ck = openCheckpoint(dir);
    assert.equal(ck.files.length, 2);
    assert.equal(ck.tensors.size, 3);
    const e = getTensorEntry(ck, 'model.layers.1.w');
    assert.equal(path.basename(e.file), 'model-00002-of-00002.safetensors');
    assert.deepEqual([...readTensorAsFloat32(e)], [10, 11]);

    // A tensor the index places in the wrong shard.
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { ...weightMap, 'model.layers.1.w': 'model-00001-of-00002.safetensors' } }));
    assert.throws(() => openCheckpoint(dir), (err: unknown) => err instanceof InputError && err.message.includes('model.layers.1.w') && err.message.includes('model-00001-of-00002'));
    // A missing shard file.
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { ...weightMap, 'model.norm': 'model-00003-of-00003.safetensors' } }));
    assert.throws(() => openCheckpoint(dir), (err: unknown) => err instanceof InputError && err.message.includes('model-00003-of-00003') && err.message.includes('model.norm') && err.message.includes('index.json'));
  });

  it('explains a folder with no safetensors weights', () => {
    fs.writeFileSync(path.join(dir, 'pytorch_model.bin'), 'x');
    assert.throws(() => openCheckpoint(dir), (e: unknown) => e instanceof InputError && e.message.includes('safe_serialization'));
    assert.throws(() => openCheckpoint(path.join(dir, 'nope')), (e: unknown) => e instanceof InputError && e.message.includes('not found'));
  });
});
