#!/usr/bin/env python3
# PyTorch reference for LoRA training: the math of transformers (Llama/Mistral/Qwen2, GPT-2) + PEFT LoRA +
# torch AdamW/clip_grad_norm_, reimplemented with torch + numpy only. See test/reference/README.md.
#
# Usage: /usr/bin/python3 torch_ref.py JOB.json OUT.json
# JOB: {"model_dir", "dtype": "float32"|"float64", "modules": [{"name","r","alpha","scaling"}],
#       "init_adapter": path|null, "optimizer": {"beta1","beta2","eps","weight_decay","max_grad_norm"},
#       "steps": [{"lr", "micro_batches": [{"input_ids","labels","attention_mask","position_ids"?}]}],
#       "eval_batches"?: [...], micro-batches may carry "dropout_masks": {module: [B][S][in]} (the engine's
#       host-drawn inverted-dropout masks; without them dropout is p=0),
#       "output_adapter": path|null}
# OUT: {"steps": [{"loss","grad_norm","label_tokens"}], "eval": [{"loss_sum","label_tokens"}]}
# Inference jobs (no "optimizer"/"steps"): "generate": {"prompt": ids, "max_new_tokens": n} → {"generated": ids,
#   "margins": top1 − top2 logit per step}; "logits_input": ids → {"logits": [seq][vocab]}.
# Generation with logprobs and adapters: JOB {"mode": "generate", "model_dir", "dtype", "prompts": [[ids]], "max_new_tokens",
#       "adapters": [null (the base) | {"path" (PEFT-keyed safetensors), "modules": [{"name","scaling"}]}]}
# OUT: {"generations": [{"token_ids": [new ids], "logprobs": [log_softmax of the raw logits at each]}]},
#       for each adapter, each prompt
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

# ---------------------------------------------------------------- safetensors (numpy + struct)
_ST_DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64, "I32": np.int32,
              "U8": np.uint8, "I8": np.int8, "BOOL": np.bool_, "U16": np.uint16, "I16": np.int16}


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n).decode("utf-8"))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, t = e["data_offsets"]
        raw = data[b:t]
        shape = e["shape"]
        if e["dtype"] == "BF16":
            u16 = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = u16.view(np.float32).reshape(shape)
        else:
            arr = np.frombuffer(raw, dtype=np.dtype(_ST_DTYPES[e["dtype"]]).newbyteorder("<")).reshape(shape)
        out[name] = arr
    return out


def write_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    offset = 0
    blobs = []
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name].astype("<f4"))
        raw = arr.tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for raw in blobs:
            f.write(raw)


def load_checkpoint(model_dir):
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    weights = {}
    for fn in files:
        weights.update(read_safetensors(os.path.join(model_dir, fn)))
    return weights


# ---------------------------------------------------------------- LoRA (peft/tuners/lora/layer.py Linear.forward)
class Lora:
    def __init__(self, adapters, scaling, magnitudes=None, biases=None):
        self.adapters = adapters  # module name -> (A [r,in], B [out,r]) leaf tensors
        self.scaling = scaling
        self.magnitudes = magnitudes or {}  # use_dora: module name -> lora_magnitude_vector [out]
        self.biases = biases or {}  # lora_bias: module name -> lora_B.bias [out]
        self.masks = {}  # module name -> inverted-dropout mask [B,S,in] (0 or 1/(1-p)), when the job gives one
        self.padding_idx = {}  # embedding module name -> padding_idx (transformers: config.pad_token_id; GPT-2: none)
        self.token_weights = {}  # embedding module name -> W.index_copy(0, token_indices, delta) for this forward

    def embed(self, name, ids, base_out):
        """peft tuners/lora/layer.py Embedding.forward: base + F.embedding(ids, A.T, padding_idx) @ B.T * scaling
        (A [r, num_embeddings], B [dim, r]; no dropout; padding_idx = the base nn.Embedding's, so that row of A.T gets
        no gradient)."""
        pad = self.padding_idx.get(name)
        if name in self.token_weights:
            # trainable tokens (peft tuners/trainable_tokens/layer.py forward_adapters): F.embedding over
            # W.index_copy(0, token_indices, delta) with the base layer's padding_idx
            base_out = F.embedding(ids, self.token_weights[name], padding_idx=pad)
        if name not in self.adapters:
            return base_out
        a, b = self.adapters[name]
        return base_out + F.embedding(ids, a.t(), padding_idx=pad) @ b.t() * self.scaling[name]

    def apply(self, name, x, base_out, weight=None, bias=None):
        """`weight`: the base weight as [out, in] (Conv1D's transposed), `bias` its bias (DoRA reads both)."""
        if name not in self.adapters:
            return base_out
        a, b = self.adapters[name]
        scaling = self.scaling[name]
        # base(x) + lora_B(lora_A(dropout(x))) * scaling; dropout p=0 is nn.Identity
        dropped = name in self.masks
        if dropped:
            x = x * self.masks[name]
        lora_result = (x @ a.t()) @ b.t()
        if name in self.biases:  # lora_B = nn.Linear(r, out, bias=True)
            lora_result = lora_result + self.biases[name]
        if name not in self.magnitudes:
            return base_out + lora_result * scaling
        # DoRA (peft/tuners/lora/variants.py DoraLinearVariant.forward + dora.py DoraLinearLayer.forward)
        lora_weight = (b @ a).detach()  # lora_B(lora_A(eye)).T, detached before the norm
        weight_norm = torch.linalg.norm(weight + scaling * lora_weight, dim=1).to(weight.dtype).detach()
        mag_norm_scale = (self.magnitudes[name] / weight_norm).view(1, -1)
        if dropped:  # training with dropout: base_result = None -> F.linear(dropout(x), W), no bias
            base_result = x @ weight.t()
        else:  # base_result = result minus the base layer's bias
            base_result = base_out - bias if bias is not None else base_out
        return base_out + (mag_norm_scale - 1) * base_result + mag_norm_scale * lora_result * scaling


