// Serving-compatibility lint (src/core/validate/serving.ts): each rule with an adapter_config.json that breaks it and
// one that does not, and the engine source the rule comes from. Off unless ValidationContext.servingEngines is set.
import { strict as assert } from 'node:assert';
import { validate } from '../../../src/core/validate';
import { SERVING_ENGINES, vllmMaxLoraRank } from '../../../src/core/validate/serving';
import type { Problem } from '../../../src/core/validate/types';

const BASE = { peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 16, lora_alpha: 32, target_modules: ['q_proj', 'v_proj'], bias: 'none' };

function lint(extra: Record<string, unknown>): Problem[] {
  const text = JSON.stringify({ ...BASE, ...extra }, null, 2);
  return validate(text, { path: 'adapter_config.json', model: null, servingEngines: SERVING_ENGINES });
}
const codes = (ps: Problem[]): string[] => ps.map((p) => p.code).filter((c) => /^(vllm|llamacpp|lorax)-/.test(c)).sort();

interface Rule {
  code: string;
  /** Where the engine says so. */
  source: string;
  breaks: Record<string, unknown>;
  passes: Record<string, unknown>;
  severity: 'info' | 'warning';
  engine: RegExp;
}

const RULES: Rule[] = [
  {
    code: 'vllm-modules-to-save',
    source: 'vllm-project/vllm vllm/lora/peft_helper.py PEFTHelper._validate_features: "vLLM only supports modules_to_save being None."',
    breaks: { modules_to_save: ['lm_head'] }, passes: { modules_to_save: null }, severity: 'warning', engine: /^vLLM/,
  },
  {
    code: 'vllm-dora',
    source: 'vllm-project/vllm vllm/lora/peft_helper.py PEFTHelper._validate_features: "vLLM does not yet support DoRA."',
    breaks: { use_dora: true }, passes: { use_dora: false }, severity: 'warning', engine: /^vLLM/,
  },
  {
    code: 'vllm-rank',
    source: 'vllm-project/vllm vllm/config/lora.py (max_lora_rank one of 8, 16, 32, 64, 128, 256, 320, 512) and peft_helper.validate_legal '
      + '"LoRA rank {r} is greater than max_lora_rank" (tests/lora/test_peft_helper.py ERROR_CASES: r 1024, rank_pattern {"q_proj": 32} over max 16)',
    breaks: { rank_pattern: { q_proj: 1024 } }, passes: { r: 512, rank_pattern: { q_proj: 320 } }, severity: 'warning', engine: /^vLLM/,
  },
  {
    code: 'vllm-bias',
    source: 'vllm-project/vllm vllm/lora/peft_helper.py PEFTHelper.validate_legal: "Adapter bias is not supported."',
    breaks: { bias: 'lora_only' }, passes: { bias: 'none', lora_bias: false }, severity: 'warning', engine: /^vLLM/,
  },
  {
    code: 'vllm-embedding-lora',
    source: 'vllm-project/vllm vllm/lora/lora_model.py (check_unexpected_modules): "While loading <dir>, expected target modules in [...] but received [...]" '
      + 'for modules a model does not declare (vllm issue #4915 lists embed_tokens and lm_head among the expected modules of models that declare them)',
    breaks: { target_modules: ['q_proj', 'embed_tokens', 'lm_head'] }, passes: { target_modules: ['q_proj', 'o_proj'] }, severity: 'info', engine: /^vLLM/,
  },
  {
    code: 'llamacpp-modules-to-save',
    source: 'ggml-org/llama.cpp convert_lora_to_gguf.py LoraModel.get_tensors: "Unexpected name ...: Not a lora_A or lora_B tensor" and '
      + '"Embeddings is present in the adapter. This can be due to new tokens added during fine tuning", then sys.exit(1)',
    breaks: { modules_to_save: ['embed_tokens'] }, passes: { modules_to_save: [] }, severity: 'warning', engine: /^llama\.cpp/,
  },
  {
    code: 'llamacpp-dora',
    source: 'ggml-org/llama.cpp convert_lora_to_gguf.py LoraModel.get_tensors: a tensor that is not lora_A / lora_B (DoRA\'s lora_magnitude_vector) '
      + 'is "Not a lora_A or lora_B tensor" and the conversion exits',
    breaks: { use_dora: true }, passes: {}, severity: 'warning', engine: /^llama\.cpp/,
  },
  {
    code: 'llamacpp-lm-head',
    source: 'ggml-org/llama.cpp convert_lora_to_gguf.py modify_tensors: raise ValueError("lm_head is present in adapter, but is ignored in base model") '
      + '(tied embeddings, llama.cpp issue #9065)',
    breaks: { target_modules: ['q_proj', 'lm_head'] }, passes: { target_modules: 'all-linear' }, severity: 'info', engine: /^llama\.cpp/,
  },
  {
    code: 'llamacpp-alpha-pattern',
    source: 'ggml-org/llama.cpp convert_lora_to_gguf.py: alpha: float = lparams["lora_alpha"] is the one alpha written to the GGUF adapter '
      + '(adapter.lora.alpha); alpha_pattern is never read',
    breaks: { alpha_pattern: { v_proj: 64 } }, passes: { alpha_pattern: {} }, severity: 'warning', engine: /^llama\.cpp/,
  },
  {
    code: 'llamacpp-rslora',
    source: 'ggml-org/llama.cpp convert_lora_to_gguf.py: set_gguf_parameters writes only adapter.lora.alpha = lparams["lora_alpha"] and never '
      + 'reads use_rslora; the runtime scales a LoRA by alpha / rank (llama-adapter)',
    breaks: { use_rslora: true }, passes: { use_rslora: false }, severity: 'warning', engine: /^llama\.cpp/,
  },
  {
    code: 'lorax-target',
    source: 'predibase/lorax docs/models/adapters/lora.md "Target Modules": q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, lm_head '
      + '(Llama, Mistral); c_attn, c_proj, w1, w2, lm_head (Qwen); c_attn, c_proj, c_fc (GPT2)',
    breaks: { target_modules: ['q_proj', 'embed_tokens'] }, passes: { target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] }, severity: 'info', engine: /^LoRAX/,
  },
];

