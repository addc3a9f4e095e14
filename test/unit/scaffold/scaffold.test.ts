import { strict as assert } from 'node:assert';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse } from 'yaml';
import { main } from '../../../src/cli/main';
import type { CliIO } from '../../../src/cli/command';
import { InputError } from '../../../src/core/errors';
import { parseLoraConfig } from '../../../src/core/peft/loraConfig';
import { projectFolderProblem, scaffoldProject } from '../../../src/core/scaffold/scaffold';
import { parseRecipe } from '../../../src/core/train/recipe';
import { type HubServer, startHubServer } from '../../helpers/hubServer';

/** Every key of CONTRACTS.md §1 peft-train.yaml. */
const CONTRACT_KEYS = ['base_model', 'adapter_config', 'init_adapter', 'dataset', 'dataset.train', 'dataset.eval', 'dataset.format',
  'dataset.max_length', 'dataset.packing', 'dataset.shuffle', 'dataset.train_on_prompt', 'training', 'training.max_steps',
  'training.num_train_epochs', 'training.per_device_train_batch_size', 'training.gradient_accumulation_steps',
  'training.learning_rate', 'training.lr_scheduler_type', 'training.warmup_steps', 'training.weight_decay', 'training.adam_beta1',
  'training.adam_beta2', 'training.adam_epsilon', 'training.max_grad_norm', 'training.seed', 'training.logging_steps',
  'training.eval_steps', 'training.save_steps', 'device', 'output_dir', 'run_name'];
const CONTRACT_DEFAULTS: Record<string, unknown> = {
  'adapter_config': './adapter_config.json', 'init_adapter': null, 'dataset.max_length': 512, 'dataset.packing': false,
  'dataset.shuffle': true, 'dataset.train_on_prompt': false, 'training.num_train_epochs': 1, 'training.per_device_train_batch_size': 4,
  'training.gradient_accumulation_steps': 1, 'training.learning_rate': 2e-4, 'training.lr_scheduler_type': 'linear',
  'training.warmup_steps': 0, 'training.weight_decay': 0, 'training.adam_beta1': 0.9, 'training.adam_beta2': 0.999,
  'training.adam_epsilon': 1e-8, 'training.max_grad_norm': 1, 'training.seed': 42, 'training.logging_steps': 1,
  'training.eval_steps': 0, 'training.save_steps': 0, 'device': 'auto', 'output_dir': 'runs', 'run_name': null,
};

const LLAMA_CONFIG = { architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: 256, hidden_size: 64, intermediate_size: 128,
  num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 1024, rms_norm_eps: 1e-6 };