def dora_magnitude(weight, a, b, scaling):
    """DoraLinearLayer.update_layer: ||W + scaling * B @ A|| over dim 1 of the [out, in] weight."""
    return torch.linalg.norm(weight + scaling * (b @ a), dim=1).to(weight.dtype)


def base_weight(w, name, conv):
    """The [out, in] view of a module's weight (Conv1D stores [in, out]); lm_head may be tied to the embeddings."""
    if name == "lm_head" and "lm_head.weight" not in w:
        return w["model.embed_tokens.weight"] if "model.embed_tokens.weight" in w else w["transformer.wte.weight"]
    return w[name + ".weight"].t() if conv else w[name + ".weight"]


def lora_keys(key, tensors):
    """PEFT's saved keys of one module: lora_A.weight / lora_B.weight, or lora_embedding_A / _B (nn.Parameter)."""
    if key + ".lora_embedding_A" in tensors:
        return key + ".lora_embedding_A", key + ".lora_embedding_B"
    return key + ".lora_A.weight", key + ".lora_B.weight"


def embedding_padding(cfg):
    """padding_idx of the token embedding: config.pad_token_id (LlamaModel & co.); GPT-2's nn.Embedding has none."""
    if cfg.get("model_type") == "gpt2" or cfg.get("pad_token_id") is None:
        return {}
    return {"model.embed_tokens": int(cfg["pad_token_id"])}


def linear(w, name, x, lora):
    """nn.Linear: x @ W^T + b, W [out, in]."""
    out = x @ w[name + ".weight"].t()
    if name + ".bias" in w:
        out = out + w[name + ".bias"]
    return lora.apply(name, x, out, w[name + ".weight"], w.get(name + ".bias"))


def conv1d(w, name, x, lora):
    """transformers.pytorch_utils.Conv1D: x @ W + b, W [in, out]."""
    out = x @ w[name + ".weight"] + w[name + ".bias"]
    return lora.apply(name, x, out, w[name + ".weight"].t(), w[name + ".bias"])


# ---------------------------------------------------------------- attention masks (masking_utils: causal + padding)
def attention_bias(attention_mask, position_ids, dtype, sliding_window=None):
    """Additive mask [B,1,S,S]: 0 where key j is visible from query i, finfo.min elsewhere.
    Causal, keys with attention_mask 0 hidden; with explicit position_ids, a new segment starts at each
    position 0 (packed sequences: block-diagonal causal). sliding_window W: masking_utils.sliding_window_overlay,
    key j visible only when j > i - W."""
    bsz, seq = attention_mask.shape
    i = torch.arange(seq)
    allowed = (i[None, :] <= i[:, None])
    if sliding_window is not None:
        allowed = allowed & (i[None, :] > i[:, None] - sliding_window)
    allowed = allowed[None].expand(bsz, seq, seq)
    allowed = allowed & (attention_mask[:, None, :] > 0)
    if position_ids is not None:
        seg = torch.cumsum((position_ids == 0).long(), dim=-1)
        allowed = allowed & (seg[:, :, None] == seg[:, None, :])
    bias = torch.zeros(bsz, 1, seq, seq, dtype=dtype)
    bias.masked_fill_(~allowed[:, None], torch.finfo(dtype).min)
    return bias


def attend(q, k, v, bias, scale, divide=False):
    """eager_attention_forward: softmax(q k^T * scale + mask) in fp32, @ v. q,k,v: [B,H,S,D].
    GPT-2's version divides by sqrt(head_dim) instead (modeling_gpt2.eager_attention_forward)."""
    scores = torch.matmul(q, k.transpose(2, 3))
    scores = (scores / math.sqrt(q.shape[-1]) if divide else scores * scale) + bias
    probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
    return torch.matmul(probs, v)


# ---------------------------------------------------------------- Llama / Mistral / Qwen2 (modeling_llama.py)
def longrope_params(cfg, scaling):
    """_compute_longrope_parameters: with a config-level original_max_position_embeddings (Phi3Config always has
    one, default 4096) factor = max_position_embeddings / original; else rope_scaling.factor and the original is
    max_position_embeddings. attention_factor, unless given: sqrt(1 + ln(factor) / ln(original)), 1 if factor <= 1."""
    max_pos = cfg["max_position_embeddings"]
    if "original_max_position_embeddings" in cfg or cfg.get("model_type") == "phi3":
        original = cfg.get("original_max_position_embeddings", 4096)
        factor = max_pos / original
    else:
        original = max_pos
        factor = scaling.get("factor")
    attn = scaling.get("attention_factor")
    if attn is None:
        attn = 1.0 if factor <= 1.0 else math.sqrt(1 + math.log(factor) / math.log(original))
    return original, attn


def rope_scaling_of(cfg):
    params = cfg.get("rope_parameters") or {}
    return cfg.get("rope_scaling") or (params if "rope_type" in params or "type" in params else None)


