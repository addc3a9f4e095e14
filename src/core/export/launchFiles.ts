// The launch side of an exported TRL project: requirements.txt (pinned), sky.yaml (SkyPilot, multi-node rank and
// address variables), k8s-job.yaml (an indexed Job + headless Service) and the README that explains all three.
import { pyYaml } from './pyYaml';
import { OPTIONAL_PINS, TRL_PINS } from './pins';
import type { FidelityNote, TrlExportOptions } from './trlConfig';

export interface LaunchContext {
  runName: string;
  opts: TrlExportOptions;
  accelerator: string;
  packing: boolean;
  /** Relative to OUT_DIR. */
  runDir: string;
  recipeFile: string;
  notes: FidelityNote[];
}

const LAUNCH = 'accelerate launch --config_file accelerate_config.yaml';
const SCRIPT = 'train.py --config sft_config.yaml';

export function requirementsTxt(opts: TrlExportOptions, packing: boolean): string {
  const lines = Object.entries(TRL_PINS).map(([k, v]) => `${k}==${v}`);
  if (opts.strategy === 'zero2' || opts.strategy === 'zero3') lines.push(`deepspeed==${OPTIONAL_PINS.deepspeed}`);
  if (opts.quantization === '4bit') lines.push(`bitsandbytes==${OPTIONAL_PINS.bitsandbytes}`);
  if (packing) lines.push(`flash-attn==${OPTIONAL_PINS['flash-attn']}`);
  return `# Written by peft-studio export trl; versions the exported configs were checked against.\n${lines.join('\n')}\n`;
}

/** The multi-node accelerate launch, with rank and head address from the environment. */
function multiNodeLaunch(rank: string, nodes: string, gpusPerNode: string, headIp: string): string {
  return `${LAUNCH} \\\n  --num_machines ${nodes} --machine_rank ${rank} \\\n  --num_processes $((${nodes} * ${gpusPerNode})) \\\n  --main_process_ip ${headIp} --main_process_port 29500 \\\n  ${SCRIPT}\n`;
}

export function skyYaml(c: LaunchContext): string {
  const multi = c.opts.nodes > 1;
  const task: Record<string, unknown> = {
    name: c.runName,
    resources: { accelerators: `${c.accelerator}:${c.opts.gpus}` },
    num_nodes: c.opts.nodes,
    workdir: '.',
    setup: 'pip install -r requirements.txt\n',
    run: multi
      ? 'HEAD_IP=$(echo "$SKYPILOT_NODE_IPS" | head -n1)\n' + multiNodeLaunch('$SKYPILOT_NODE_RANK', '$SKYPILOT_NUM_NODES', '$SKYPILOT_NUM_GPUS_PER_NODE', '$HEAD_IP')
      : `${LAUNCH} ${SCRIPT}\n`,
  };
  return `# SkyPilot task (sky launch sky.yaml). Written by peft-studio export trl.\n${pyYaml(task)}`;
}

export function k8sJobYaml(c: LaunchContext, image = `pytorch/pytorch:${TRL_PINS.torch}-cuda12.8-cudnn9-devel`): string {
  const name = c.runName.toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'peft-studio';
  const nodes = c.opts.nodes;
  const service = { apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { clusterIP: 'None', selector: { 'job-name': name } } };
  const script = ['cd /work', 'pip install -r requirements.txt',
    nodes > 1 ? multiNodeLaunch('$JOB_COMPLETION_INDEX', String(nodes), String(c.opts.gpus), `${name}-0.${name}`).trimEnd() : `${LAUNCH} ${SCRIPT}`].join('\n') + '\n';
  const job = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name },
    spec: {
      completions: nodes,
      parallelism: nodes,
      completionMode: 'Indexed',
      backoffLimit: 0,
      template: {
        spec: {
          subdomain: name,
          restartPolicy: 'Never',
          containers: [{
            name: 'train',
            image,
            command: ['bash', '-c', script],
            resources: { limits: { 'nvidia.com/gpu': c.opts.gpus } },
            volumeMounts: [{ name: 'work', mountPath: '/work' }, { name: 'shm', mountPath: '/dev/shm' }],
          }],
          volumes: [{ name: 'work', persistentVolumeClaim: { claimName: `${name}-work` } }, { name: 'shm', emptyDir: { medium: 'Memory' } }],
        },
      },
    },
  };
  return `# Kubernetes: kubectl apply -f k8s-job.yaml (the project folder must be on the volume ${name}-work at /work).\n` +
    `${pyYaml(service)}---\n${pyYaml(job)}`;
}

