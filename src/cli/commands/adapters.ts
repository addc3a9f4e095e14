// `peft-studio adapters register|list|promote|rollback`: versions of an adapter in the workspace registry
// (.peft-studio/adapters), and blue/green weights applied to a running server with --server.
import * as path from 'node:path';
import type { CliCommand } from '../command';
import { UsageError } from '../../core/errors';
import { pushRoute } from '../../core/serve/push';
import { type RegistryState, listRegistry, promote, register, rollback } from '../../core/serve/registry';

function describe(s: RegistryState): string {
  return s.route.map((r) => `v${r.version} ${r.weight}%`).join(', ') || 'not promoted';
}

function versionArg(v: string | undefined): number {
  const m = /^v?(\d+)$/.exec(v ?? '');
  if (m === null) throw new UsageError(`the version must look like v2, got "${v ?? ''}"`);
  return Number(m[1]);
}

export const adaptersCommand: CliCommand = {
  name: 'adapters',
  summary: 'Adapter versions in the workspace registry: register, list, promote (blue/green), rollback',
  help: [
    'Usage: peft-studio adapters register NAME ADAPTER_DIR [--model DIR]',
    '       peft-studio adapters list [--json]',
    '       peft-studio adapters promote NAME vN [--weight PERCENT] [--server URL]',
    '       peft-studio adapters rollback NAME [--server URL]',
    '',
    'The registry is .peft-studio/adapters/NAME/vN/ in the workspace: the adapter files and manifest.json (sha256 of',
    'every file, the source run and its metrics, the base model). A version whose files changed is refused at load.',
    'promote vN makes it current (100 %), or with --weight W a canary at W % beside current; rollback drops the',
    'canary, or else makes the previous version current again at 100 %. --server applies the new route to a',
    'running `peft-studio serve` (loading the versions it lacks) at once.',
    '',
    'Options:',
    '  --workspace DIR   the workspace (default: the cwd)',
    '  --model DIR       register: the base model folder (its config.json sha256 goes into the manifest)',
    '  --weight P        promote: share of requests for the new version, in (0, 100] (default 100)',
    '  --server URL      promote/rollback: a running server, e.g. http://127.0.0.1:8000',
    '  --api-key KEY     the server\'s key (or $PEFT_STUDIO_API_KEY)',
    '  --json            list: one JSON document',
  ].join('\n'),
  options: {
    workspace: { type: 'string' }, model: { type: 'string' }, weight: { type: 'string' }, server: { type: 'string' },
    'api-key': { type: 'string' }, json: { type: 'boolean' },
  },
  async run(args, io) {
    const v = args.values;
    const [sub, name, third] = args.positionals;
    const ws = path.resolve(typeof v['workspace'] === 'string' ? v['workspace'] : process.cwd());
    const apiKey = typeof v['api-key'] === 'string' ? v['api-key'] : process.env['PEFT_STUDIO_API_KEY'];
    const push = async (s: RegistryState): Promise<void> => {
      if (typeof v['server'] !== 'string') return;
      await pushRoute(v['server'], ws, name!, s, apiKey);
      io.out(`${v['server']}: route ${name} = ${describe(s)}`);
    };
    if (sub === 'list') {
      const all = listRegistry(ws);
      if (v['json'] === true) io.out(JSON.stringify(all, null, 2));
      else if (all.length === 0) io.out('No registered adapters (peft-studio adapters register NAME DIR).');
      else for (const e of all) io.out(`${e.name}: ${e.versions.map((x) => `v${x}`).join(' ')}  current v${e.state.current ?? '-'}  previous v${e.state.previous ?? '-'}  route ${describe(e.state)}`);
      return 0;
    }
    if (name === undefined) throw new UsageError(`adapters ${sub ?? ''} needs NAME`, 'See peft-studio adapters --help');
    if (sub === 'register') {
      if (third === undefined) throw new UsageError('adapters register needs NAME ADAPTER_DIR');
      const r = register(ws, name, third, typeof v['model'] === 'string' ? path.resolve(v['model']) : undefined);
      io.out(`Registered ${name} v${r.version} in ${r.dir}`);
      return 0;
    }
    if (sub === 'promote') {
      const weight = v['weight'] === undefined ? 100 : Number(v['weight']);
      const s = promote(ws, name, versionArg(third), weight);
      io.out(`${name}: ${describe(s)}`);
      await push(s);
      return 0;
    }
    if (sub === 'rollback') {
      const s = rollback(ws, name);
      io.out(`${name}: rolled back to ${describe(s)}`);
      await push(s);
      return 0;
    }
    throw new UsageError(`unknown sub-command "${sub ?? ''}"`, 'Use register, list, promote or rollback');
  },
};