def rope_cos_sin(cfg, dim, position_ids, ftype, dtype):
    """RotaryEmbedding.forward: freqs = positions x inv_freq, emb = cat(freqs, freqs), cos/sin times
    attention_scaling (longrope's attention factor, else 1) in fp32, then cast to the activations' dtype. longrope
    (longrope_frequency_update): seq_len = max(position_ids) + 1 picks the long factors beyond the original context."""
    scaling = rope_scaling_of(cfg)
    attn = 1.0
    seq_len = int(position_ids.max()) + 1
    if scaling is not None and scaling.get("rope_type", scaling.get("type")) in ("longrope", "su"):
        _, attn = longrope_params(cfg, scaling)
    inv = rope_inv_freq(cfg, dim, ftype, seq_len)
    freqs = position_ids.to(ftype)[:, :, None] * inv[None, None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    return (emb.cos() * attn).to(dtype)[:, None], (emb.sin() * attn).to(dtype)[:, None]


def rope_inv_freq(cfg, head_dim, ftype, seq_len=None):
    """head_dim here is the rotary dimension: int(head_dim * partial_rotary_factor) for Phi-3."""
    """modeling_rope_utils: default / linear / llama3 / dynamic (within max_position_embeddings) / longrope.
    transformers computes in fp32; the float64 mode computes in float64 (for tight checks)."""
    params = cfg.get("rope_parameters") or {}
    theta = params.get("rope_theta", cfg.get("rope_theta", 10000.0))
    scaling = cfg.get("rope_scaling") or (params if "rope_type" in params or "type" in params else None)
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).to(ftype) / head_dim))
    if scaling is None:
        return inv
    rtype = scaling.get("rope_type", scaling.get("type", "default"))
    if rtype == "linear":
        return inv / scaling["factor"]
    if rtype == "llama3":
        factor = scaling["factor"]
        low, high = scaling["low_freq_factor"], scaling["high_freq_factor"]
        old = scaling["original_max_position_embeddings"]
        low_wavelen, high_wavelen = old / low, old / high
        wavelen = 2 * math.pi / inv
        inv_l = torch.where(wavelen > low_wavelen, inv / factor, inv)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * inv_l / factor + smooth * inv_l
        is_medium = ~(wavelen < high_wavelen) * ~(wavelen > low_wavelen)
        return torch.where(is_medium, smoothed, inv_l)
    if rtype in ("default", "dynamic"):
        return inv
    if rtype in ("longrope", "su"):
        original, _ = longrope_params(cfg, scaling)
        ext = scaling["long_factor"] if seq_len is not None and seq_len > original else scaling["short_factor"]
        assert len(ext) == head_dim // 2, "longrope factors: one per rotary frequency"
        shape = torch.arange(0, head_dim, 2, dtype=torch.int64).to(ftype) / head_dim
        return 1.0 / (torch.tensor(ext, dtype=ftype) * theta ** shape)
    raise ValueError(f"unsupported rope_type {rtype}")


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rms_norm(x, weight, eps):
    """LlamaRMSNorm: fp32 x * rsqrt(mean(x^2) + eps), cast back, times weight."""
    dtype = x.dtype
    h = x.to(torch.float32) if dtype != torch.float64 else x
    var = h.pow(2).mean(-1, keepdim=True)
    h = h * torch.rsqrt(var + eps)
    return weight * h.to(dtype)


def llama_forward(cfg, w, lora, input_ids, attention_mask, position_ids, dtype):
    hidden = cfg["hidden_size"]
    n_heads = cfg["num_attention_heads"]
    n_kv = cfg.get("num_key_value_heads") or n_heads
    head_dim = cfg.get("head_dim") or (128 if cfg.get("model_type") == "qwen3" else hidden // n_heads)
    eps = cfg.get("rms_norm_eps", 1e-6)
    bsz, seq = input_ids.shape
    explicit_pos = position_ids is not None
    if not explicit_pos:
        position_ids = torch.arange(seq)[None].expand(bsz, seq)
    ftype = torch.float64 if dtype == torch.float64 else torch.float32
    cos, sin = rope_cos_sin(cfg, head_dim, position_ids, ftype, dtype)  # fp32 as transformers
    full_bias = attention_bias(attention_mask, position_ids if explicit_pos else None, dtype)
    window = cfg.get("sliding_window")
    mtype = cfg.get("model_type")
    if mtype in ("qwen2", "qwen3") and not cfg.get("use_sliding_window", False):
        window = None
    if mtype not in ("mistral", "qwen2", "qwen3"):
        window = None
    sliding_bias = attention_bias(attention_mask, position_ids if explicit_pos else None, dtype, window) if window else full_bias
    h = lora.embed("model.embed_tokens", input_ids, w["model.embed_tokens.weight"][input_ids])
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}"
        # Mistral: every layer slides; Qwen2/Qwen3: layer_types, else layers >= max_window_layers.
        if "layer_types" in cfg and cfg["layer_types"]:
            slides = cfg["layer_types"][i] == "sliding_attention"
        else:
            slides = mtype == "mistral" or i >= cfg.get("max_window_layers", 28)
        bias = sliding_bias if slides else full_bias
        res = h
        x = rms_norm(h, w[p + ".input_layernorm.weight"], eps)
        q = linear(w, p + ".self_attn.q_proj", x, lora).view(bsz, seq, n_heads, head_dim).transpose(1, 2)
        k = linear(w, p + ".self_attn.k_proj", x, lora).view(bsz, seq, n_kv, head_dim).transpose(1, 2)
        v = linear(w, p + ".self_attn.v_proj", x, lora).view(bsz, seq, n_kv, head_dim).transpose(1, 2)
        if cfg.get("model_type") == "qwen3":  # Qwen3Attention: per-head RMSNorm before RoPE
            q = rms_norm(q, w[p + ".self_attn.q_norm.weight"], eps)
            k = rms_norm(k, w[p + ".self_attn.k_norm.weight"], eps)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = n_heads // n_kv  # repeat_kv
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        o = attend(q, k, v, bias, head_dim ** -0.5).transpose(1, 2).reshape(bsz, seq, n_heads * head_dim)
        h = res + linear(w, p + ".self_attn.o_proj", o, lora)
        res = h
        x = rms_norm(h, w[p + ".post_attention_layernorm.weight"], eps)
        g = linear(w, p + ".mlp.gate_proj", x, lora)
        u = linear(w, p + ".mlp.up_proj", x, lora)
        h = res + linear(w, p + ".mlp.down_proj", torch.nn.functional.silu(g) * u, lora)
    h = rms_norm(h, w["model.norm.weight"], eps)
    tied = cfg.get("tie_word_embeddings", False) or "lm_head.weight" not in w
    head = w["model.embed_tokens.weight"] if tied else w["lm_head.weight"]
    return lora.apply("lm_head", h, h @ head.t(), head)