export function readme(c: LaunchContext): string {
  const warnings = c.notes.filter((n) => n.level === 'warning');
  const infos = c.notes.filter((n) => n.level === 'info');
  const s = c.opts.strategy;
  const out = [
    `# ${c.runName}: PEFT Studio recipe exported for TRL + accelerate`,
    '',
    `Exported from \`${c.recipeFile}\` with \`--accelerate ${s}\`, ${c.opts.gpus} GPU(s) × ${c.opts.nodes} node(s)${c.opts.quantization ? `, ${c.opts.quantization} quantization` : ''}.`,
    '',
    '| file | what |',
    '| --- | --- |',
    '| `sft_config.yaml` | TRL / transformers settings (`trl sft --config` reads it too) |',
    '| `adapter_config.json` | the full PEFT LoraConfig (train.py passes every field; TRL\'s CLI has flags for a few) |',
    '| `peft_studio.json` | data format, prompt masking, eval file, init adapter: what TRL\'s CLI cannot say |',
    '| `accelerate_config.yaml` | the distributed strategy |',
    '| `train.py` | our five data formats and label masking, TRL\'s SFTTrainer, the metrics.jsonl callback |',
    '| `requirements.txt` | pinned versions |',
    '| `sky.yaml`, `k8s-job.yaml` | cluster launch |',
    '',
    '## Launch',
    '',
    '### Locally (one machine, all its GPUs)',
    '```bash',
    'pip install -r requirements.txt',
    `${LAUNCH} ${SCRIPT}`,
    '```',
    'Without train.py, TRL\'s own CLI reads the same settings (text, prompt_completion and messages data only; see the differences below):',
    '`trl sft --config sft_config.yaml --accelerate_config accelerate_config.yaml` (TRL passes the accelerate config on to `accelerate launch`).',
    '',
    '### SkyPilot',
    '```bash',
    'sky launch -c peft sky.yaml',
    `rsync -az peft:sky_workdir/${c.runDir}/ ${c.runDir}/   # the run folder, for PEFT Studio's Runs view (sky adds the ssh alias)`,
    '```',
    `sky.yaml asks for \`${c.accelerator}:${c.opts.gpus}\` on ${c.opts.nodes} node(s)${c.opts.nodes > 1 ? '; every node runs accelerate with its `$SKYPILOT_NODE_RANK` and the first of `$SKYPILOT_NODE_IPS` as the head' : ''}.`,
    '',
    '### Kubernetes',
    '```bash',
    'kubectl apply -f k8s-job.yaml',
    '```',
    `An indexed Job of ${c.opts.nodes} pod(s) behind a headless Service; ${c.opts.nodes > 1 ? 'the pod index `$JOB_COMPLETION_INDEX` is the machine rank and pod 0 the head. ' : ''}The project folder must be on the PersistentVolumeClaim it mounts at /work.`,
    '',
    '## The run folder',
    '',
    `train.py writes \`${c.runDir}/metrics.jsonl\` and \`run.json\` in PEFT Studio's format (main process only) and the adapter to \`${c.runDir}/adapter/\`. ` +
      'PEFT Studio shows run folders under this project\'s `runs/` (and the recipe\'s output_dir) in the Runs tree and the dashboard next to local runs; **PEFT: Launch on Cluster** pulls it there while it trains.',
    '',
    '## Where this differs from a local PEFT Studio run',
    '',
    ...warnings.map((n) => `- **${n.topic}** (warning): ${n.message}`),
    ...infos.map((n) => `- **${n.topic}**: ${n.message}`),
    '',
  ];
  return out.join('\n');
}
