// The adapter registry of a workspace: .peft-studio/adapters/NAME/vN/ holds a version's adapter files and a
// manifest (sha256 of every file, source run and metrics, base model); NAME/state.json holds current/previous/route.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../errors';
import { runDirOfAdapter } from '../export/modelCard';
import { readRun, summarize } from '../runs/readRuns';
import type { RouteTarget } from './models';
import { readJsonObject } from '../util/safeJson';

export const MANIFEST = 'manifest.json';

export interface Manifest {
  name: string;
  version: number;
  created: string;
  files: Record<string, string>;
  source: { path: string; run?: string; runName?: string; metrics?: { finalLoss?: number; lastLoss?: number; lastStep?: number } };
  base: { name_or_path?: string; config_sha256?: string };
}

export interface RegistryState {
  current: number | null;
  previous: number | null;
  /** The versions served under NAME and their shares (a canary beside current while a promotion is partial). */
  route: { version: number; weight: number }[];
}

export function registryRoot(workspace: string): string {
  return path.join(workspace, '.peft-studio', 'adapters');
}

function checkName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) {
    throw new InputError('registry-name', `"${name}" is not a valid adapter name`, { hint: 'Use letters, digits, . _ - (at most 64 characters)' });
  }
}

export function sha256File(file: string): string {
  const h = crypto.createHash('sha256');
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.alloc(1 << 20);
  try {
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0;) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

export function versionDir(workspace: string, name: string, version: number): string {
  return path.join(registryRoot(workspace), name, `v${version}`);
}

export function versions(workspace: string, name: string): number[] {
  const dir = path.join(registryRoot(workspace), name);
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).map((f) => /^v(\d+)$/.exec(f)).filter((m) => m !== null).map((m) => Number(m[1])).sort((a, b) => a - b);
}

export function readState(workspace: string, name: string): RegistryState {
  const file = path.join(registryRoot(workspace), name, 'state.json');
  if (!fs.existsSync(file)) return { current: null, previous: null, route: [] };
  return readJsonObject(file, { what: 'the registry state', code: 'registry-state', readCode: 'registry-state' }) as unknown as RegistryState;
}

function writeState(workspace: string, name: string, s: RegistryState): void {
  const file = path.join(registryRoot(workspace), name, 'state.json');
  fs.writeFileSync(`${file}.tmp`, `${JSON.stringify(s, null, 2)}\n`);
  fs.renameSync(`${file}.tmp`, file);
}