# ---------------------------------------------------------------- Phi-3 / Phi-3.5 / Phi-4-mini (modeling_phi3.py)
def phi3_forward(cfg, w, lora, input_ids, attention_mask, position_ids, dtype):
    """Phi3Model: fused qkv_proj sliced [q | k | v]; partial rotary (rotary_dim = int(head_dim * partial_rotary_factor):
    q_rot, q_pass = q[..., :rotary_dim], q[..., rotary_dim:], cat(rope(q_rot), q_pass)); Phi3MLP gate_up_proj with
    gate, up = chunk(2, dim=-1), up * silu(gate)."""
    hidden = cfg["hidden_size"]
    n_heads = cfg["num_attention_heads"]
    n_kv = cfg.get("num_key_value_heads") or n_heads
    head_dim = cfg.get("head_dim") or hidden // n_heads
    rot = int(head_dim * cfg.get("partial_rotary_factor", 1.0))
    eps = cfg.get("rms_norm_eps", 1e-5)
    inter = cfg["intermediate_size"]
    bsz, seq = input_ids.shape
    explicit_pos = position_ids is not None
    if not explicit_pos:
        position_ids = torch.arange(seq)[None].expand(bsz, seq)
    ftype = torch.float64 if dtype == torch.float64 else torch.float32
    cos, sin = rope_cos_sin(cfg, rot, position_ids, ftype, dtype)
    bias = attention_bias(attention_mask, position_ids if explicit_pos else None, dtype, cfg.get("sliding_window"))

    def rope(x):
        x_rot, x_pass = x[..., :rot], x[..., rot:]
        return torch.cat(((x_rot * cos) + (rotate_half(x_rot) * sin), x_pass), dim=-1)

    h = lora.embed("model.embed_tokens", input_ids, w["model.embed_tokens.weight"][input_ids])
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}"
        res = h
        x = rms_norm(h, w[p + ".input_layernorm.weight"], eps)
        qkv = linear(w, p + ".self_attn.qkv_proj", x, lora)
        qp = n_heads * head_dim
        q = qkv[..., :qp].reshape(bsz, seq, n_heads, head_dim).transpose(1, 2)
        k = qkv[..., qp:qp + n_kv * head_dim].reshape(bsz, seq, n_kv, head_dim).transpose(1, 2)
        v = qkv[..., qp + n_kv * head_dim:].reshape(bsz, seq, n_kv, head_dim).transpose(1, 2)
        q, k = rope(q), rope(k)
        rep = n_heads // n_kv
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        o = attend(q, k, v, bias, head_dim ** -0.5).transpose(1, 2).reshape(bsz, seq, n_heads * head_dim)
        h = res + linear(w, p + ".self_attn.o_proj", o, lora)
        res = h
        x = rms_norm(h, w[p + ".post_attention_layernorm.weight"], eps)
        gate, up = linear(w, p + ".mlp.gate_up_proj", x, lora).chunk(2, dim=-1)
        assert gate.shape[-1] == inter
        h = res + linear(w, p + ".mlp.down_proj", up * torch.nn.functional.silu(gate), lora)
    h = rms_norm(h, w["model.norm.weight"], eps)
    tied = cfg.get("tie_word_embeddings", False) or "lm_head.weight" not in w
    head = w["model.embed_tokens.weight"] if tied else w["lm_head.weight"]
    return lora.apply("lm_head", h, h @ head.t(), head)


# ---------------------------------------------------------------- Gemma 2 (modeling_gemma2.py)
def gelu_tanh(x):
    """gelu_pytorch_tanh = torch.nn.functional.gelu(x, approximate="tanh")."""
    return torch.nn.functional.gelu(x, approximate="tanh")


def gemma_norm(x, weight, eps):
    """Gemma2RMSNorm: x.float() * rsqrt(mean(x^2) + eps) * (1 + weight.float()), cast back to x's dtype."""
    dtype = x.dtype
    h = x.to(torch.float32) if dtype != torch.float64 else x
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
    wf = weight.to(h.dtype)
    return (h * (1.0 + wf)).to(dtype)


