// `npm run package`: one platform-specific .vsix per target (linux-x64, darwin-arm64, win32-x64), each with only
// its own onnxruntime-node binaries (bin/napi-v*/<platform>/<arch>), built with esbuild --production; prints sizes.
// Usage: node scripts/package.mjs [target...] [--out DIR]. README links to docs/ are resolved against
// PEFT_STUDIO_REPO_URL (e.g. https://github.com/<org>/peft-studio/blob/main) when set, else written as plain text.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const TARGETS = ['linux-x64', 'darwin-arm64', 'win32-x64'];

const args = process.argv.slice(2);
const outIdx = args.indexOf('--out');
const outDir = path.resolve(ROOT, outIdx >= 0 ? args[outIdx + 1] : 'dist-vsix');
const targets = args.filter((a, i) => !a.startsWith('--') && (outIdx < 0 || i !== outIdx + 1));
for (const t of targets) if (!TARGETS.includes(t)) throw new Error(`unknown target ${t}: one of ${TARGETS.join(', ')}`);

const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const ortBin = path.join(ROOT, 'node_modules', 'onnxruntime-node', 'bin');
const napi = readdirSync(ortBin).filter((d) => /^napi-v\d+$/.test(d));
if (napi.length !== 1) throw new Error(`expected one napi-v* folder in ${ortBin}, found ${napi.join(', ') || 'none'}`);

/** The .vscodeignore allowlist with the onnxruntime binaries narrowed to one platform/arch. */
function ignoreFileFor(target) {
  const [platform, arch] = target.split('-');
  const dir = path.join(ortBin, napi[0], platform, arch);
  if (!existsSync(dir) || readdirSync(dir).length === 0) throw new Error(`onnxruntime-node has no binaries for ${target} in ${dir}`);
  const base = readFileSync(path.join(ROOT, '.vscodeignore'), 'utf8');
  const all = `!node_modules/onnxruntime-node/bin/${napi[0]}/**`;
  if (!base.includes(all)) throw new Error(`.vscodeignore has no line ${all}`);
  // one line a file (vsce lets a `!` line win over any exclusion): on macOS libonnxruntime.1.30.0.dylib is a
  // byte-identical copy of libonnxruntime.1.dylib, the name the binding links (@rpath/libonnxruntime.1.dylib): 44 MB saved
  const files = readdirSync(dir).filter((f) => !(platform === 'darwin' && /^libonnxruntime\.\d+\.\d+\.\d+\.dylib$/.test(f)));
  const lines = files.map((f) => `!node_modules/onnxruntime-node/bin/${napi[0]}/${platform}/${arch}/${f}`).join('\n');
  // the package's README is the rewritten one (--readme-path), not the repository's
  return base.replace(all, lines).replace(/^!README\.md$/m, '');
}

/** README.md for the package: relative links made absolute (PEFT_STUDIO_REPO_URL) or plain text. */
function packageReadme(work) {
  const base = process.env['PEFT_STUDIO_REPO_URL']?.replace(/\/$/, '');
  const text = readFileSync(path.join(ROOT, 'README.md'), 'utf8').replace(/(!?)\[([^\]]*)\]\((?![a-z]+:|#)([^)\s]+)\)/gi, (_m, bang, label, href) =>
    base !== undefined ? `${bang}[${label}](${base}/${href.replace(/^\.\//, '')})`
      : label === href ? `\`${href}\` (in the source repository)` : `${label} (\`${href}\` in the source repository)`);
  const file = path.join(work, 'README.md');
  writeFileSync(file, text);
  return file;
}

const sizeMiB = (f) => (statSync(f).size / 1024 / 1024).toFixed(1);

execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'build.mjs'), '--production'], { cwd: ROOT, stdio: 'inherit' });
mkdirSync(outDir, { recursive: true });
// inside the repository: vsce takes --readme-path relative to it
const work = path.join(ROOT, 'dist-vsix', `.work-${process.pid}`);
mkdirSync(work, { recursive: true });
const vsce = path.join(ROOT, 'node_modules', '@vscode', 'vsce', 'vsce');
const readme = packageReadme(work);
const made = [];
for (const target of targets.length > 0 ? targets : TARGETS) {
  const ignore = path.join(work, `vscodeignore-${target}`);
  writeFileSync(ignore, ignoreFileFor(target));
  const out = path.join(outDir, `${pkg.name}-${target}-${pkg.version}.vsix`);
  rmSync(out, { force: true });
  // esbuild bundles every dependency but onnxruntime-node: the ignore list keeps only its runtime files of node_modules
  execFileSync(process.execPath, [vsce, 'package', '--target', target, '--ignoreFile', ignore, '--readme-path', path.relative(ROOT, readme).split(path.sep).join('/'), '--allow-missing-repository', '--out', out],
    { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  made.push(out);
}
rmSync(work, { recursive: true, force: true });
console.log('\npackages:');
for (const f of made) console.log(`  ${path.relative(ROOT, f)}  ${sizeMiB(f)} MiB`);
