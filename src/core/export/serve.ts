// `export serve vllm|lorax`: docker-compose.yaml + k8s.yaml that serve a base model with LoRA adapters on vLLM
// (vllm serve BASE --enable-lora --lora-modules NAME=PATH --max-lora-rank R --max-loras N) or LoRAX, plus the lint.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pyYaml } from './pyYaml';
import { InputError, UsageError } from '../errors';
import { validate } from '../validate';
import { maxRankOf, vllmMaxLoraRank, type ServingEngine } from '../validate/serving';
import { parseJsonText } from '../util/safeJson';

export const SERVE_ENGINES = ['vllm', 'lorax'] as const;
export type ServeEngine = (typeof SERVE_ENGINES)[number];
/** Images the files name (tags the engines publish). */
export const SERVE_IMAGES: Record<ServeEngine, string> = { vllm: 'vllm/vllm-openai:v0.11.0', lorax: 'ghcr.io/predibase/lorax:main' };

export interface ServeAdapter {
  name: string;
  dir: string;
}

export interface ServeRequest {
  engine: ServeEngine;
  model: string;
  adapters: ServeAdapter[];
}

export interface ServeProblem {
  adapter: string;
  severity: 'info' | 'warning' | 'error';
  code: string;
  message: string;
}

export interface ServeExport {
  files: Map<string, string>;
  maxLoraRank: number;
  problems: ServeProblem[];
}

/** `NAME=DIR` → {name, dir}; the name must be a plain identifier (it becomes a model name and a mount path). */
export function parseAdapterArg(arg: string): ServeAdapter {
  const eq = arg.indexOf('=');
  const name = eq > 0 ? arg.slice(0, eq) : '';
  const dir = eq > 0 ? arg.slice(eq + 1) : '';
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name) || dir === '') throw new UsageError(`--adapter needs NAME=DIR with a plain NAME (letters, digits, _ . -), got "${arg}"`);
  return { name, dir };
}

const MOUNT = (name: string): string => `/adapters/${name}`;

function readAdapter(a: ServeAdapter): { r: number; text: string; file: string } {
  const file = path.resolve(a.dir, 'adapter_config.json');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new InputError('adapter-config-not-found', `adapter "${a.name}": no adapter_config.json`, { file });
  }
  const parsed = parseJsonText(text, file, `adapter "${a.name}": adapter_config.json`, 0, 'adapter-config-json');
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new InputError('adapter-config-json', `adapter "${a.name}": adapter_config.json must be a JSON object`, { file });
  const raw = parsed as Record<string, unknown>;
  return { r: maxRankOf(raw['r'], raw['rank_pattern']), text, file };
}

function engineArgs(req: ServeRequest, maxRank: number): string[] {
  if (req.engine === 'vllm') {
    return [req.model, '--enable-lora', '--lora-modules', ...req.adapters.map((a) => `${a.name}=${MOUNT(a.name)}`),
      '--max-lora-rank', String(maxRank), '--max-loras', String(req.adapters.length), '--host', '0.0.0.0', '--port', '8000'];
  }
  // LoRAX loads adapters per request (adapter_id = the mounted path; local is the default source here); preloading
  // (lorax-launcher --preloaded-adapter-ids) avoids the cold start and fails at start-up if an adapter cannot be read.
  return ['--model-id', req.model, '--default-adapter-source', 'local', '--preloaded-adapter-source', 'local', '--port', '8000',
    '--max-active-adapters', String(Math.max(1, req.adapters.length)),
    ...req.adapters.flatMap((a) => ['--preloaded-adapter-ids', MOUNT(a.name)])];
}

export function buildServeExport(req: ServeRequest): ServeExport {
  const names = new Set<string>();
  for (const a of req.adapters) {
    if (names.has(a.name)) throw new UsageError(`--adapter name "${a.name}" given twice`);
    names.add(a.name);
  }
  const problems: ServeProblem[] = [];
  let rank = 1;
  const lintEngine: ServingEngine = req.engine;
  for (const a of req.adapters) {
    const { r, text, file } = readAdapter(a);
    rank = Math.max(rank, r);
    for (const p of validate(text, { path: file, kind: 'adapter_config', model: null, servingEngines: [lintEngine] })) {
      if (p.data?.['engine'] === lintEngine || p.severity === 'error') problems.push({ adapter: a.name, severity: p.severity, code: p.code, message: p.message });
    }
  }
  const maxLoraRank = req.engine === 'vllm' ? (vllmMaxLoraRank(rank) ?? rank) : rank;
  const args = engineArgs(req, maxLoraRank);
  const service = req.engine === 'vllm' ? 'vllm' : 'lorax';
  const image = SERVE_IMAGES[req.engine];
  const compose = {
    services: {
      [service]: {
        image,
        ...(req.engine === 'vllm' ? { entrypoint: ['vllm', 'serve'] } : {}),
        command: args,
        ports: ['8000:8000'],
        ipc: 'host',
        environment: ['HUGGING_FACE_HUB_TOKEN=${HUGGING_FACE_HUB_TOKEN:-}'],
        volumes: [...req.adapters.map((a) => `${path.resolve(a.dir)}:${MOUNT(a.name)}:ro`), 'hf-cache:/root/.cache/huggingface'],
        deploy: { resources: { reservations: { devices: [{ driver: 'nvidia', count: 'all', capabilities: ['gpu'] }] } } },
      },
    },
    volumes: { 'hf-cache': {} },
  };
  const labels = { app: `${service}-lora` };
  const deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: `${service}-lora`, labels },
    spec: {
      replicas: 1,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          containers: [{
            name: service,
            image,
            ...(req.engine === 'vllm' ? { command: ['vllm', 'serve'] } : {}),
            args,
            ports: [{ containerPort: 8000 }],
            resources: { limits: { 'nvidia.com/gpu': 1 } },
            volumeMounts: [...req.adapters.map((a) => ({ name: 'adapters', mountPath: MOUNT(a.name), subPath: a.name, readOnly: true })), { name: 'shm', mountPath: '/dev/shm' }],
            readinessProbe: { httpGet: { path: '/health', port: 8000 }, initialDelaySeconds: 30, periodSeconds: 10 },
          }],
          volumes: [{ name: 'adapters', persistentVolumeClaim: { claimName: 'lora-adapters' } }, { name: 'shm', emptyDir: { medium: 'Memory' } }],
        },
      },
    },
  };
  const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name: `${service}-lora` }, spec: { selector: labels, ports: [{ port: 8000, targetPort: 8000 }] } };
  const header = `# ${req.engine} serving ${req.model} with ${req.adapters.map((a) => a.name).join(', ')}. Written by peft-studio export serve.`;
  const files = new Map<string, string>([
    ['docker-compose.yaml', `${header}\n${pyYaml(compose)}`],
    ['k8s.yaml', `${header}\n# The adapter folders go on the PersistentVolumeClaim lora-adapters, one sub-folder per name.\n${pyYaml(deployment)}---\n${pyYaml(svc)}`],
  ]);
  return { files, maxLoraRank, problems };
}

export function writeServeExport(exp: ServeExport, outDir: string): string[] {
  fs.mkdirSync(outDir, { recursive: true });
  for (const [rel, text] of exp.files) fs.writeFileSync(path.join(outDir, rel), text);
  return [...exp.files.keys()];
}
