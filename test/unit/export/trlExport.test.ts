// `export trl`: golden files for every accelerate strategy (UPDATE_GOLDEN=1 rewrites them), every exported key checked
// against the config fields of the pinned TRL / transformers / accelerate (test/fixtures/export/trl-config-fields.json),
// YAML that Python reads with the intended types, the fidelity warnings, and the CLI's usage errors.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { main } from '../../../src/cli/main';
import { buildTrlExport, type TrlExportRequest } from '../../../src/core/export/exportTrl';
import { tempDir } from '../hf/tinyModels';

const FIX = path.join(__dirname, '..', '..', 'fixtures', 'export');
const GOLDEN = path.join(FIX, 'golden');
const FIELDS = JSON.parse(fs.readFileSync(path.join(FIX, 'trl-config-fields.json'), 'utf8')) as Record<string, string[]>;
const update = process.env['UPDATE_GOLDEN'] === '1';

const ADAPTER = { peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 16, lora_alpha: 32, lora_dropout: 0.05, target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'], bias: 'none', rank_pattern: { o_proj: 8 } };

function project(root: string, name: string, recipe: string, data: unknown[]): string {
  const dir = path.join(root, name);
  fs.mkdirSync(path.join(dir, 'data'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify(ADAPTER, null, 2));
  const jsonl = data.map((r) => JSON.stringify(r)).join('\n') + '\n';
  fs.writeFileSync(path.join(dir, 'data', 'train.jsonl'), jsonl);
  fs.writeFileSync(path.join(dir, 'data', 'eval.jsonl'), jsonl);
  fs.writeFileSync(path.join(dir, 'peft-train.yaml'), recipe);
  return path.join(dir, 'peft-train.yaml');
}

const PLAIN = `base_model: Qwen/Qwen2.5-0.5B
adapter_config: adapter_config.json
dataset:
  train: data/train.jsonl
  max_length: 256
  shuffle: false
training:
  max_steps: 100
  per_device_train_batch_size: 4
  gradient_accumulation_steps: 8
  learning_rate: 1.0e-4
  lr_scheduler_type: cosine
  warmup_ratio: 0.1
  save_steps: 50
run_name: qwen-sft
`;
const PACKED = `base_model: meta-llama/Llama-3.1-70B
adapter_config: adapter_config.json
dataset:
  train: data/train.jsonl
  eval: data/eval.jsonl
  max_length: 2048
  packing: true
training:
  num_train_epochs: 2
  per_device_train_batch_size: 2
  gradient_accumulation_steps: 4
  warmup_steps: 20
  logging_steps: 10
  eval_steps: 100
  bf16: true
run_name: llama70b-chat
`;

describe('export trl', function () {
  this.timeout(30000);
  let root: string;
  let plain: string;
  let packed: string;
  before(() => {
    root = tempDir('export-trl');
    plain = project(root, 'plain', PLAIN, [{ prompt: 'Q', completion: ' A' }]);
    packed = project(root, 'packed', PACKED, [{ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }] }]);
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  const CASES: [string, () => TrlExportRequest][] = [
    ['single_gpu', () => ({ recipeFile: plain })],
    ['multi_gpu', () => ({ recipeFile: plain, strategy: 'multi_gpu', gpus: 4 })],
    ['zero2', () => ({ recipeFile: plain, strategy: 'zero2', gpus: 8, precision: 'bf16' })],
    ['zero3', () => ({ recipeFile: packed, strategy: 'zero3', gpus: 8, nodes: 2, quantization: '4bit' })],
    ['fsdp2', () => ({ recipeFile: packed, strategy: 'fsdp2', gpus: 8, nodes: 4, quantization: '4bit', accelerator: 'A100-80GB' })],
  ];

  for (const [name, req] of CASES) {
    it(`${name}: every file matches its golden copy`, () => {
      const exp = buildTrlExport(req());
      const dir = path.join(GOLDEN, name);
      for (const [rel, text] of exp.files) {
        if (rel === 'train.py' && name !== 'single_gpu') continue; // one golden train.py: it does not depend on the strategy
        const file = path.join(dir, rel);
        if (update) {
          fs.mkdirSync(path.dirname(file), { recursive: true });
          fs.writeFileSync(file, text);
        }
        assert.equal(text, fs.readFileSync(file, 'utf8'), `${name}/${rel} differs from the golden file (UPDATE_GOLDEN=1 rewrites it after a deliberate change)`);
      }
      assert.deepEqual([...exp.copies.keys()].sort(), name === 'zero3' || name === 'fsdp2' ? ['adapter_config.json', 'data/eval.jsonl', 'data/train.jsonl'] : ['adapter_config.json', 'data/train.jsonl']);
    });

    it(`${name}: every exported key exists in the pinned TRL / transformers / accelerate`, () => {
      const exp = buildTrlExport(req());
      const sft = parseYaml(exp.files.get('sft_config.yaml')!, { version: '1.1' }) as Record<string, unknown>;
      const trl = new Set([...FIELDS['trl_training_arguments']!, ...FIELDS['trl_sft_config']!, ...FIELDS['trl_model_config']!, ...FIELDS['trl_script_arguments']!, ...FIELDS['trl_dataset_mixture_config']!]);
      for (const k of Object.keys(sft)) assert.ok(trl.has(k), `sft_config.yaml key "${k}" is not a field of TRL 1.9.0 / transformers`);
      for (const d of sft['datasets'] as Record<string, unknown>[]) for (const k of Object.keys(d)) assert.ok(FIELDS['trl_dataset_config']!.includes(k), `datasets[].${k}`);
      const acc = parseYaml(exp.files.get('accelerate_config.yaml')!, { version: '1.1' }) as Record<string, unknown>;
      for (const k of Object.keys(acc)) assert.ok(FIELDS['accelerate_cluster_config']!.includes(k), `accelerate_config.yaml key "${k}"`);
      for (const [sub, list] of [['deepspeed_config', 'accelerate_deepspeed_config'], ['fsdp_config', 'accelerate_fsdp_config']] as const) {
        for (const k of Object.keys((acc[sub] ?? {}) as object)) assert.ok(FIELDS[list]!.includes(k), `accelerate_config.yaml ${sub}.${k}`);
      }
      // YAML 1.1 readers (PyYAML) get strings and floats, not booleans or strings.
      assert.equal(typeof acc['mixed_precision'], 'string');
      assert.equal(typeof sft['adam_epsilon'], 'number');
      assert.equal(sft['eval_strategy'], name === 'zero3' || name === 'fsdp2' ? 'steps' : 'no');
    });
  }

  it('says where TRL differs from us, with the setting that matches', () => {
    const multi = buildTrlExport({ recipeFile: plain, strategy: 'zero2', gpus: 8 });
    const bf16 = buildTrlExport({ recipeFile: plain, strategy: 'zero2', gpus: 8, precision: 'bf16' });
    assert.match(bf16.notes.find((n) => n.topic === 'precision' && n.level === 'warning')?.message ?? '', /bf16 mixed precision \(--precision\) where the recipe says fp32/);
    assert.match(bf16.files.get('accelerate_config.yaml')!, /^mixed_precision: bf16$/m);
    assert.match(bf16.files.get('sft_config.yaml')!, /^bf16: true$/m);
    const batch = multi.notes.find((n) => n.topic === 'effective batch');
    assert.equal(batch?.level, 'warning');
    assert.match(batch!.message, /Set gradient_accumulation_steps: 1 to keep 32/);
    assert.ok(multi.notes.some((n) => n.topic === 'loss averaging' && /position 0/.test(n.message)));
    assert.ok(!multi.notes.some((n) => n.topic === 'data order'), 'shuffle: false exports sequential order: no warning');
    const p = buildTrlExport({ recipeFile: packed, strategy: 'fsdp2', gpus: 8, quantization: '4bit' });
    assert.deepEqual(p.notes.filter((n) => n.level === 'warning').map((n) => n.topic).sort(), ['data order', 'effective batch', 'logged loss', 'packing', 'quantization']);
    const sft = parseYaml(p.files.get('sft_config.yaml')!, { version: '1.1' }) as Record<string, unknown>;
    assert.equal(sft['bnb_4bit_quant_storage'], 'bfloat16', 'QLoRA + FSDP stores the 4-bit weights in the compute dtype');
    assert.equal(sft['attn_implementation'], 'flash_attention_2');
    assert.equal(sft['assistant_only_loss'], true);
    assert.match(p.files.get('README.md')!, /\*\*packing\*\* \(warning\)/);
    const local = project(root, 'local', PLAIN.replace('Qwen/Qwen2.5-0.5B', './models/tiny'), [{ text: 'a b c' }]);
    const l = buildTrlExport({ recipeFile: local });
    assert.match(l.notes.find((n) => n.topic === 'base model')?.message ?? '', /local folder .*models\/tiny: the cluster cannot read it/);
    assert.ok(!multi.notes.some((n) => n.topic === 'base model'), 'a hub id needs no upload');
  });

  it('CLI: writes the project, exit 2 on a bad strategy or single_gpu with several GPUs, exit 1 on a bad recipe', async () => {
    const io = (): { out: string[]; err: string[]; io: { out: (t: string) => void; err: (t: string) => void; isTTY: boolean } } => {
      const o = { out: [] as string[], err: [] as string[] };
      return { ...o, io: { out: (t) => o.out.push(t), err: (t) => o.err.push(t), isTTY: false } };
    };
    const out = path.join(root, 'out');
    const a = io();
    assert.equal(await main(['export', 'trl', plain, out, '--accelerate', 'multi_gpu', '--gpus', '2', '--json'], a.io), 0);
    const j = JSON.parse(a.out.join('')) as { files: string[]; format: string };
    assert.equal(j.format, 'prompt_completion');
    for (const f of j.files) assert.ok(fs.existsSync(path.join(out, f)), f);
    assert.equal(fs.readFileSync(path.join(out, 'data', 'train.jsonl'), 'utf8'), fs.readFileSync(path.join(root, 'plain', 'data', 'train.jsonl'), 'utf8'));
    const b = io();
    assert.equal(await main(['export', 'trl', plain, out, '--accelerate', 'zero4'], b.io), 2);
    assert.match(b.err.join('\n'), /--accelerate must be one of single_gpu, multi_gpu, zero2, zero3, fsdp2/);
    assert.equal(await main(['export', 'trl', plain, out, '--precision', 'fp8'], io().io), 2);
    assert.equal(await main(['export', 'trl', plain, out, '--gpus', '2'], io().io), 2);
    assert.equal(await main(['export', 'trl', plain, path.dirname(plain)], io().io), 2, 'exporting over the recipe\'s own files');
    const bad = path.join(root, 'bad.yaml');
    fs.writeFileSync(bad, 'base_model: x/y\ndataset:\n  train: nope.jsonl\n  max_lenght: 3\n');
    const c = io();
    assert.equal(await main(['export', 'trl', bad, out], c.io), 1);
    assert.match(c.err.join('\n'), /max_lenght/);
  });
});
