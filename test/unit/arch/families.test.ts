// The families the architecture registry adds, on config-only folders of public checkpoints: inspect, count and
// validate give PEFT's numbers (hand-computed below from each config.json), and the registry knows each family.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ARCHS, archForModelType } from '../../../src/core/arch/registry';
import { ggufArchOf } from '../../../src/core/export/gguf/arch';
import { parseModelConfig } from '../../../src/core/hf/config';
import { tempDir, writeConfig } from '../hf/tinyModels';
import { GEMMA2_9B_CONFIG, PHI4_MINI_CONFIG, QWEN3_8B_CONFIG } from './publicConfigs';
import { runCli as run } from '../cli/runCli';

interface CountRecord { trainable: number; total: number; modules: { name: string; r: number; in: number; out: number; params: number }[] }

describe('architecture registry: families on public config.json', () => {
  let root: string;
  before(() => { root = tempDir('arch'); });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  function adapter(name: string, cfg: Record<string, unknown>): string {
    const dir = path.join(root, name);
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, 'adapter_config.json');
    fs.writeFileSync(file, JSON.stringify({ peft_type: 'LORA', ...cfg }, null, 2));
    return file;
  }

  it('every model_type maps to exactly one descriptor', () => {
    const types = ARCHS.flatMap((a) => Object.keys(a.modelTypes));
    assert.equal(new Set(types).size, types.length);
    for (const t of types) assert.ok(archForModelType(t) !== undefined);
    assert.equal(archForModelType('qwen3')?.family, 'qwen3');
  });

  it('GGUF export: qwen3, phi3, gemma2 and gemma3_text → llama.cpp archs qwen3, phi3, gemma2, gemma3', () => {
    assert.equal(ggufArchOf(parseModelConfig(QWEN3_8B_CONFIG, 'config.json')), 'qwen3');
    assert.equal(ggufArchOf(parseModelConfig(PHI4_MINI_CONFIG, 'config.json')), 'phi3');
    assert.equal(ggufArchOf(parseModelConfig(GEMMA2_9B_CONFIG, 'config.json')), 'gemma2');
    assert.equal(ggufArchOf(parseModelConfig({ ...GEMMA2_9B_CONFIG, model_type: 'gemma3_text', architectures: ['Gemma3ForCausalLM'] }, 'config.json')), 'gemma3');
  });

  it('Qwen3-8B: inspect shows q_norm/k_norm [128]; count = PEFT (default targets q_proj, v_proj); validate is clean', async () => {
    const dir = writeConfig(path.join(root, 'Qwen3-8B'), QWEN3_8B_CONFIG);
    // embed 151936·4096 = 622,329,856, lm_head the same (untied), final norm 4096;
    // per layer q 4096·4096 + k 1024·4096 + v 1024·4096 + o 4096·4096 = 41,943,040, MLP 3·12288·4096 = 150,994,944,
    // 2 norms 8192, q_norm + k_norm 2·128 = 256 → 192,946,432; × 36 = 6,946,071,552.
    const total = 2 * 622_329_856 + 4096 + 36 * 192_946_432;
    assert.equal(total, 8_190_735_360);
    const ins = await run(['inspect', dir, '--json']);
    assert.equal(ins.code, 0, ins.err);
    const rec = JSON.parse(ins.out) as { totalParameters: number; modules: { name: string; inFeatures: number }[] };
    assert.equal(rec.totalParameters, total);
    assert.equal(rec.modules.find((m) => m.name === 'model.layers.35.self_attn.k_norm')?.inFeatures, 128);
    const text = await run(['inspect', dir]);
    assert.match(text.out, /Qwen3ForCausalLM \(model_type qwen3\)/);
    assert.match(text.out, /head_dim 128/);
    assert.match(text.out, /PEFT default \["q_proj","v_proj"\]/);

    // r 16 on PEFT's defaults: q 16·(4096+4096) = 131,072, v 16·(4096+1024) = 81,920 → 212,992 per layer, × 36.
    const c = await run(['count', adapter('q3', { r: 16, lora_alpha: 32, target_modules: null }), '--model', dir, '--json']);
    assert.equal(c.code, 0, c.err);
    const cr = JSON.parse(c.out) as CountRecord;
    assert.equal(cr.trainable, 36 * 212_992);
    assert.equal(cr.total, total + 36 * 212_992);
    assert.deepEqual(cr.modules[0], { name: 'model.layers.0.self_attn.q_proj', r: 16, in: 4096, out: 4096, params: 131_072 });
    // all-linear: q, k, v, o, gate, up, down (not the norms, not lm_head): 16·(8192 + 5120 + 5120 + 8192 + 3·16384) = 1,212,416 per layer.
    const all = JSON.parse((await run(['count', adapter('q3all', { r: 16, target_modules: 'all-linear' }), '--model', dir, '--json'])).out) as CountRecord;
    assert.equal(all.trainable, 36 * 1_212_416);
    // validate: a Qwen3 adapter config on the config-only folder has no errors.
    const val = await run(['validate', adapter('q3v', { r: 8, target_modules: ['q_proj', 'k_proj'] }), '--model', dir, '--json']);
    assert.equal(val.code, 0, val.out + val.err);
    assert.deepEqual((JSON.parse(val.out) as { severity: string }[]).filter((p) => p.severity === 'error'), []);
  });

  it('Phi-4-mini LongRoPE: factor 131072 / 4096 = 32, attention factor sqrt(1 + ln 32 / ln 4096), trainable; bad factor lists are refused', () => {
    const s = parseModelConfig(PHI4_MINI_CONFIG, 'config.json');
    assert.equal(s.ropeScaling?.ropeType, 'longrope');
    assert.equal(s.ropeScaling.factor, 32);
    assert.equal(s.ropeScaling.originalMaxPositionEmbeddings, 4096);
    assert.ok(Math.abs(s.ropeScaling.attentionFactor! - Math.sqrt(1 + Math.log(32) / Math.log(4096))) < 1e-15);
    assert.deepEqual(s.unsupportedForTraining, []);
    // Without a config-level original_max_position_embeddings (a llama config): rope_scaling.factor, original = max.
    const llama = parseModelConfig({ model_type: 'llama', max_position_embeddings: 2048, rope_scaling: { rope_type: 'longrope', factor: 4, short_factor: [1], long_factor: [2], attention_factor: 1.25 } }, 'c.json');
    assert.deepEqual([llama.ropeScaling?.factor, llama.ropeScaling?.originalMaxPositionEmbeddings, llama.ropeScaling?.attentionFactor], [4, 2048, 1.25]);
    const bad = { ...PHI4_MINI_CONFIG, rope_scaling: { type: 'longrope', short_factor: [1, -2], long_factor: [1, 1] } };
    assert.throws(() => parseModelConfig(bad, 'x/config.json'), (e: unknown) => e instanceof Error && /short_factor/.test(e.message) && /positive/.test(e.message));
    // "su" is Phi-3's first name for longrope.
    assert.equal(parseModelConfig({ ...PHI4_MINI_CONFIG, rope_scaling: { type: 'su', short_factor: [1], long_factor: [1] } }, 'c.json').ropeScaling?.ropeType, 'longrope');
  });

  it('Phi-4-mini: fused qkv_proj / gate_up_proj in named_modules order; count = PEFT on qkv_proj + o_proj; validate is clean', async () => {
    const dir = writeConfig(path.join(root, 'Phi-4-mini'), PHI4_MINI_CONFIG);
    // embed 200064·3072 = 614,596,608 (tied head, counted once), final norm 3072; per layer (head_dim 3072/24 = 128, kv 8·128 = 1024)
    // qkv_proj 3072·(3072 + 2·1024) = 15,728,640, o_proj 3072·3072 = 9,437,184, gate_up_proj 3072·2·8192 = 50,331,648,
    // down_proj 8192·3072 = 25,165,824, 2 norms 6144 → 100,669,440; × 32 = 3,221,422,080.
    const total = 614_596_608 + 3072 + 32 * 100_669_440;
    assert.equal(total, 3_836_021_760);
    const ins = await run(['inspect', dir, '--json']);
    assert.equal(ins.code, 0, ins.err);
    const rec = JSON.parse(ins.out) as { totalParameters: number; modules: { name: string; outFeatures: number }[] };
    assert.equal(rec.totalParameters, total);
    assert.deepEqual(rec.modules.filter((m) => m.name.startsWith('model.layers.0.')).map((m) => m.name.slice('model.layers.0.'.length)),
      ['self_attn.o_proj', 'self_attn.qkv_proj', 'mlp.gate_up_proj', 'mlp.down_proj', 'input_layernorm', 'post_attention_layernorm']);
    const text = await run(['inspect', dir]);
    assert.match(text.out, /partial_rotary_factor 0\.75/);
    // r 16: qkv_proj 16·(3072 + 5120) = 131,072, o_proj 16·(3072 + 3072) = 98,304 → 229,376 per layer, × 32.
    const c = await run(['count', adapter('phi4', { r: 16, lora_alpha: 32, target_modules: ['qkv_proj', 'o_proj'] }), '--model', dir, '--json']);
    assert.equal(c.code, 0, c.err);
    const cr = JSON.parse(c.out) as CountRecord;
    assert.equal(cr.trainable, 32 * 229_376);
    assert.equal(cr.total, total + 32 * 229_376);
    assert.deepEqual(cr.modules[1], { name: 'model.layers.0.self_attn.qkv_proj', r: 16, in: 3072, out: 5120, params: 131_072 });
    // all-linear: qkv, o, gate_up, down = 16·(8192 + 6144 + 19456 + 11264) = 720,896 per layer.
    const all = JSON.parse((await run(['count', adapter('phi4all', { r: 16, target_modules: 'all-linear' }), '--model', dir, '--json'])).out) as CountRecord;
    assert.equal(all.trainable, 32 * 720_896);
    const val = await run(['validate', adapter('phi4v', { r: 8, target_modules: ['qkv_proj', 'gate_up_proj'] }), '--model', dir, '--json']);
    assert.equal(val.code, 0, val.out + val.err);
    assert.deepEqual((JSON.parse(val.out) as { severity: string }[]).filter((p) => p.severity === 'error'), []);
  });

  it('Gemma-2-9B: four norms per layer, tied head; count = PEFT (default targets q_proj, v_proj); validate is clean', async () => {
    const dir = writeConfig(path.join(root, 'gemma-2-9b'), GEMMA2_9B_CONFIG);
    // embed 256000·3584 = 917,504,000 (tied head), final norm 3584; per layer (head_dim 256: q 16·256 = 4096, kv 8·256 = 2048)
    // q 3584·4096 + k 3584·2048 + v 3584·2048 + o 4096·3584 = 44,040,192, MLP 3·14336·3584 = 154,140,672, 4 norms 14,336
    // → 198,195,200; × 42 = 8,324,198,400.
    const total = 917_504_000 + 3584 + 42 * 198_195_200;
    assert.equal(total, 9_241_705_984);
    const ins = await run(['inspect', dir, '--json']);
    assert.equal(ins.code, 0, ins.err);
    assert.equal((JSON.parse(ins.out) as { totalParameters: number }).totalParameters, total);
    const text = await run(['inspect', dir]);
    assert.match(text.out, /Gemma2ForCausalLM \(model_type gemma2\)/);
    assert.match(text.out, /\.post_feedforward_layernorm\s+RMSNorm/);
    assert.match(text.out, /softcaps attn 50 final 30/);
    // r 16 on PEFT's defaults: q 16·(3584 + 4096) = 122,880, v 16·(3584 + 2048) = 90,112 → 212,992 per layer, × 42.
    const c = await run(['count', adapter('g2', { r: 16, lora_alpha: 32, target_modules: null }), '--model', dir, '--json']);
    assert.equal(c.code, 0, c.err);
    const cr = JSON.parse(c.out) as CountRecord;
    assert.equal(cr.trainable, 42 * 212_992);
    assert.equal(cr.total, total + 42 * 212_992);
    assert.deepEqual(cr.modules[1], { name: 'model.layers.0.self_attn.v_proj', r: 16, in: 3584, out: 2048, params: 90_112 });
    const val = await run(['validate', adapter('g2v', { r: 8, target_modules: ['q_proj', 'o_proj', 'down_proj'] }), '--model', dir, '--json']);
    assert.equal(val.code, 0, val.out + val.err);
    assert.deepEqual((JSON.parse(val.out) as { severity: string }[]).filter((p) => p.severity === 'error'), []);
  });
});