describe('serving-compatibility lint', () => {
  for (const r of RULES) {
    it(`${r.code}: an adapter that breaks it and one that does not (source: ${r.source.split(':')[0]})`, () => {
      assert.ok(r.source.length > 40, 'every rule cites the engine source it comes from');
      const bad = lint(r.breaks).filter((p) => p.code === r.code);
      assert.equal(bad.length, 1, `${r.code} on ${JSON.stringify(r.breaks)}`);
      assert.equal(bad[0]!.severity, r.severity);
      assert.match(bad[0]!.message, r.engine, 'the message names the engine');
      assert.deepEqual(lint(r.passes).filter((p) => p.code === r.code), [], `${r.code} must stay quiet on ${JSON.stringify(r.passes)}`);
    });
  }

  it('a plain LoRA adapter is clean for every engine, and the lint is off unless engines are asked for', () => {
    assert.deepEqual(codes(lint({})), []);
    const text = JSON.stringify({ ...BASE, use_dora: true, modules_to_save: ['lm_head'] });
    assert.deepEqual(codes(validate(text, { path: 'adapter_config.json', model: null })), []);
    assert.deepEqual(codes(validate(text, { path: 'adapter_config.json', model: null, servingEngines: ['llama.cpp'] })), ['llamacpp-dora', 'llamacpp-modules-to-save']);
  });

  it('llamacpp-rslora says which lora_alpha keeps the scale (alpha x sqrt(r))', () => {
    const p = lint({ use_rslora: true, r: 16, lora_alpha: 32 }).find((x) => x.code === 'llamacpp-rslora')!;
    assert.match(p.message, /lora_alpha 128 \(lora_alpha × √r\)/);
  });

  it('the problem points at the key that causes it', () => {
    const text = JSON.stringify({ ...BASE, use_dora: true }, null, 2);
    const p = validate(text, { path: 'adapter_config.json', model: null, servingEngines: ['vllm'] }).find((x) => x.code === 'vllm-dora')!;
    const line = text.split('\n')[p.range.start.line]!;
    assert.equal(line.slice(p.range.start.character, p.range.end.character), '"use_dora"');
  });

  it('vLLM --max-lora-rank: the smallest allowed value that holds the rank, none above 512', () => {
    assert.deepEqual([1, 8, 9, 200, 300, 320, 321, 512, 513].map(vllmMaxLoraRank), [8, 8, 16, 256, 320, 320, 512, 512, null]);
  });
});