def gemma2_forward(cfg, w, lora, input_ids, attention_mask, position_ids, dtype):
    """Gemma2Model: embeddings * tensor(hidden**0.5, dtype); per layer input_layernorm, attention (scaling
    query_pre_attn_scalar**-0.5, scores tanh-soft-capped by attn_logit_softcapping before the mask, sliding window on
    layer_types 'sliding_attention' = even layers), post_attention_layernorm, residual, pre_feedforward_layernorm,
    down(gelu_tanh(gate) * up), post_feedforward_layernorm, residual; final norm; tied head; final-logit soft-cap."""
    hidden = cfg["hidden_size"]
    n_heads = cfg["num_attention_heads"]
    n_kv = cfg.get("num_key_value_heads") or n_heads
    head_dim = cfg.get("head_dim") or 256
    eps = cfg.get("rms_norm_eps", 1e-6)
    scaling = cfg.get("query_pre_attn_scalar", 256) ** -0.5
    attn_cap = cfg.get("attn_logit_softcapping")
    final_cap = cfg.get("final_logit_softcapping")
    window = cfg.get("sliding_window")
    bsz, seq = input_ids.shape
    explicit_pos = position_ids is not None
    if not explicit_pos:
        position_ids = torch.arange(seq)[None].expand(bsz, seq)
    ftype = torch.float64 if dtype == torch.float64 else torch.float32
    inv = rope_inv_freq(cfg, head_dim, ftype)
    freqs = position_ids.to(ftype)[:, :, None] * inv[None, None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos().to(dtype)[:, None], emb.sin().to(dtype)[:, None]
    seg_pos = position_ids if explicit_pos else None
    full_bias = attention_bias(attention_mask, seg_pos, dtype)
    sliding_bias = attention_bias(attention_mask, seg_pos, dtype, window) if window else full_bias
    gemma3 = cfg.get("model_type") == "gemma3_text"
    if gemma3:  # Gemma3: rotary_emb_local = rope_local_base_freq, default rope (no scaling)
        local_cfg = dict(cfg, rope_theta=cfg.get("rope_local_base_freq", 10000.0), rope_scaling=None)
        lfreqs = position_ids.to(ftype)[:, :, None] * rope_inv_freq(local_cfg, head_dim, ftype)[None, None, :]
        lemb = torch.cat((lfreqs, lfreqs), dim=-1)
        local_cos, local_sin = lemb.cos().to(dtype)[:, None], lemb.sin().to(dtype)[:, None]
    h = lora.embed("model.embed_tokens", input_ids, w["model.embed_tokens.weight"][input_ids])
    h = h * torch.tensor(hidden ** 0.5, dtype=h.dtype)
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}"
        types = cfg.get("layer_types")
        if types:
            slides = types[i] == "sliding_attention"
        elif gemma3:
            slides = bool((i + 1) % cfg.get("sliding_window_pattern", 6))
        else:
            slides = bool((i + 1) % 2)
        bias = sliding_bias if slides else full_bias
        lc, ls = (local_cos, local_sin) if gemma3 and slides else (cos, sin)
        res = h
        x = gemma_norm(h, w[p + ".input_layernorm.weight"], eps)
        q = linear(w, p + ".self_attn.q_proj", x, lora).view(bsz, seq, n_heads, head_dim).transpose(1, 2)
        k = linear(w, p + ".self_attn.k_proj", x, lora).view(bsz, seq, n_kv, head_dim).transpose(1, 2)
        v = linear(w, p + ".self_attn.v_proj", x, lora).view(bsz, seq, n_kv, head_dim).transpose(1, 2)
        if gemma3:  # Gemma3Attention: q_norm / k_norm ((1 + w) RMSNorm over head_dim) before RoPE
            q = gemma_norm(q, w[p + ".self_attn.q_norm.weight"], eps)
            k = gemma_norm(k, w[p + ".self_attn.k_norm.weight"], eps)
        q = q * lc + rotate_half(q) * ls
        k = k * lc + rotate_half(k) * ls
        rep = n_heads // n_kv
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        scores = torch.matmul(q, k.transpose(2, 3)) * scaling
        if attn_cap is not None:
            scores = torch.tanh(scores / attn_cap) * attn_cap
        probs = torch.softmax(scores + bias, dim=-1, dtype=torch.float32).to(q.dtype)
        o = torch.matmul(probs, v).transpose(1, 2).reshape(bsz, seq, n_heads * head_dim)
        o = linear(w, p + ".self_attn.o_proj", o, lora)
        h = res + gemma_norm(o, w[p + ".post_attention_layernorm.weight"], eps)
        res = h
        x = gemma_norm(h, w[p + ".pre_feedforward_layernorm.weight"], eps)
        g = linear(w, p + ".mlp.gate_proj", x, lora)
        u = linear(w, p + ".mlp.up_proj", x, lora)
        m = linear(w, p + ".mlp.down_proj", gelu_tanh(g) * u, lora)
        h = res + gemma_norm(m, w[p + ".post_feedforward_layernorm.weight"], eps)
    h = gemma_norm(h, w["model.norm.weight"], eps)
    tied = cfg.get("tie_word_embeddings", True) or "lm_head.weight" not in w
    head = w["model.embed_tokens.weight"] if tied else w["lm_head.weight"]
    logits = lora.apply("lm_head", h, h @ head.t(), head)
    if final_cap is not None:
        logits = torch.tanh(logits / final_cap) * final_cap
    return logits


# ---------------------------------------------------------------- GPT-2 (modeling_gpt2.py)
def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def gpt2_forward(cfg, w, lora, input_ids, attention_mask, position_ids, dtype):
    hidden = cfg["n_embd"]
    n_heads = cfg["n_head"]
    head_dim = hidden // n_heads
    eps = cfg.get("layer_norm_epsilon", 1e-5)
    bsz, seq = input_ids.shape
    explicit_pos = position_ids is not None
    if not explicit_pos:
        position_ids = torch.arange(seq)[None].expand(bsz, seq)
    bias = attention_bias(attention_mask, position_ids if explicit_pos else None, dtype)
    h = (lora.embed("transformer.wte", input_ids, w["transformer.wte.weight"][input_ids])
         + lora.embed("transformer.wpe", position_ids, w["transformer.wpe.weight"][position_ids]))

    def ln(x, name):
        return torch.nn.functional.layer_norm(x, (hidden,), w[name + ".weight"], w[name + ".bias"], eps)

    for i in range(cfg["n_layer"]):
        p = f"transformer.h.{i}"
        res = h
        x = ln(h, p + ".ln_1")
        qkv = conv1d(w, p + ".attn.c_attn", x, lora)
        q, k, v = (t.view(bsz, seq, n_heads, head_dim).transpose(1, 2) for t in qkv.split(hidden, dim=2))
        o = attend(q, k, v, bias, None, divide=True).transpose(1, 2).reshape(bsz, seq, hidden)
        h = res + conv1d(w, p + ".attn.c_proj", o, lora)
        res = h
        x = ln(h, p + ".ln_2")
        h = res + conv1d(w, p + ".mlp.c_proj", gelu_new(conv1d(w, p + ".mlp.c_fc", x, lora)), lora)
    h = ln(h, "transformer.ln_f")
    tied = cfg.get("tie_word_embeddings", True) or "lm_head.weight" not in w
    head = w["transformer.wte.weight"] if tied else w["lm_head.weight"]
    return lora.apply("lm_head", h, h @ head.t(), head)