/** Copies an adapter folder's files into the next version NAME/vN and writes its manifest; returns N. */
export function register(workspace: string, name: string, adapterDir: string, modelDir?: string): { version: number; dir: string } {
  checkName(name);
  const src = path.resolve(adapterDir);
  for (const f of ['adapter_config.json', 'adapter_model.safetensors']) {
    if (!fs.existsSync(path.join(src, f))) throw new InputError('registry-not-adapter', `no ${f} in the adapter folder`, { file: src, hint: 'Give a PEFT adapter folder (a run\'s adapter/ or a checkpoint)' });
  }
  const version = (versions(workspace, name).at(-1) ?? 0) + 1;
  const dir = versionDir(workspace, name, version);
  fs.mkdirSync(`${dir}.tmp`, { recursive: true });
  const files: Record<string, string> = {};
  for (const f of fs.readdirSync(src).sort()) {
    const from = path.join(src, f);
    if (!fs.statSync(from).isFile() || f === 'optimizer.safetensors' || f === MANIFEST) continue;
    fs.copyFileSync(from, path.join(`${dir}.tmp`, f));
    files[f] = sha256File(path.join(`${dir}.tmp`, f));
  }
  const cfg = readJsonObject(path.join(src, 'adapter_config.json'), { what: 'adapter_config.json', code: 'adapter-config-json', readCode: 'adapter-config-read' });
  const base: Manifest['base'] = {};
  if (typeof cfg['base_model_name_or_path'] === 'string') base.name_or_path = cfg['base_model_name_or_path'];
  if (modelDir !== undefined && fs.existsSync(path.join(modelDir, 'config.json'))) base.config_sha256 = sha256File(path.join(modelDir, 'config.json'));
  const source: Manifest['source'] = { path: src };
  const run = runDirOfAdapter(src);
  if (run !== null) {
    const s = summarize(readRun(run));
    source.run = run;
    source.runName = s.name;
    source.metrics = { lastStep: s.lastStep, ...(s.finalLoss !== undefined ? { finalLoss: s.finalLoss } : {}), ...(s.lastLoss !== undefined ? { lastLoss: s.lastLoss } : {}) };
  }
  const manifest: Manifest = { name, version, created: new Date().toISOString(), files, source, base };
  fs.writeFileSync(path.join(`${dir}.tmp`, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
  fs.renameSync(`${dir}.tmp`, dir);
  const state = readState(workspace, name);
  if (state.current === null) writeState(workspace, name, { current: version, previous: null, route: [{ version, weight: 100 }] });
  return { version, dir };
}

/** Checks every file of a registered version against its manifest's sha256; a mismatch is an InputError. */
export function verifyVersion(dir: string): Manifest {
  const file = path.join(dir, MANIFEST);
  const m = readJsonObject(file, { what: 'the manifest', code: 'registry-manifest', readCode: 'registry-manifest' }) as unknown as Manifest;
  for (const [f, sum] of Object.entries(m.files ?? {})) {
    const p = path.join(dir, f);
    if (!fs.existsSync(p)) throw new InputError('registry-integrity', `adapter ${m.name} v${m.version}: ${f} is missing`, { file: dir, hint: 'Register the adapter again' });
    const got = sha256File(p);
    if (got !== sum) {
      throw new InputError('registry-integrity', `adapter ${m.name} v${m.version}: ${f} does not match the sha256 in ${MANIFEST}, so the files changed after registration; refusing to load it`, {
        file: p, expected: sum, actual: got, hint: 'Restore the file or register the adapter again as a new version',
      });
    }
  }
  return m;
}

/** Promotes vN: to 100 % (it becomes current, the old current previous), or as a canary beside current at `weight` %. */
export function promote(workspace: string, name: string, version: number, weight = 100): RegistryState {
  if (!versions(workspace, name).includes(version)) throw new InputError('registry-version', `adapter ${name} has no version v${version}`, { hint: `Versions: ${versions(workspace, name).map((v) => `v${v}`).join(', ') || 'none (register one first)'}` });
  if (!(weight > 0 && weight <= 100)) throw new InputError('registry-weight', 'the weight must be in (0, 100]', { actual: String(weight) });
  verifyVersion(versionDir(workspace, name, version));
  const s = readState(workspace, name);
  let next: RegistryState;
  if (weight === 100 || s.current === null || s.current === version) {
    next = { current: version, previous: s.current !== version ? s.current : s.previous, route: [{ version, weight: 100 }] };
  } else {
    next = { current: s.current, previous: s.previous, route: [{ version: s.current, weight: 100 - weight }, { version, weight }] };
  }
  writeState(workspace, name, next);
  return next;
}

/** One step back: a canary is dropped (current at 100 %), or else the previous version is current again at 100 %. */
export function rollback(workspace: string, name: string): RegistryState {
  const s = readState(workspace, name);
  let next: RegistryState;
  if (s.route.length > 1 && s.current !== null) next = { ...s, route: [{ version: s.current, weight: 100 }] };
  else if (s.previous !== null) next = { current: s.previous, previous: null, route: [{ version: s.previous, weight: 100 }] };
  else throw new InputError('registry-rollback', `adapter ${name} has no previous version to roll back to`, { file: path.join(registryRoot(workspace), name, 'state.json'), hint: 'Promote another version first (peft-studio adapters promote NAME vN)' });
  writeState(workspace, name, next);
  return next;
}

/** The served adapter name of a version (NAME@vN), and the route NAME as a server takes it. */
export function servedName(name: string, version: number): string {
  return `${name}@v${version}`;
}

export function routeOf(name: string, s: RegistryState): RouteTarget[] {
  return s.route.map((r) => ({ adapter: servedName(name, r.version), weight: r.weight }));
}

export function listRegistry(workspace: string): { name: string; versions: number[]; state: RegistryState }[] {
  const root = registryRoot(workspace);
  if (!fs.existsSync(root)) return [];
  return fs.readdirSync(root).filter((n) => fs.statSync(path.join(root, n)).isDirectory()).sort()
    .map((name) => ({ name, versions: versions(workspace, name), state: readState(workspace, name) }));
}
