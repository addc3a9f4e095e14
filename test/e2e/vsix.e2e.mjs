// The package as users get it: `npm run package` builds the linux-x64 .vsix, code-server installs it with
// --install-extension (no copied folder), and a command from it runs: Train Adapter trains a tiny fixture for a few
// steps through the onnxruntime-node binary inside the package and writes the adapter. Linux x64 only.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { REPO } from './harness.mjs';

const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8'));
const STEPS = 3;

function cli(...args) {
  const script = `require(${JSON.stringify(path.join(REPO, 'dist', 'cli.js'))}).main(process.argv.slice(2)).then((c) => { process.exitCode = c; })`;
  const r = spawnSync(process.execPath, ['-e', script, '--', 'peft-studio', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`peft-studio ${args.join(' ')} failed (${r.status}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

let out;

/** Packages linux-x64 into a temp folder (scripts/package.mjs, the `npm run package` script). */
export function vsix() {
  if (process.platform !== 'linux' || process.arch !== 'x64') throw new Error('the .vsix suite runs on linux-x64 only');
  out = mkdtempSync(path.join(tmpdir(), 'peft-e2e-vsix-out-'));
  process.once('exit', () => rmSync(out, { recursive: true, force: true }));
  const r = spawnSync(process.execPath, [path.join(REPO, 'scripts', 'package.mjs'), 'linux-x64', '--out', out], { cwd: REPO, encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) throw new Error(`npm run package failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const file = path.join(out, `${pkg.name}-linux-x64-${pkg.version}.vsix`);
  if (!existsSync(file)) throw new Error(`no ${file}`);
  return file;
}

/** A tiny llama fixture and a scaffolded project that trains for a few steps. */
export function workspace() {
  const dir = mkdtempSync(path.join(tmpdir(), 'peft-e2e-vsix-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  cli('fixture', '--arch', 'llama', '--size', 'tiny', path.join(dir, 'models', 'tiny'));
  cli('init', dir, '--model', path.join(dir, 'models', 'tiny'), '--template', 'instruct');
  const recipe = path.join(dir, 'peft-train.yaml');
  writeFileSync(recipe, readFileSync(recipe, 'utf8').replace(/^( +)max_steps: \d+/m, `$1max_steps: ${STEPS}`).replace(/^run_name: null/m, 'run_name: from-vsix'));
  return dir;
}

export const tests = [
  {
    name: 'the .vsix installs with --install-extension, and Train Adapter from it trains through its onnxruntime binary',
    timeoutMs: 180_000,
    async run(vscode, ws) {
      const installed = readdirSync(vscode.extensions).filter((d) => d.startsWith(`${pkg.publisher}.${pkg.name}-`));
      if (installed.length !== 1) throw new Error(`installed extensions: ${readdirSync(vscode.extensions).join(', ')}`);
      const dir = path.join(vscode.extensions, installed[0]);
      const bins = path.join(dir, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6');
      const platforms = readdirSync(bins);
      if (platforms.join() !== 'linux' || readdirSync(path.join(bins, 'linux')).join() !== 'x64') throw new Error(`packaged binaries: ${platforms.join(', ')}`);
      const deadline = Date.now() + 60_000;
      for (;;) {
        if ((await vscode.paletteEntries('PEFT: Train Adapter')).some((e) => e.includes('PEFT: Train Adapter'))) break;
        if (Date.now() > deadline) throw new Error('PEFT: Train Adapter is not in the palette');
      }
      await vscode.runCommand('PEFT: Train Adapter');
      const adapter = path.join(ws, 'runs', 'from-vsix', 'adapter', 'adapter_model.safetensors');
      const until = Date.now() + 150_000;
      while (!existsSync(adapter)) {
        if (Date.now() > until) throw new Error(`no adapter after 150 s; notifications: ${JSON.stringify(await vscode.notifications())}`);
        await new Promise((r) => setTimeout(r, 500));
      }
      const steps = readFileSync(path.join(ws, 'runs', 'from-vsix', 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l)).filter((r) => r.event === 'step');
      if (steps.length !== STEPS) throw new Error(`${steps.length} step records, expected ${STEPS}`);
      await vscode.screenshot('vsix-trained');
    },
  },
];