def normalise_gpt2_keys(w):
    """The hub gpt2 file has no `transformer.` prefix and carries attn.bias buffers."""
    out = {}
    for k, v in w.items():
        if k.endswith(".attn.bias") or k.endswith(".attn.masked_bias"):
            continue
        out[k if k.startswith("transformer.") or k.startswith("lm_head") else "transformer." + k] = v
    return out


# ---------------------------------------------------------------- loss (loss_utils.ForCausalLMLoss)
def loss_sum(logits, labels):
    """Summed CE over shifted labels != -100, in fp32 (or fp64), and the label-token count."""
    logits = logits.float() if logits.dtype != torch.float64 else logits
    shift_logits = logits[:, :-1].reshape(-1, logits.shape[-1])
    shift_labels = labels[:, 1:].reshape(-1)
    total = torch.nn.functional.cross_entropy(shift_logits, shift_labels, ignore_index=-100, reduction="sum")
    return total, int((shift_labels != -100).sum())


FORWARDS = {"gpt2": gpt2_forward, "phi3": phi3_forward, "gemma2": gemma2_forward, "gemma3_text": gemma2_forward}


def inference(job, cfg, w, lora, forward, dtype):
    """No training: `generate` {"prompt": ids, "max_new_tokens": n} = greedy decoding (full recompute per token,
    argmax of the last position's logits); `logits_input` ids = the logits [seq][vocab] of one forward pass."""
    out = {}
    with torch.no_grad():
        if job.get("logits_input"):
            ids = torch.tensor([job["logits_input"]], dtype=torch.int64)
            logits = forward(cfg, w, lora, ids, torch.ones_like(ids), None, dtype)
            out["logits"] = logits[0].to(torch.float64).tolist()
        if job.get("generate"):
            ids = list(job["generate"]["prompt"])
            new = []
            for _ in range(int(job["generate"]["max_new_tokens"])):
                t = torch.tensor([ids], dtype=torch.int64)
                logits = forward(cfg, w, lora, t, torch.ones_like(t), None, dtype)[0, -1]
                top2 = torch.topk(logits, 2).values
                nxt = int(torch.argmax(logits))
                new.append(nxt)
                out.setdefault("margins", []).append(float(top2[0] - top2[1]))
                ids.append(nxt)
            out["generated"] = new
    return out


def generate_main(job, out_path):
    """Greedy generation by full recomputation (no KV cache): transformers' generate(do_sample=False) with an
    optional PEFT adapter (scaling per module from the job). Per prompt: the new ids and log_softmax of the raw
    logits at each chosen token."""
    dtype = torch.float64 if job.get("dtype") == "float64" else torch.float32
    torch.set_num_threads(int(job.get("threads", 1)))
    model_dir = job["model_dir"]
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    w = {k: torch.from_numpy(np.array(v, dtype=np.float64)).to(dtype) for k, v in load_checkpoint(model_dir).items()}
    is_gpt2 = cfg.get("model_type") == "gpt2"
    if is_gpt2:
        w = normalise_gpt2_keys(w)
    forward = FORWARDS.get(cfg.get("model_type"), llama_forward)
    results = []
    for spec in job.get("adapters") or [None]:
        adapters, scaling, magnitudes, lora_biases = {}, {}, {}, {}
        wa = dict(w)  # this adapter's weights: trained biases (bias lora_only / all) replace the base ones
        if spec is not None:
            init = read_safetensors(spec["path"])
            for m in spec["modules"]:
                key = "base_model.model." + m["name"]
                adapters[m["name"]] = tuple(torch.tensor(np.array(init[k], dtype=np.float64), dtype=dtype)
                                            for k in lora_keys(key, init))
                scaling[m["name"]] = float(m["scaling"])
                if key + ".lora_magnitude_vector" in init:  # DoRA
                    magnitudes[m["name"]] = torch.tensor(np.array(init[key + ".lora_magnitude_vector"], dtype=np.float64), dtype=dtype)
                if key + ".lora_B.bias" in init:  # lora_bias
                    lora_biases[m["name"]] = torch.tensor(np.array(init[key + ".lora_B.bias"], dtype=np.float64), dtype=dtype)
            for k, v in init.items():
                if k.endswith(".bias") and ".lora_" not in k:
                    name = k[len("base_model.model."):].replace(".base_layer.bias", ".bias")
                    wa[name] = torch.tensor(np.array(v, dtype=np.float64), dtype=dtype)
        lora = Lora(adapters, scaling, magnitudes, lora_biases)
        lora.padding_idx = embedding_padding(cfg)
        cfa = cfg
        for t in (spec or {}).get("tokens") or []:
            wa = dict(wa)
            wname = t["module"] + ".weight"
            wa[wname] = w[wname].index_copy(0, torch.tensor(t["rows"], dtype=torch.int64),
                                            torch.tensor(np.array(init[t["key"]], dtype=np.float64), dtype=dtype))
            lora.token_weights[t["module"]] = wa[wname]
        for c in (spec or {}).get("copies") or []:
            # modules_to_save: the adapter's copy replaces the module's tensor (a tied lm_head gets its own)
            wa = dict(wa)
            cfa = keep_tied_head(cfa, wa, c["param"])
            wa[c["param"]] = torch.tensor(np.array(init[c["key"]], dtype=np.float64), dtype=dtype)
            if c["param"] == "lm_head.weight":
                cfa = dict(cfa, tie_word_embeddings=False)
        with torch.no_grad():
            for prompt in job["prompts"]:
                ids = list(prompt)
                new_ids, logprobs = [], []
                for _ in range(int(job["max_new_tokens"])):
                    x = torch.tensor([ids], dtype=torch.int64)
                    logits = forward(cfa, wa, lora, x, torch.ones_like(x), None, dtype)[0, -1]
                    tok = int(torch.argmax(logits))
                    logprobs.append(float(torch.log_softmax(logits.to(torch.float64), dim=-1)[tok]))
                    new_ids.append(tok)
                    ids.append(tok)
                results.append({"token_ids": new_ids, "logprobs": logprobs})
    with open(out_path, "w") as f:
        json.dump({"generations": results}, f)


