// The README.md model card of a merged model: base, adapter (r, alpha, targets), the training run that made it
// (name, steps, final loss, eval loss) when the adapter sits in a run folder, and how to load the result.
import * as path from 'node:path';
import type { ModelInventory } from '../hf/types';
import { isRunDir, readRun, summarize } from '../runs/readRuns';
import type { LoadedAdapter } from './adapterWeights';

/** The run folder an adapter came from: RUN_DIR/adapter or RUN_DIR/checkpoints/step-N. */
export function runDirOfAdapter(adapterDir: string): string | null {
  const parent = path.dirname(adapterDir);
  if (isRunDir(parent)) return parent;
  const grand = path.dirname(parent);
  if (path.basename(parent) === 'checkpoints' && isRunDir(grand)) return grand;
  return null;
}

function yamlString(s: string): string {
  return JSON.stringify(s);
}

export function modelCard(o: { baseName: string; adapter: LoadedAdapter; dtype: string; inv: ModelInventory }): string {
  const cfg = o.adapter.config;
  const targets = [...new Set(o.adapter.modules.map((m) => m.module.name.replace(/^.*\.(\d+)\./, '').replace(/^.*\./, '')))].sort();
  const ranks = [...new Set(o.adapter.modules.map((m) => m.r))].join('/');
  const lines = [
    '---',
    `base_model: ${yamlString(o.baseName)}`,
    'library_name: transformers',
    'tags:',
    '- peft-studio',
    '- lora',
    '- merged',
    '---',
    '',
    `# ${path.basename(path.resolve(o.adapter.dir)) === 'adapter' ? path.basename(path.dirname(o.adapter.dir)) : path.basename(o.adapter.dir)} (merged)`,
    '',
    `A LoRA adapter merged into its base model by PEFT Studio (W' = W + scaling * B * A); load it as a plain model,`,
    'no PEFT needed.',
    '',
    `- Base model: \`${o.baseName}\` (${o.inv.spec.modelType}, ${o.inv.totalParameters.toLocaleString('en-US')} parameters)`,
    `- Adapter: \`${o.adapter.dir}\``,
    `- LoRA: r=${ranks}, lora_alpha=${cfg.lora_alpha}${cfg.use_rslora ? ' (rsLoRA)' : ''}, ${o.adapter.modules.length} modules (${targets.join(', ')})`,
    `- Weights: ${o.dtype}`,
  ];
  const runDir = runDirOfAdapter(o.adapter.dir);
  if (runDir !== null) {
    const view = readRun(runDir);
    const s = summarize(view);
    lines.push(`- Training run: \`${s.name}\` (${s.status}, step ${s.lastStep}${s.maxSteps !== undefined ? ` of ${s.maxSteps}` : ''}${s.device !== undefined ? `, ${s.device}` : ''})`);
    if (s.finalLoss !== undefined) lines.push(`- Final training loss: ${s.finalLoss.toFixed(4)}`);
    else if (s.lastLoss !== undefined) lines.push(`- Last training loss: ${s.lastLoss.toFixed(4)}`);
    const lastEval = view.evals[view.evals.length - 1];
    if (lastEval !== undefined) lines.push(`- Eval loss: ${lastEval.eval_loss.toFixed(4)} (step ${lastEval.step})`);
  }
  lines.push('', '## Use', '', '```python', 'from transformers import AutoModelForCausalLM, AutoTokenizer', `model = AutoModelForCausalLM.from_pretrained("path/to/this/folder")`,
    `tokenizer = AutoTokenizer.from_pretrained("path/to/this/folder")`, '```', '');
  return lines.join('\n');
}