const GPT2_CONFIG = { architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', vocab_size: 256, n_embd: 64, n_layer: 2, n_head: 4, n_positions: 128 };

function flatten(o: unknown, prefix = '', out: Record<string, unknown> = {}): Record<string, unknown> {
  if (typeof o === 'object' && o !== null && !Array.isArray(o)) {
    for (const [k, v] of Object.entries(o)) {
      const p = prefix === '' ? k : `${prefix}.${k}`;
      out[p] = v;
      flatten(v, p, out);
    }
  }
  return out;
}

async function readLines(file: string): Promise<Record<string, unknown>[]> {
  return (await fs.readFile(file, 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

function captureIO(): CliIO & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (t) => stdout.push(t), err: (t) => stderr.push(t), isTTY: false };
}

describe('scaffoldProject', () => {
  let tmp: string;
  let llama: string;
  let gpt2: string;
  beforeEach(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'peft-scaffold-'));
    llama = path.join(tmp, 'models', 'tiny-llama');
    gpt2 = path.join(tmp, 'models', 'tiny-gpt2');
    await fs.mkdir(llama, { recursive: true });
    await fs.mkdir(gpt2, { recursive: true });
    await fs.writeFile(path.join(llama, 'config.json'), JSON.stringify(LLAMA_CONFIG));
    await fs.writeFile(path.join(llama, 'tokenizer_config.json'), JSON.stringify({ chat_template: '{% for m in messages %}{{ m.content }}{% endfor %}' }));
    await fs.writeFile(path.join(gpt2, 'config.json'), JSON.stringify(GPT2_CONFIG));
  });
  afterEach(async () => { await fs.rm(tmp, { recursive: true, force: true }); });

  it('writes a llama project: PEFT adapter_config, a recipe with every contract key, chat sample data', async () => {
    const proj = path.join(tmp, 'proj');
    const r = await scaffoldProject({ dir: proj, model: 'models/tiny-llama', baseDir: tmp });
    assert.equal(r.template, 'chat', 'the model has a chat template');
    assert.deepEqual(r.files, ['adapter_config.json', 'peft-train.yaml', 'data/train.jsonl', 'data/eval.jsonl'].map((f) => path.join(proj, f)));

    const yamlText = await fs.readFile(path.join(proj, 'peft-train.yaml'), 'utf8');
    const flat = flatten(parse(yamlText));
    for (const k of CONTRACT_KEYS) assert.ok(k in flat, `peft-train.yaml lacks ${k}`);
    assert.deepEqual(Object.keys(flat).filter((k) => !CONTRACT_KEYS.includes(k)), [], 'no keys beyond the contract');
    for (const [k, v] of Object.entries(CONTRACT_DEFAULTS)) assert.deepEqual(flat[k], v, k);
    assert.equal(flat['base_model'], '../models/tiny-llama');
    assert.equal(flat['dataset.train'], 'data/train.jsonl');
    assert.equal(flat['dataset.format'], 'messages');
    const maxSteps = flat['training.max_steps'] as number;
    assert.ok(maxSteps > 0 && maxSteps <= 50, `max_steps ${maxSteps} for a first run`);
    for (const line of yamlText.split('\n')) {
      if (/^\s*[a-z_]+:\s*\S/.test(line)) assert.match(line, / # \S/, `a comment on "${line}"`);
    }
    // the trainer's own parser accepts it and finds the model folder relative to the YAML
    const recipe = parseRecipe(yamlText, path.join(proj, 'peft-train.yaml'));
    assert.equal(recipe.base_model, llama);

    const adapterText = await fs.readFile(path.join(proj, 'adapter_config.json'), 'utf8');
    const adapter = JSON.parse(adapterText) as Record<string, unknown>;
    assert.equal(adapter['peft_type'], 'LORA');
    assert.equal(adapter['task_type'], 'CAUSAL_LM');
    assert.equal(adapter['r'], 16);
    assert.equal(adapter['lora_alpha'], 32);
    assert.equal(adapter['lora_dropout'], 0.05);
    assert.deepEqual(adapter['target_modules'], ['q_proj', 'v_proj']);
    assert.equal(adapter['base_model_name_or_path'], '../models/tiny-llama');
    assert.equal(adapter['bias'], 'none');
    assert.deepEqual(Object.keys(adapter), ['peft_type', 'task_type', 'base_model_name_or_path', 'r', 'lora_alpha', 'lora_dropout', 'target_modules', 'bias'],
      'only the keys a user sets; PEFT defaults implied');
    assert.match(adapterText, /"lora_dropout": 0\.05,/);
    assert.match(adapterText, /"target_modules": \["q_proj", "v_proj"\],/);
    // the parser fills in PEFT's defaults for the rest
    const parsed = parseLoraConfig(adapter, 'adapter_config.json');
    assert.equal(parsed.use_rslora, false);
    assert.equal(parsed.init_lora_weights, true);
    assert.equal(parsed.fan_in_fan_out, false);

    const train = await readLines(path.join(proj, 'data', 'train.jsonl'));
    const evalSet = await readLines(path.join(proj, 'data', 'eval.jsonl'));
    assert.equal(train.length, 120);
    assert.equal(evalSet.length, 20);
    for (const ex of [...train, ...evalSet]) {
      const msgs = ex['messages'] as { role: string; content: string }[];
      assert.ok(Array.isArray(msgs) && msgs.at(-1)?.role === 'assistant' && msgs.some((m) => m.role === 'user'));
    }
    const trainText = new Set(train.map((e) => JSON.stringify(e)));
    assert.ok(evalSet.every((e) => !trainText.has(JSON.stringify(e))), 'eval examples are held out');
  });

  it('uses c_attn for gpt2 and the instruct (alpaca) and text formats', async () => {
    await scaffoldProject({ dir: path.join(tmp, 'a'), model: gpt2 });
    const adapter = JSON.parse(await fs.readFile(path.join(tmp, 'a', 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(adapter['target_modules'], ['c_attn']);
    assert.equal(adapter['base_model_name_or_path'], gpt2, 'an absolute model path stays absolute');
    const flat = flatten(parse(await fs.readFile(path.join(tmp, 'a', 'peft-train.yaml'), 'utf8')));
    assert.equal(flat['dataset.format'], 'alpaca', 'no chat template: instruct by default');
    assert.equal(flat['dataset.max_length'], 128, 'capped at n_positions');
    for (const ex of await readLines(path.join(tmp, 'a', 'data', 'train.jsonl'))) {
      assert.equal(typeof ex['instruction'], 'string');
      assert.equal(typeof ex['output'], 'string');
    }
    const r = await scaffoldProject({ dir: path.join(tmp, 't'), model: gpt2, template: 'text' });
    assert.equal(r.template, 'text');
    for (const ex of await readLines(path.join(tmp, 't', 'data', 'eval.jsonl'))) assert.deepEqual(Object.keys(ex), ['text']);
    const chat = await scaffoldProject({ dir: path.join(tmp, 'c'), model: gpt2, template: 'chat' });
    assert.equal(chat.warnings.length, 1);
    assert.match(chat.warnings[0] ?? '', /chat template/);
  });

  it('a new project name: a new or empty folder is fine, a path, a file or a non-empty folder is not', async () => {
    await fs.mkdir(path.join(tmp, 'empty'));
    await fs.mkdir(path.join(tmp, 'full'));
    await fs.writeFile(path.join(tmp, 'full', 'x'), '');
    await fs.writeFile(path.join(tmp, 'file'), '');
    assert.equal(projectFolderProblem(tmp, 'my-adapter'), null);
    assert.equal(projectFolderProblem(tmp, 'empty'), null);
    assert.match(projectFolderProblem(tmp, 'full') ?? '', /already exists and is not empty/);
    assert.match(projectFolderProblem(tmp, 'file') ?? '', /is a file/);
    assert.match(projectFolderProblem(tmp, 'a/b') ?? '', /not a path/);
    assert.match(projectFolderProblem(tmp, '  ') ?? '', /must not be empty/);
  });

  it('refuses to overwrite existing files unless asked, listing them', async () => {
    const proj = path.join(tmp, 'proj');
    await fs.mkdir(path.join(proj, 'data'), { recursive: true });
    await fs.writeFile(path.join(proj, 'peft-train.yaml'), 'mine: true\n');
    await fs.writeFile(path.join(proj, 'data', 'train.jsonl'), '{"text":"mine"}\n');
    await assert.rejects(scaffoldProject({ dir: proj, model: llama }), (e: unknown) => {
      assert.ok(e instanceof InputError);
      assert.equal(e.code, 'scaffold-exists');
      assert.match(e.message, /peft-train\.yaml/);
      assert.match(e.message, /data[/\\]train\.jsonl/);
      return true;
    });
    assert.equal(await fs.readFile(path.join(proj, 'peft-train.yaml'), 'utf8'), 'mine: true\n');
    assert.equal(await fs.stat(path.join(proj, 'adapter_config.json')).then(() => true, () => false), false, 'nothing written');
    await scaffoldProject({ dir: proj, model: llama, overwrite: true });
    assert.notEqual(await fs.readFile(path.join(proj, 'peft-train.yaml'), 'utf8'), 'mine: true\n');
  });

  it('scaffolds from a hub id with only config.json downloaded', async () => {
    const saved = { home: process.env['HF_HOME'], endpoint: process.env['HF_ENDPOINT'], offline: process.env['HF_HUB_OFFLINE'], cache: process.env['HF_HUB_CACHE'] };
    const server: HubServer = await startHubServer([{ id: 'tiny/llama', files: [
      { path: 'config.json', data: Buffer.from(JSON.stringify(LLAMA_CONFIG)) }, { path: 'model.safetensors', data: Buffer.alloc(4096) }] }]);
    try {
      process.env['HF_HOME'] = path.join(tmp, 'hf');
      process.env['HF_ENDPOINT'] = server.url;
      delete process.env['HF_HUB_OFFLINE'];
      delete process.env['HF_HUB_CACHE'];
      const proj = path.join(tmp, 'hubproj');
      await scaffoldProject({ dir: proj, model: 'tiny/llama', template: 'instruct' });
      const flat = flatten(parse(await fs.readFile(path.join(proj, 'peft-train.yaml'), 'utf8')));
      assert.equal(flat['base_model'], 'tiny/llama');
      const adapter = JSON.parse(await fs.readFile(path.join(proj, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
      assert.equal(adapter['base_model_name_or_path'], 'tiny/llama');
      assert.deepEqual(server.downloads().map((r) => path.basename(r.path)), ['config.json']);
    } finally {
      await server.close();
      for (const [k, v] of [['HF_HOME', saved.home], ['HF_ENDPOINT', saved.endpoint], ['HF_HUB_OFFLINE', saved.offline], ['HF_HUB_CACHE', saved.cache]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it('peft-studio init: exit codes 0 / 1 / 2 and --json output', async () => {
    const proj = path.join(tmp, 'cli');
    let io = captureIO();
    assert.equal(await main(['init', proj, '--model', gpt2, '--template', 'text', '--json'], io), 0, io.stderr.join('\n'));
    const out = JSON.parse(io.stdout.join('')) as { dir: string; template: string; files: string[] };
    assert.equal(out.dir, proj);
    assert.equal(out.template, 'text');
    assert.equal(out.files.length, 4);
    io = captureIO();
    assert.equal(await main(['init', proj, '--model', gpt2], io), 1, 'existing files: input error');
    assert.match(io.stderr.join('\n'), /already has/);
    assert.equal(await main(['init', proj, '--model', gpt2, '--force'], captureIO()), 0);
    io = captureIO();
    assert.equal(await main(['init', proj], io), 2);
    assert.match(io.stderr.join('\n'), /--model/);
    io = captureIO();
    assert.equal(await main(['init', proj, '--model', gpt2, '--template', 'chatt'], io), 2);
    assert.match(io.stderr.join('\n'), /Did you mean "chat"/);
    io = captureIO();
    assert.equal(await main(['init', path.join(tmp, 'x'), '--model', path.join(tmp, 'nowhere')], io), 1);
    assert.match(io.stderr.join('\n'), /nowhere/);
  });
});