def keep_tied_head(cfg, w, param):
    """Before a modules_to_save copy replaces the embedding `param` of a tied model: PEFT deep-copies the embedding
    module and the tied lm_head keeps the original parameter, so the head gets the original as its own weight."""
    if param in ("model.embed_tokens.weight", "transformer.wte.weight") and "lm_head.weight" not in w:
        w["lm_head.weight"] = w[param]
        return dict(cfg, tie_word_embeddings=False)
    return cfg


def merge_main(job, out_path):
    """merge_and_unload of one adapter (lora/layer.py Linear.merge + variants.py DoraLinearVariant.merge_safe): per
    module W + s*B@A, with DoRA times (m / ||W + s*B@A||) per output row; written in the checkpoint's layout."""
    model_dir = job["model_dir"]
    w = {k: torch.from_numpy(np.array(v, dtype=np.float64)).to(torch.float32) for k, v in load_checkpoint(model_dir).items()}
    init = read_safetensors(job["adapter"])
    out = {}
    for m in job["modules"]:
        key = "base_model.model." + m["name"]
        conv = bool(m.get("conv1d"))
        weight = w[m["weight_key"]].t() if conv else w[m["weight_key"]]
        a = torch.tensor(np.array(init[key + ".lora_A.weight"], dtype=np.float64), dtype=torch.float32)
        b = torch.tensor(np.array(init[key + ".lora_B.weight"], dtype=np.float64), dtype=torch.float32)
        delta = (b @ a) * float(m["scaling"])  # get_delta_weight
        merged = weight + delta
        if key + ".lora_magnitude_vector" in init:
            mag = torch.tensor(np.array(init[key + ".lora_magnitude_vector"], dtype=np.float64), dtype=torch.float32)
            weight_norm = torch.linalg.norm(weight + delta, dim=1).to(weight.dtype).detach()  # get_weight_norm(scaling=1)
            merged = (mag / weight_norm).view(-1, 1) * merged
        out[m["weight_key"]] = (merged.t() if conv else merged).contiguous().to(torch.float64).numpy()
    write_safetensors(out_path, out, {"format": "pt"})


