// Inputs written by the real Hugging Face libraries: model folders as transformers 4.4x / 5.x save_pretrained writes
// them and PEFT-saved adapters (0.13-style and 0.20): loadModel, count, validate and trainer parity against PyTorch.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { main } from '../../../src/cli/main';
import type { CliIO } from '../../../src/cli/command';
import { loadModel } from '../../../src/core/hf/loadModel';
import { Rng } from '../../../src/core/util/random';
import { tmpDir } from '../train/engineHelpers';
import { checkRun, train } from '../train/parity/check';
import { type ParityCase, type Project, makeRows, runTrainerRef } from '../train/parity/project';
import { type HfModel, type PeftStyle, type Style, type Variant, type WriteOptions, peftConfig, selected, writeHfModel, writePeftAdapter } from './hfFolders';

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIO = { out: (t) => out.push(t), err: (t) => err.push(t), isTTY: false };
  const code = await main(args, io);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

interface CliProblem { file: string; severity: string; code: string; message: string }

const TARGETS: Record<Variant, string[]> = {
  llama3: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
  llama31: ['q_proj', 'v_proj', 'lm_head'],
  smollm: ['q_proj', 'v_proj'],
  tinyllama: ['q_proj', 'k_proj', 'v_proj', 'o_proj'],
  mistral: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'down_proj'],
  qwen2: ['q_proj', 'v_proj', 'up_proj'],
  // PEFT's "all-linear" on GPT-2, saved as the names it expanded to (c_proj matches attn and mlp).
  gpt2: ['c_attn', 'c_proj', 'c_fc'],
  'gpt2-old': ['c_attn'],
  'gpt2-untied': ['c_attn', 'lm_head'],
};

