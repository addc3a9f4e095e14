// A tiny training project for trainer, CLI and worker tests: the tiny Llama fixture, the sample data set in
// prompt_completion format, an adapter_config.json and a recipe writer.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeFixture } from '../../../src/core/fixtures/makeFixture';
import { writeSampleData } from '../../../src/core/fixtures/sampleData';

export async function makeProject(proj: string): Promise<void> {
  await makeFixture({ arch: 'llama', outDir: join(proj, 'model'), size: 'tiny', seed: 3 });
  writeSampleData(join(proj, 'data'), { trainCount: 24, evalCount: 4, formats: ['prompt_completion'] });
  writeFileSync(
    join(proj, 'adapter_config.json'),
    JSON.stringify({ r: 4, lora_alpha: 8, lora_dropout: 0.1, target_modules: ['q_proj', 'v_proj', 'down_proj'], task_type: 'CAUSAL_LM' }),
  );
}

export interface RecipeExtra {
  training?: string;
  dataset?: string;
  top?: string;
  lr?: string;
  warmup?: number;
}

/** peft-train.yaml text; `training`/`dataset`/`top` are extra YAML lines for those sections. */
export const recipe = (extra: RecipeExtra = {}): string => `base_model: ./model
dataset:
  train: data/prompt_completion/train.jsonl
  eval: data/prompt_completion/eval.jsonl
  max_length: 96
${extra.dataset ?? ''}training:
  per_device_train_batch_size: 2
  gradient_accumulation_steps: 2
  learning_rate: ${extra.lr ?? '5.0e-3'}
  warmup_steps: ${extra.warmup ?? 2}
  seed: 7
${extra.training ?? ''}device: cpu
output_dir: runs
${extra.top ?? ''}`;
