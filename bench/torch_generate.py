#!/usr/bin/env python3
# PyTorch eager reference for the generation bench: greedy decoding with a KV cache (as transformers' DynamicCache:
# keys/values concatenated per step) on a Llama-family fixture, the model math of test/reference/torch_ref.py.
# Prints one JSON line: prefill and decode tokens/s (medians over runs), peak RSS, the generated ids.
#
# Usage: /usr/bin/python3 bench/torch_generate.py --model-dir DIR --prompt 1,2,3 [--new-tokens 64] [--runs 3] [--threads 2]
import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "reference"))
import torch_ref  # noqa: E402
from torch_lora_step import load_weights  # noqa: E402


def llama_step(cfg, w, ids, past, start):
    """One forward over `ids` [1, T] at positions start.. with the cache `past` (list of (k, v) per layer);
    returns the last position's logits and the new cache (modeling_llama.py with a DynamicCache)."""
    hidden = cfg["hidden_size"]
    n_heads = cfg["num_attention_heads"]
    n_kv = cfg.get("num_key_value_heads") or n_heads
    head_dim = cfg.get("head_dim") or hidden // n_heads
    eps = cfg.get("rms_norm_eps", 1e-6)
    seq = ids.shape[1]
    pos = torch.arange(start, start + seq)[None]
    inv = torch_ref.rope_inv_freq(cfg, head_dim, torch.float32)
    freqs = pos.to(torch.float32)[:, :, None] * inv[None, None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos()[:, None], emb.sin()[:, None]
    total = start + seq
    # causal mask over [seq, total]: query i (absolute start+i) sees keys j <= start+i
    mask = torch.full((seq, total), torch.finfo(torch.float32).min).triu(start + 1)[None, None] if seq > 1 else 0.0
    lora = torch_ref.Lora({}, {})
    h = w["model.embed_tokens.weight"][ids]
    new_past = []
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}"
        res = h
        x = torch_ref.rms_norm(h, w[p + ".input_layernorm.weight"], eps)
        q = torch_ref.linear(w, p + ".self_attn.q_proj", x, lora).view(1, seq, n_heads, head_dim).transpose(1, 2)
        k = torch_ref.linear(w, p + ".self_attn.k_proj", x, lora).view(1, seq, n_kv, head_dim).transpose(1, 2)
        v = torch_ref.linear(w, p + ".self_attn.v_proj", x, lora).view(1, seq, n_kv, head_dim).transpose(1, 2)
        q = q * cos + torch_ref.rotate_half(q) * sin
        k = k * cos + torch_ref.rotate_half(k) * sin
        if past is not None:
            k = torch.cat((past[i][0], k), dim=2)
            v = torch.cat((past[i][1], v), dim=2)
        new_past.append((k, v))
        rep = n_heads // n_kv
        o = torch_ref.attend(q, k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1), mask, head_dim ** -0.5)
        h = res + torch_ref.linear(w, p + ".self_attn.o_proj", o.transpose(1, 2).reshape(1, seq, n_heads * head_dim), lora)
        res = h
        x = torch_ref.rms_norm(h, w[p + ".post_attention_layernorm.weight"], eps)
        g = torch_ref.linear(w, p + ".mlp.gate_proj", x, lora)
        u = torch_ref.linear(w, p + ".mlp.up_proj", x, lora)
        h = res + torch_ref.linear(w, p + ".mlp.down_proj", torch.nn.functional.silu(g) * u, lora)
    h = torch_ref.rms_norm(h[:, -1:], w["model.norm.weight"], eps)
    head = w["lm_head.weight"] if "lm_head.weight" in w else w["model.embed_tokens.weight"]
    return (h @ head.t())[0, -1], new_past


def generate(cfg, w, prompt, new_tokens):
    t0 = time.perf_counter()
    logits, past = llama_step(cfg, w, torch.tensor([prompt]), None, 0)
    ids = [int(torch.argmax(logits))]
    t_first = time.perf_counter()
    for _ in range(new_tokens - 1):
        logits, past = llama_step(cfg, w, torch.tensor([[ids[-1]]]), past, len(prompt) + len(ids) - 1)
        ids.append(int(torch.argmax(logits)))
    t_end = time.perf_counter()
    return ids, len(prompt) / (t_first - t0), (new_tokens - 1) / (t_end - t_first)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--prompt", required=True)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with open(os.path.join(args.model_dir, "config.json")) as f:
        cfg = json.load(f)
    if cfg.get("model_type") == "gpt2":
        raise SystemExit("bench: Llama-family fixtures only")
    w = load_weights(args.model_dir, torch.device("cpu"))
    prompt = [int(x) for x in args.prompt.split(",")]
    with torch.inference_mode():
        generate(cfg, w, prompt, args.new_tokens)  # warm-up
        runs = [generate(cfg, w, prompt, args.new_tokens) for _ in range(args.runs)]
    print(json.dumps({
        "prefill_tokens_per_s": statistics.median(r[1] for r in runs),
        "decode_tokens_per_s": statistics.median(r[2] for r in runs),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "token_ids": runs[-1][0], "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
