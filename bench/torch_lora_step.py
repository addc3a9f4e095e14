#!/usr/bin/env python3
# PyTorch eager reference for the training-speed bench: LoRA training steps (frozen fp32 base, AdamW, clipping)
# on a fixture folder, reusing the model math of test/reference/torch_ref.py; prints one JSON line of timings + RSS.
#
# Usage: /usr/bin/python3 bench/torch_lora_step.py --model-dir DIR [--batch 4] [--seq 256] [--steps 5]
#        [--warmup 2] [--threads 2] [--tokens FILE] [--targets qkvo|all-linear] [--r 16] [--alpha 32] [--device cpu|cuda]
import argparse
import json
import os
import resource
import struct
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "reference"))
import torch_ref  # noqa: E402  (the same math as the parity reference: llama_forward, Lora, loss_sum)

QKVO = ("q_proj", "k_proj", "v_proj", "o_proj")
ALL_LINEAR = QKVO + ("gate_proj", "up_proj", "down_proj")


def load_weights(model_dir, device):
    """safetensors F32 → torch tensors that are views of one writable buffer per file (no float64 detour:
    the reference's loader converts through float64, whose transient copy would inflate torch's peak RSS)."""
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    out = {}
    for fn in files:
        with open(os.path.join(model_dir, fn), "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            header = json.loads(f.read(n).decode("utf-8"))
            buf = bytearray(f.read())
        for name, e in header.items():
            if name == "__metadata__":
                continue
            if e["dtype"] != "F32":
                raise SystemExit(f"bench expects an F32 fixture, {name} is {e['dtype']}")
            b, t = e["data_offsets"]
            arr = np.frombuffer(buf, dtype="<f4", count=(t - b) // 4, offset=b).reshape(e["shape"])
            out[name] = torch.from_numpy(arr).to(device)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--targets", choices=["qkvo", "all-linear"], default="qkvo")
    ap.add_argument("--r", type=int, default=16)
    ap.add_argument("--alpha", type=float, default=32)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tokens", default=None, help="int64 token file [batch, seq]; default: random tokens")
    args = ap.parse_args()

    if args.device == "cuda" and not torch.cuda.is_available():
        print(json.dumps({"skipped": "torch has no CUDA here", "torch": torch.__version__}))
        return
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    dev = torch.device(args.device)
    with open(os.path.join(args.model_dir, "config.json")) as f:
        cfg = json.load(f)
    if cfg.get("model_type") == "gpt2":
        raise SystemExit("bench: Llama-family fixtures only")
    t_load = time.perf_counter()
    w = load_weights(args.model_dir, dev)  # plain tensors: requires_grad=False, the base is frozen
    load_s = time.perf_counter() - t_load

    suffixes = QKVO if args.targets == "qkvo" else ALL_LINEAR
    modules = sorted({k[: -len(".weight")] for k in w if k.endswith(".weight") and k.split(".")[-2] in suffixes})
    adapters, scaling, params = {}, {}, []
    for name in modules:
        out_f, in_f = w[name + ".weight"].shape
        a = torch.empty(args.r, in_f, device=dev)
        torch.nn.init.kaiming_uniform_(a, a=5 ** 0.5)  # PEFT init_lora_weights=True
        a.requires_grad_(True)
        b = torch.zeros(out_f, args.r, device=dev, requires_grad=True)
        adapters[name] = (a, b)
        scaling[name] = args.alpha / args.r
        params += [a, b]
    lora = torch_ref.Lora(adapters, scaling)
    optim = torch.optim.AdamW(params, lr=2e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)

    if args.tokens:  # the parent's token file (int64 LE [batch, seq]), shared with our engine's run
        ids = torch.from_numpy(np.fromfile(args.tokens, dtype="<i8").reshape(args.batch, args.seq).copy()).to(dev)
    else:
        rng = np.random.default_rng(args.seed)
        ids = torch.from_numpy(rng.integers(0, cfg["vocab_size"], size=(args.batch, args.seq), dtype=np.int64)).to(dev)
    mask = torch.ones_like(ids)

    def step():
        optim.zero_grad(set_to_none=True)
        logits = torch_ref.llama_forward(cfg, w, lora, ids, mask, None, torch.float32)
        total, n = torch_ref.loss_sum(logits, ids)
        loss = total / n
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(params, 1.0)
        optim.step()
        if args.device == "cuda":
            torch.cuda.synchronize()
        return float(loss.detach()), float(norm)

    times, losses, first_loss = [], [], None
    for i in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        loss, _ = step()
        dt = time.perf_counter() - t0
        if i == 0:
            first_loss = loss
        if i >= args.warmup:
            times.append(dt)
            losses.append(loss)
    tokens = args.batch * args.seq
    total = sum(times)
    print(json.dumps({
        "engine": "torch-eager",
        "torch": torch.__version__,
        "device": args.device,
        "threads": torch.get_num_threads(),
        "batch": args.batch,
        "seq": args.seq,
        "adapted_modules": len(modules),
        "trainable_params": sum(p.numel() for p in params),
        "load_s": load_s,
        "step_s": times,
        "median_step_s": float(np.median(times)),
        "tokens_per_s": tokens * len(times) / total,
        "first_loss": first_loss,
        "losses": losses,
        # Linux ru_maxrss is in KiB
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }))


if __name__ == "__main__":
    main()
