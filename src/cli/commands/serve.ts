// `peft-studio serve --model M [--adapter NAME=DIR]... [--route NAME=A:W,B:W]...`: the OpenAI-compatible adapter
// server of core/serve, in the foreground until SIGINT/SIGTERM; one log line per request on stderr.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CliCommand } from '../command';
import { InputError, UsageError } from '../../core/errors';
import { resolveModel } from '../../core/hf/resolveModel';
import { chooseDevice, parseDeviceRequest, runtimeProbes } from '../../core/runtime/device';
import { parseRouteTargets, type RouteTarget } from '../../core/serve/models';
import { listRegistry, routeOf, servedName, versionDir } from '../../core/serve/registry';
import { AdapterServer } from '../../core/serve/server';
import { modelDirOf } from '../modelArg';

function pairs(v: unknown, flag: string): [string, string][] {
  return (Array.isArray(v) ? v : []).map((s: string) => {
    const i = s.indexOf('=');
    if (i <= 0 || i === s.length - 1) throw new UsageError(`${flag} needs NAME=VALUE, got "${s}"`);
    return [s.slice(0, i), s.slice(i + 1)];
  });
}

function int(v: unknown, flag: string, lo: number, hi: number): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (!Number.isInteger(x) || x < lo || x > hi) throw new UsageError(`${flag} needs an integer in [${lo}, ${hi}], got "${String(v)}"`);
  return x;
}