describe('compatibility with folders written by transformers and PEFT', function () {
  this.timeout(120_000);
  const root = tmpDir('hf-compat');
  after(() => {
    if (process.env['PARITY_KEEP'] === undefined) fs.rmSync(root, { recursive: true, force: true });
  });

  const cases: [Variant, Style, PeftStyle][] = [
    ['llama3', '4.4x', '0.20'], ['llama3', '5.x', '0.13'], ['llama31', '4.4x', '0.20'], ['llama31', '5.x', '0.13'], ['smollm', '4.4x', '0.13'], ['smollm', '5.x', '0.20'], ['tinyllama', '4.4x', '0.13'],
    ['mistral', '4.4x', '0.20'], ['mistral', '5.x', '0.13'], ['qwen2', '4.4x', '0.20'], ['qwen2', '5.x', '0.20'],
    ['gpt2', '4.4x', '0.13'], ['gpt2', '5.x', '0.20'], ['gpt2-old', '4.4x', '0.20'], ['gpt2-untied', '5.x', '0.13'],
  ];
  for (const [v, style, peft] of cases) {
    it(`${v} (transformers ${style} config.json, PEFT ${peft} adapter): loadModel, count and validate`, async () => {
      const dir = path.join(root, `${v}-${style}-${peft}`);
      const m = writeHfModel(path.join(dir, 'model'), v, style, 11);
      const inv = loadModel(m.dir);
      const s = inv.spec;
      assert.equal(inv.source, 'safetensors');
      assert.deepEqual(inv.unusedCheckpointKeys, [], 'every saved tensor is a parameter or a known buffer');
      assert.equal(inv.totalParameters, m.numParameters, 'model.num_parameters()');
      assert.equal(s.torchDtype, 'float32');
      if (v === 'llama3') {
        assert.equal(s.ropeTheta, 500000);
        assert.deepEqual(s.ropeScaling, { ropeType: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 64 });
        assert.equal(s.tieWordEmbeddings, true);
        assert.deepEqual(s.eosTokenId, [251, 252, 253]);
      }
      if (v === 'mistral') assert.deepEqual([s.headDim, s.numHeads, s.numKvHeads, s.ropeTheta], [32, 4, 2, 1e6]);
      if (v === 'tinyllama') assert.deepEqual([s.headDim, s.numKvHeads, s.tieWordEmbeddings, s.mlpBias], [8, 2, false, false]);
      if (v === 'qwen2') assert.ok(s.qkvBias && s.tieWordEmbeddings && s.ropeTheta === 1e6);
      if (v.startsWith('gpt2')) assert.deepEqual([s.tieWordEmbeddings, s.intermediateSize, s.hiddenAct], [v !== 'gpt2-untied', 256, 'gelu_new']);
      if (v === 'gpt2-old') {
        // Python safetensors' layout: __metadata__ first, then data order = dtype descending (F32 before BOOL), then name.
        const raw = fs.readFileSync(path.join(m.dir, 'model.safetensors'));
        const keys = Object.keys(JSON.parse(raw.subarray(8, 8 + Number(raw.readBigUInt64LE(0))).toString('utf8')) as object);
        const f32 = [...m.tensors.keys()].filter((k) => !k.endsWith('.attn.bias')).sort();
        assert.deepEqual(keys, ['__metadata__', ...f32, 'transformer.h.0.attn.bias', 'transformer.h.1.attn.bias']);
      }

      const r = 4;
      const targets = TARGETS[v];
      // adapter saved by PeftModel.save_pretrained: base_model_name_or_path is a path on the machine that made it.
      const cfg = peftConfig(peft, { base: `/home/ci/hf-check/${v}`, r, alpha: 8, targets, fanInFanOut: v.startsWith('gpt2') });
      const adapterDir = path.join(dir, 'adapter');
      const shapes = writePeftAdapter(adapterDir, cfg, selected(m, targets), r, 5);
      const trainable = [...shapes.values()].reduce((a, [x, y]) => a + x * y, 0);
      const cfgFile = path.join(adapterDir, 'adapter_config.json');

      const count = await cli(['count', cfgFile, '--model', m.dir, '--json']);
      assert.equal(count.code, 0, count.err);
      const c = JSON.parse(count.out) as { trainable: number; total: number; modules: { name: string; r: number; in: number; out: number; params: number }[] };
      assert.equal(c.trainable, trainable);
      assert.equal(c.total, m.numParameters + trainable);
      assert.deepEqual(c.modules.map((x) => x.name).sort(), selected(m, targets).map((x) => x.name).sort());

      const val = await cli(['validate', cfgFile, '--model', m.dir, '--json']);
      const problems = JSON.parse(val.out) as CliProblem[];
      const errors = problems.filter((p) => p.severity === 'error');
      assert.deepEqual(errors, [], `no errors on a PEFT-saved adapter_config.json: ${val.out}`);
      assert.equal(val.code, 0, val.err);
      // Without --model: base_model_name_or_path names a folder of another machine; that is not an error.
      const val2 = await cli(['validate', cfgFile, '--json']);
      assert.equal(val2.code, 0, val2.out + val2.err);
      assert.deepEqual((JSON.parse(val2.out) as CliProblem[]).filter((p) => p.severity === 'error'), []);
    });
  }

  // ------------------------------------------------------------------ trainer parity on HF/PEFT-written inputs
  function project(name: string, v: Variant, style: Style, peft: PeftStyle, c: ParityCase, bStd: number, opts: WriteOptions = {}): Project {
    const dir = path.join(root, `train-${name}`);
    const m: HfModel = writeHfModel(path.join(dir, 'model'), v, style, 17, opts);
    const cfg = peftConfig(peft, { base: m.dir, r: c.r, alpha: c.alpha, targets: c.targetModules, fanInFanOut: v.startsWith('gpt2') });
    fs.writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify(cfg, null, 2));
    // The init adapter was saved on the machine that made it: its base_model_name_or_path is a path of that machine.
    const initCfg = { ...cfg, base_model_name_or_path: `/home/ci/hf-check/${name}/model` };
    const shapes = writePeftAdapter(path.join(dir, 'init_adapter'), initCfg, selected(m, c.targetModules), c.r, 23, bStd);
    fs.mkdirSync(path.join(dir, 'data'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'data', 'train.jsonl'), c.rows.map((x) => JSON.stringify(x)).join('\n') + '\n');
    const recipe = path.join(dir, 'peft-train.yaml');
    fs.writeFileSync(recipe, `base_model: ./model
adapter_config: ./adapter_config.json
init_adapter: ./init_adapter
dataset: {train: data/train.jsonl, format: tokenized, max_length: ${c.maxLength}, packing: false, shuffle: false}
training:
  max_steps: ${c.steps}
  per_device_train_batch_size: ${c.microBatch}
  gradient_accumulation_steps: ${c.accumulation}
  learning_rate: ${c.lr}
  lr_scheduler_type: constant
  weight_decay: ${c.weightDecay}
  max_grad_norm: ${c.maxGradNorm}
  logging_steps: 1
device: cpu
output_dir: runs
run_name: ${name}
`);
    return { dir, recipe, modelDir: m.dir, inventory: loadModel(m.dir), shapes, biasElements: 0 };
  }

  it('refuses config.json settings the engine does not compute, trains a sliding window, and warns on model-internal dropout', async () => {
    const c: ParityCase = {
      arch: 'llama', targetModules: ['q_proj', 'v_proj'], r: 2, alpha: 4, rows: makeRows(new Rng(5), 256, 3, 6, 20), maxLength: 64,
      microBatch: 1, accumulation: 1, steps: 1, lr: 1e-3, weightDecay: 0, maxGradNorm: 1,
    };
    const edit = (p: Project, patch: Record<string, unknown>): void => {
      const f = path.join(p.modelDir, 'config.json');
      fs.writeFileSync(f, JSON.stringify({ ...(JSON.parse(fs.readFileSync(f, 'utf8')) as object), ...patch }, null, 2));
    };
    const gelu = project('refuse-gelu', 'smollm', '4.4x', '0.20', c, 0);
    edit(gelu, { hidden_act: 'gelu' });
    let r = await train(gelu.recipe);
    assert.equal(r.code, 1);
    assert.match(r.err, /hidden_act "gelu"/);
    // A Mistral whose sliding window (8) is shorter than the training sequences (20 tokens) trains with the window mask.
    const sw = project('window', 'mistral', '5.x', '0.20', c, 0);
    edit(sw, { sliding_window: 8 });
    r = await train(sw.recipe);
    assert.equal(r.code, 0, r.err);
    // A tokenizer.json this runtime cannot build does not stop `format: tokenized` (the ids need no tokenizer).
    fs.writeFileSync(path.join(sw.modelDir, 'tokenizer.json'), JSON.stringify({ version: '1.0', added_tokens: [], model: { type: 'Mystery', vocab: {} } }));
    fs.rmSync(path.join(sw.dir, 'runs'), { recursive: true, force: true });
    r = await train(sw.recipe);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /peft-studio train: warning: .*tokenizer is not usable/); // --json: log lines on stderr
    // GPT2Config's dropouts default to 0.1 when config.json leaves them out.
    const g = project('dropout-gpt2', 'gpt2', '4.4x', '0.20', { ...c, targetModules: ['c_attn'] }, 0);
    const f = path.join(g.modelDir, 'config.json');
    const cfg = JSON.parse(fs.readFileSync(f, 'utf8')) as Record<string, unknown>;
    delete cfg['attn_pdrop'];
    delete cfg['resid_pdrop'];
    fs.writeFileSync(f, JSON.stringify(cfg));
    r = await train(g.recipe);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /peft-studio train: warning: .*attn_pdrop 0\.1, resid_pdrop 0\.1: .*internal dropout/);
  });

  const parity: [string, Variant, Style, PeftStyle, Partial<ParityCase>, number, WriteOptions?][] = [
    ['llama3-5x', 'llama3', '5.x', '0.20', { targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj', 'lm_head'], maxGradNorm: 0.5 }, 0],
    ['llama31-44x', 'llama31', '4.4x', '0.13', { targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'], maxGradNorm: 0.5 }, 0.05],
    ['mistral-44x', 'mistral', '4.4x', '0.13', { targetModules: ['q_proj', 'v_proj', 'o_proj', 'down_proj'], maxGradNorm: 1.0 }, 0.05],
    ['gpt2-44x', 'gpt2', '4.4x', '0.20', { targetModules: ['c_attn', 'c_proj', 'c_fc'], maxGradNorm: 1.0 }, 0.05],
    // GPT2LMHeadModel with tie_word_embeddings false: its own lm_head.weight (LoRA on it too).
    ['gpt2-untied-5x', 'gpt2-untied', '5.x', '0.13', { targetModules: ['c_attn', 'mlp.c_proj', 'lm_head'], maxGradNorm: 1.0 }, 0.05],
    // bf16 weights (both sides upcast the same bf16 values to fp32) in two shards with the index transformers writes.
    ['qwen2-5x-bf16-sharded', 'qwen2', '5.x', '0.20', { targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], maxGradNorm: 0.5 }, 0.05, { bf16: true, sharded: true }],
  ];
  for (const [name, v, style, peft, over, bStd, opts] of parity) {
    it(`trains ${name} with a PEFT ${peft} init adapter${bStd === 0 ? ' (B = 0, as initialised)' : ''} like PyTorch: loss 1e-4, adapter 1e-3`, async () => {
      // Sequences longer than llama3's original_max_position_embeddings / high_freq_factor, so the scaled bands matter.
      const c: ParityCase = {
        arch: 'llama', targetModules: [], r: 4, alpha: 8, rows: makeRows(new Rng(41), 256, 5, 6, 40), maxLength: 64,
        microBatch: 2, accumulation: 1, steps: 6, lr: 5e-3, weightDecay: 0.01, maxGradNorm: 1.0, ...over,
      };
      const p = project(name, v, style, peft, c, bStd, opts);
      if (opts?.sharded === true) assert.equal(new Set(p.inventory.parameters.map((x) => x.checkpointKey)).size, p.inventory.parameters.length);
      if (opts?.bf16 === true) assert.ok(p.inventory.parameters.every((x) => x.dtype === 'BF16'));
      const files = [p.recipe, path.join(p.dir, 'adapter_config.json'), path.join(p.dir, 'init_adapter', 'adapter_config.json'), path.join(p.dir, 'data', 'train.jsonl')];
      const val = await cli(['validate', ...files, '--json']);
      // Not even a warning: tokenized data needs no tokenizer files, and a foreign base path in init_adapter is normal.
      assert.deepEqual(JSON.parse(val.out) as CliProblem[], [], val.out);
      assert.equal(val.code, 0, val.out + val.err);
      const run = await train(p.recipe);
      assert.equal(run.code, 0, run.err);
      const ref = runTrainerRef(p);
      checkRun(name, c, p, run.records, ref);
    });
  }
});
