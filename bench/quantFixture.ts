// Big random Llama-shaped models for bench/quant.bench.ts, written one tensor at a time (a 3B model never sits in
// memory): makeFixture writes a one-layer model (config, tokenizer), then the weights are streamed for all layers.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeFixture } from '../src/core/fixtures/makeFixture';
import { readSafetensorsHeader } from '../src/core/safetensors/read';
import { writeSafetensorsStreamed } from '../src/core/safetensors/writeStream';

export interface BigFixture {
  /** config.json overrides: hidden_size, num_hidden_layers, heads, intermediate_size, vocab_size, head_dim. */
  overrides: Record<string, number>;
  tie: boolean;
  dtype: 'F32' | 'BF16';
}

const CHUNK = 1 << 20;

/** Uniform values of std 0.02 (HF's initializer_range), or ones for norm weights, in `dtype`, CHUNK values at a time. */
function* randomChunks(n: number, ones: boolean, dtype: 'F32' | 'BF16', seed: number): Generator<Uint8Array> {
  let s = (seed * 2654435761) >>> 0 || 1;
  const half = 0.02 * Math.sqrt(3);
  const f = new Float32Array(CHUNK);
  const u32 = new Uint32Array(f.buffer);
  const b16 = new Uint16Array(CHUNK);
  for (let done = 0; done < n; done += CHUNK) {
    const m = Math.min(CHUNK, n - done);
    for (let i = 0; i < m; i++) {
      s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
      f[i] = ones ? 1 : (s / 4294967296 * 2 - 1) * half;
    }
    if (dtype === 'F32') yield new Uint8Array(f.buffer, 0, m * 4);
    else {
      for (let i = 0; i < m; i++) b16[i] = (u32[i]! + 0x7fff + ((u32[i]! >>> 16) & 1)) >>> 16;
      yield new Uint8Array(b16.buffer, 0, m * 2);
    }
  }
}

/** Writes the model into `dir` unless a complete one is there (marked by `.complete`). */
export async function ensureBigFixture(dir: string, spec: BigFixture): Promise<void> {
  const done = path.join(dir, '.complete');
  if (fs.existsSync(done)) return;
  const layers = spec.overrides['num_hidden_layers']!;
  await makeFixture({ arch: 'llama', size: 'bench', outDir: dir, seed: 1, dtype: spec.dtype, tieWordEmbeddings: spec.tie, overrides: { ...spec.overrides, num_hidden_layers: 1 } });
  const cfgFile = path.join(dir, 'config.json');
  const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8')) as Record<string, unknown>;
  fs.writeFileSync(cfgFile, JSON.stringify({ ...cfg, num_hidden_layers: layers }, null, 2));
  const file = path.join(dir, 'model.safetensors');
  const one = [...readSafetensorsHeader(file).tensors.values()];
  const tensors = one.flatMap((e) => (e.name.startsWith('model.layers.0.')
    ? Array.from({ length: layers }, (_, l) => ({ name: e.name.replace('model.layers.0.', `model.layers.${l}.`), shape: e.shape }))
    : [{ name: e.name, shape: e.shape }]));
  writeSafetensorsStreamed(file, tensors.map((t, i) => ({
    name: t.name, dtype: spec.dtype, shape: t.shape,
    data: () => randomChunks(t.shape.reduce((a, b) => a * b, 1), /norm\.weight$/.test(t.name), spec.dtype, i + 1),
  })));
  fs.writeFileSync(done, '');
}