export const serveCommand: CliCommand = {
  name: 'serve',
  summary: 'Serve a base model and its LoRA adapters over an OpenAI-compatible HTTP API',
  help: [
    'Usage: peft-studio serve --model DIR_OR_ID [--adapter NAME=DIR]... [--route NAME=ADAPTER:WEIGHT,ADAPTER:WEIGHT]...',
    '         [--registered NAME]... [--port 8000] [--host 127.0.0.1] [--api-key KEY] [--allow-root DIR]...',
    '         [--max-tokens 2048] [--max-body-bytes 1048576] [--timeout-s 300] [--max-batch 16] [--route-seed N] [--device D]',
    '',
    'Endpoints: GET /v1/models, POST /v1/completions, POST /v1/chat/completions (stream: true = server-sent events),',
    'POST /v1/load_lora_adapter {"lora_name","lora_path"}, POST /v1/unload_lora_adapter {"lora_name"},',
    'GET|POST /v1/routes {"name","targets":{"ADAPTER":WEIGHT}}, GET /health, GET /metrics (Prometheus).',
    'Concurrent requests, whatever their adapters, are batched into one forward pass per step.',
    '',
    'Options:',
    '  --model DIR_OR_ID      base model folder or hub id (its folder name is its model name)',
    '  --adapter NAME=DIR     serve the PEFT adapter in DIR as model NAME (repeatable)',
    '  --route NAME=A:W,B:W   model NAME sends each request to adapter A or B with weights W (the base by its name too)',
    '  --registered NAME      serve the registry adapter NAME (.peft-studio/adapters): its versions as NAME@vN and the',
    '                         route NAME with the registry\'s weights',
    '  --workspace DIR        the workspace of the registry (default: the cwd)',
    '  --host H               default 127.0.0.1 (loopback only); 0.0.0.0 exposes the server to the network',
    '  --port P               default 8000 (0: any free port; the address is printed)',
    '  --api-key KEY          require Authorization: Bearer KEY (also read from $PEFT_STUDIO_API_KEY)',
    '  --allow-root DIR       folders from which /v1/load_lora_adapter may load adapters (default: the cwd)',
    '  --max-tokens N         cap of max_tokens (default 2048)',
    '  --max-body-bytes N     request body cap (default 1 MiB)',
    '  --timeout-s S          a request is cut off after S seconds (default 300)',
    '  --max-batch N          most requests in one batch (default 16)',
    '  --route-seed N         seed of the route draws (default: the time)',
    '  --device D             auto (default), cpu, webgpu or cuda',
  ].join('\n'),
  options: {
    model: { type: 'string' }, adapter: { type: 'string', multiple: true }, route: { type: 'string', multiple: true },
    registered: { type: 'string', multiple: true }, workspace: { type: 'string' }, host: { type: 'string' }, port: { type: 'string' },
    'api-key': { type: 'string' }, 'allow-root': { type: 'string', multiple: true }, 'max-tokens': { type: 'string' },
    'max-body-bytes': { type: 'string' }, 'timeout-s': { type: 'string' }, 'max-batch': { type: 'string' }, 'route-seed': { type: 'string' },
    device: { type: 'string' },
  },
  async run(args, io) {
    const v = args.values;
    if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0]}"`, 'The model goes in --model');
    if (typeof v['model'] !== 'string') throw new UsageError('missing --model', 'Example: peft-studio serve --model ./my-model --adapter chat=./runs/r1/adapter');
    const adapters = pairs(v['adapter'], '--adapter').map(([name, dir]) => {
      if (!fs.existsSync(dir)) throw new InputError('serve-adapter', `the folder of adapter "${name}" does not exist`, { file: path.resolve(dir) });
      return { name, dir };
    });
    const routes: { name: string; targets: RouteTarget[] }[] = pairs(v['route'], '--route').map(([name, spec]) => ({ name, targets: parseRouteTargets(spec, `--route ${name}`) }));
    const workspace = path.resolve(typeof v['workspace'] === 'string' ? v['workspace'] : process.cwd());
    for (const name of Array.isArray(v['registered']) ? v['registered'] : []) {
      const entry = listRegistry(workspace).find((e) => e.name === name);
      if (entry === undefined || entry.versions.length === 0) throw new InputError('serve-registered', `no adapter "${name}" in the registry`, { file: workspace, hint: 'Register one with: peft-studio adapters register NAME DIR' });
      for (const ver of entry.state.route.map((r) => r.version)) adapters.push({ name: servedName(name, ver), dir: versionDir(workspace, name, ver) });
      routes.push({ name, targets: routeOf(name, entry.state) });
    }
    const request = parseDeviceRequest(v['device'] ?? 'auto', '--device');
    const device = (await chooseDevice(request, runtimeProbes)).device;
    const dir = fs.existsSync(v['model']) ? modelDirOf(v['model']) : await resolveModel(v['model']);
    const apiKey = typeof v['api-key'] === 'string' ? v['api-key'] : process.env['PEFT_STUDIO_API_KEY'];
    const opt = {
      port: int(v['port'], '--port', 0, 65535), maxTokens: int(v['max-tokens'], '--max-tokens', 1, 1 << 20),
      maxBodyBytes: int(v['max-body-bytes'], '--max-body-bytes', 1024, 1 << 30), maxBatch: int(v['max-batch'], '--max-batch', 1, 256),
      routeSeed: int(v['route-seed'], '--route-seed', 0, 2 ** 32 - 1),
    };
    const timeout = int(v['timeout-s'], '--timeout-s', 1, 86400);
    const server = await AdapterServer.start({
      modelDir: dir, baseName: fs.existsSync(v['model']) ? path.basename(dir) : v['model'], adapters, routes, device,
      host: typeof v['host'] === 'string' ? v['host'] : '127.0.0.1',
      allowRoots: Array.isArray(v['allow-root']) ? v['allow-root'].map((r) => path.resolve(r)) : [process.cwd()],
      ...(apiKey !== undefined && apiKey !== '' ? { apiKey } : {}),
      ...(timeout !== undefined ? { requestTimeoutMs: timeout * 1000 } : {}),
      ...Object.fromEntries(Object.entries(opt).filter(([, x]) => x !== undefined)),
      log: (line) => io.err(line),
    });
    io.err(`peft-studio serve: ${server.table.names().map((n) => n.id).join(', ')} on ${device}`);
    io.out(`Listening on ${server.url}`);
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolve();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    io.err('peft-studio serve: shutting down');
    await server.close();
    return 0;
  },
};
