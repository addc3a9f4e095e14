// What the benches share to run one side in a child process: the bundled TypeScript entry (so the child's RSS is node +
// our code, not a TypeScript loader), spawning a child and reading its last stdout line, and a seeded token file.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import { Rng } from '../src/core/util/random';

/**
 * Bundles `bench/<entry>.ts` into `cacheDir` (under the repository, so it resolves onnxruntime-node), one file per bench
 * process (several benches may run at once); the file is removed when the process exits.
 */
export async function bundleBenchChild(entry: string, cacheDir: string): Promise<string> {
  const out = path.join(cacheDir, `${entry}-${process.pid}.cjs`);
  await esbuild.build({
    entryPoints: [path.join(__dirname, `${entry}.ts`)], outfile: out, bundle: true, platform: 'node', format: 'cjs', target: 'node20',
    external: ['onnxruntime-node'], mainFields: ['module', 'main'], logLevel: 'warning',
  });
  process.on('exit', () => fs.rmSync(out, { force: true }));
  return out;
}

/** Runs `cmd args` and resolves with the last line it printed; rejects with the tail of its stderr when it fails. */
export function runChildLastLine(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    p.on('error', reject);
    p.on('close', (code) => {
      if (code !== 0) reject(new Error(`${path.basename(cmd)} ${path.basename(args[0] ?? '')} exited ${code}:\n${err.slice(-4000)}`));
      else resolve(out.trim().split('\n').pop() ?? '');
    });
  });
}

/** `n` seeded token ids below `vocab` as int64 LE in `file` (written once, shared by both sides of a bench). */
export function seededTokensFile(file: string, n: number, vocab: number): string {
  if (!fs.existsSync(file)) {
    const rng = new Rng(1234);
    const buf = Buffer.alloc(n * 8);
    for (let i = 0; i < n; i++) buf.writeBigInt64LE(BigInt(rng.nextUint32() % vocab), i * 8);
    fs.writeFileSync(file, buf);
  }
  return file;
}