def main():
    job_path, out_path = sys.argv[1], sys.argv[2]
    with open(job_path) as f:
        job = json.load(f)
    if job.get("mode") == "generate":
        return generate_main(job, out_path)
    if job.get("mode") == "merge":
        return merge_main(job, out_path)
    dtype = torch.float64 if job.get("dtype") == "float64" else torch.float32
    torch.manual_seed(0)
    torch.set_num_threads(int(job.get("threads", 2)))
    model_dir = job["model_dir"]
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    w = {k: torch.from_numpy(np.array(v, dtype=np.float64)).to(dtype) for k, v in load_checkpoint(model_dir).items()}
    is_gpt2 = cfg.get("model_type") == "gpt2"
    if is_gpt2:
        w = normalise_gpt2_keys(w)
    forward = FORWARDS.get(cfg.get("model_type"), llama_forward)

    init = read_safetensors(job["init_adapter"]) if job.get("init_adapter") else {}
    adapters, scaling, magnitudes, params, names = {}, {}, {}, [], []
    as_leaf = lambda v: torch.tensor(np.array(v, dtype=np.float64), dtype=dtype, requires_grad=True)  # noqa: E731
    for m in job["modules"]:
        key = "base_model.model." + m["name"]
        ka, kb = lora_keys(key, init)
        a = as_leaf(init[ka])
        b = as_leaf(init[kb])
        adapters[m["name"]] = (a, b)
        scaling[m["name"]] = float(m["scaling"])
        params += [a, b]
        names += [ka, kb]
        if job.get("use_dora"):
            # lora_magnitude_vector: the saved one, else DoraLinearLayer.update_layer's norm of the initial W + s*B@A
            mk = key + ".lora_magnitude_vector"
            if mk in init:
                mag = as_leaf(init[mk])
            else:
                with torch.no_grad():
                    weight = base_weight(w, m["name"], is_gpt2 and m["name"] != "lm_head")
                    mag = dora_magnitude(weight, a, b, scaling[m["name"]]).clone().requires_grad_(True)
            magnitudes[m["name"]] = mag
            params.append(mag)
            names.append(mk)
    # bias "lora_only" / "all" (lora/model.py _mark_only_adapters_as_trainable): those base biases train; saved under
    # <module>.base_layer.bias for adapted modules (LoRA wraps the layer), their own name otherwise.
    bias_mode = job.get("bias", "none")
    adapted = {m["name"] for m in job["modules"]}
    bias_names = []
    if bias_mode == "lora_only":
        bias_names = [n + ".bias" for n in adapted if n + ".bias" in w]
    elif bias_mode == "all":
        bias_names = [k for k in w if "bias" in k.split(".")[-1]]
    bias_params, bias_keys = [], []
    lora_biases = {}
    if job.get("lora_bias"):  # lora_B's bias: zeros at init (reset_lora_parameters), no weight decay (a "bias" name)
        for m in job["modules"]:
            k = "base_model.model." + m["name"] + ".lora_B.bias"
            out_features = adapters[m["name"]][1].shape[0]
            lora_biases[m["name"]] = as_leaf(init[k]) if k in init else torch.zeros(out_features, dtype=dtype, requires_grad=True)
            bias_params.append(lora_biases[m["name"]])
            bias_keys.append(k)
    for n in sorted(bias_names):
        mod = n[: -len(".bias")]
        saved = "base_model.model." + (mod + ".base_layer.bias" if mod in adapted else n)
        w[n] = as_leaf(init[saved]) if saved in init else w[n].detach().clone().requires_grad_(True)
        bias_params.append(w[n])
        bias_keys.append(saved)
    lora = Lora(adapters, scaling, magnitudes, lora_biases)
    lora.padding_idx = embedding_padding(cfg)
    # modules_to_save (peft utils/other.py ModulesToSaveWrapper): a trainable deep copy of each module replaces it in
    # the forward; a tied lm_head's copy no longer shares the embedding. Saved as base_model.model.<module>.weight.
    no_decay = []
    for m in job.get("modules_to_save") or []:
        for part in m["params"]:
            key = "base_model.model." + m["name"] + "." + part
            src = w.get(m["name"] + "." + part)
            if src is None and m["name"] == "lm_head" and part == "weight":
                src = w["transformer.wte.weight" if is_gpt2 else "model.embed_tokens.weight"]
            value = torch.tensor(np.array(init[key], dtype=np.float64), dtype=dtype) if key in init else src.detach().clone()
            p = value.requires_grad_(True)
            cfg = keep_tied_head(cfg, w, m["name"] + "." + part)
            w[m["name"] + "." + part] = p
            if m["name"] == "lm_head":
                cfg = dict(cfg, tie_word_embeddings=False)
            params.append(p)
            names.append(key)
            if not m["decay"][part]:
                # transformers Trainer.get_decay_parameter_names: biases and norm weights get no weight decay
                no_decay.append(p)
    if job.get("generate") or job.get("logits_input"):
        with open(out_path, "w") as f:
            json.dump(inference(job, cfg, w, lora, forward, dtype), f)
        return
    opt = job["optimizer"]
    # trainable_token_indices: a delta [n, dim] (initialised as W[idx]) per wrapped layer; W' = W.index_copy(0, idx,
    # delta) replaces the weight in every forward (a tied head reads the embedding's W', so it follows the delta).
    token_deltas = []
    for t in job.get("token_deltas") or []:
        wname = t["module"] + ".weight"
        idx = torch.tensor(t["rows"], dtype=torch.int64)
        value = torch.tensor(np.array(init[t["key"]], dtype=np.float64), dtype=dtype) if t["key"] in init else w[wname][idx].detach().clone()
        p = value.requires_grad_(True)
        params.append(p)
        names.append(t["key"])
        token_deltas.append((t["module"], wname, idx, p))

    def with_tokens():
        if not token_deltas:
            return w
        w2 = dict(w)
        lora.token_weights = {}
        for module, wname, idx, p in token_deltas:
            w2[wname] = w[wname].index_copy(0, idx, p)
            lora.token_weights[module] = w2[wname]
        return w2

    # Trainer.create_optimizer: weight decay on every trainable parameter but biases and norm weights
    names = names + bias_keys
    params = params + bias_params
    no_decay = no_decay + bias_params
    skip = set(id(p) for p in no_decay)
    groups = [{"params": [p for p in params if id(p) not in skip], "weight_decay": opt["weight_decay"]}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    optim = torch.optim.AdamW(groups, lr=1e-3, betas=(opt["beta1"], opt["beta2"]), eps=opt["eps"],
                              weight_decay=opt["weight_decay"])

    def batch_loss(mb):
        ids = torch.tensor(mb["input_ids"], dtype=torch.int64)
        labels = torch.tensor(mb["labels"], dtype=torch.int64)
        mask = torch.tensor(mb.get("attention_mask") or np.ones(ids.shape, dtype=np.int64).tolist())
        pos = torch.tensor(mb["position_ids"], dtype=torch.int64) if mb.get("position_ids") else None
        lora.masks = {k: torch.tensor(v, dtype=dtype) for k, v in (mb.get("dropout_masks") or {}).items()}
        return loss_sum(forward(cfg, with_tokens(), lora, ids, mask, pos, dtype), labels)

    results = []
    for step in job["steps"]:
        optim.zero_grad(set_to_none=True)
        mbs = step["micro_batches"]
        n_items = sum(int((torch.tensor(mb["labels"])[:, 1:] != -100).sum()) for mb in mbs)
        total = 0.0
        for mb in mbs:  # Trainer: each micro-batch loss = sum / num_items_in_batch, backward accumulates
            s, _ = batch_loss(mb)
            loss = s / n_items
            loss.backward()
            total += float(loss.detach())
        max_norm = float(opt["max_grad_norm"])
        if max_norm > 0:
            grad_norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
        else:
            grad_norm = float(torch.norm(torch.stack([torch.norm(p.grad.detach(), 2) for p in params]), 2))
        for g in optim.param_groups:
            g["lr"] = float(step["lr"])
        optim.step()
        results.append({"loss": total, "grad_norm": grad_norm, "label_tokens": n_items})

    evals = []
    with torch.no_grad():
        for mb in job.get("eval_batches", []):
            s, n = batch_loss(mb)
            evals.append({"loss_sum": float(s), "label_tokens": n})

    if job.get("output_adapter"):
        write_safetensors(job["output_adapter"],
                          {n: p.detach().to(torch.float64).numpy() for n, p in zip(names, params)},
                          {"format": "pt"})
    with open(out_path, "w") as f:
        json.dump({"steps": results, "eval": evals, "parameter_names": names}, f)


if __name__ == "__main__":
    main()
