#!/usr/bin/env python3
# Reference for `peft-studio train`: reads a peft-train.yaml as a user wrote it and builds the optimizer steps from
# CONTRACTS.md's words alone (not from our data code), then runs torch_ref.py on them. See docs/NUMERICS.md.
#
# Usage: /usr/bin/python3 trainer_ref.py RECIPE.yaml OUT.json [--output-adapter PATH] [--dtype float32|float64]
#
# What it implements (CONTRACTS.md §1-§2), for `format: tokenized`, `packing: false`, `shuffle: false`:
# - each JSONL line {"input_ids", "labels"?}: labels default to input_ids (HF causal-LM convention); -100 = ignored;
#   rows longer than dataset.max_length keep their first max_length tokens (input_ids and labels alike);
# - B = per_device_train_batch_size * gradient_accumulation_steps examples per optimizer step: step k uses examples
#   (k-1)*B ... k*B-1 of the file, wrapping at the end; micro-batch m of the step is the m-th run of
#   per_device_train_batch_size of them; rows are right-padded (attention_mask 0, labels -100);
# - LoRA targets from adapter_config.json with PEFT's matching rules (list: name == entry or endswith "."+entry;
#   string: re.fullmatch; "all-linear" = every linear but the output head), rank/alpha patterns, rslora;
# - lr of step k = transformers get_scheduler's LambdaLR value after k-1 scheduler steps;
# - optimizer/clipping/loss: torch_ref.py (torch AdamW, clip_grad_norm_, token-weighted mean over the step).
# The weights start from init_adapter (required: the reference cannot reproduce our seeded initialisation).
import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from torch_ref import load_checkpoint, normalise_gpt2_keys  # noqa: E402

# recipe defaults (CONTRACTS.md §1 example)
TRAINING_DEFAULTS = {
    "max_steps": -1, "per_device_train_batch_size": 4, "gradient_accumulation_steps": 1, "learning_rate": 2.0e-4,
    "lr_scheduler_type": "linear", "warmup_steps": 0, "warmup_ratio": 0.0, "weight_decay": 0.0, "adam_beta1": 0.9,
    "adam_beta2": 0.999, "adam_epsilon": 1.0e-8, "max_grad_norm": 1.0,
}
DATASET_DEFAULTS = {"format": "auto", "max_length": 512, "packing": False, "shuffle": True}


def fail(msg):
    raise SystemExit(f"trainer_ref: {msg}")


# ---------------------------------------------------------------- PEFT target matching (peft/tuners/tuners_utils.py)
def linear_modules(weights, cfg):
    """Names of nn.Linear / Conv1D modules of the *ForCausalLM model (lm_head included even when tied)."""
    names = set()
    for k, v in weights.items():
        if not k.endswith(".weight") or v.ndim != 2:
            continue
        m = k[: -len(".weight")]
        if m.endswith(("embed_tokens", ".wte", ".wpe")) or m in ("wte", "wpe"):
            continue
        names.add(m)
    names.add("lm_head")
    return sorted(names)


def embedding_modules(weights):
    """nn.Embedding modules (PEFT adapts them with lora_embedding_A/B when target_modules names them)."""
    return sorted(k[: -len(".weight")] for k in weights if k.endswith(("embed_tokens.weight", ".wte.weight", ".wpe.weight")))


def layer_index(name):
    m = re.search(r"\.(?:layers|h|blocks|layer)\.(\d+)\.", name)
    return int(m.group(1)) if m else None


def matches(targets, name):
    if isinstance(targets, str):
        return re.fullmatch(targets, name) is not None
    return any(name == t or name.endswith("." + t) for t in targets)


def lora_modules(adapter_cfg, weights, cfg):
    targets = adapter_cfg.get("target_modules")
    if targets is None:
        fail("target_modules must be given (model-type defaults are not reimplemented here)")
    mods = linear_modules(weights, cfg) + embedding_modules(weights)
    if targets == "all-linear":
        chosen = [m for m in linear_modules(weights, cfg) if m != "lm_head"]
    else:
        chosen = [m for m in mods if matches(targets, m)]
    excl = adapter_cfg.get("exclude_modules")
    if excl:
        chosen = [m for m in chosen if not matches(excl, m)]
    layers = adapter_cfg.get("layers_to_transform")
    if layers is not None:
        layers = [layers] if isinstance(layers, int) else layers
        chosen = [m for m in chosen if layer_index(m) in layers]
    r0, a0 = adapter_cfg.get("r", 8), adapter_cfg.get("lora_alpha", 8)
    out = []
    for m in chosen:
        r, alpha = r0, a0
        for k, v in (adapter_cfg.get("rank_pattern") or {}).items():
            if re.match(rf"(.*\.)?({k})$", m):
                r = v
                break
        for k, v in (adapter_cfg.get("alpha_pattern") or {}).items():
            if re.match(rf"(.*\.)?({k})$", m):
                alpha = v
                break
        scaling = alpha / math.sqrt(r) if adapter_cfg.get("use_rslora") else alpha / r
        out.append({"name": m, "r": r, "alpha": alpha, "scaling": scaling})
    return out


def saved_modules(adapter_cfg, weights):
    """modules_to_save as PEFT's _set_trainable wraps them: every module whose name ends with an entry (plain
    endswith); each copy trains its weight (and bias). Trainer no-decay rule: biases, LayerNorm modules (weight + bias
    1-D) and names matching layernorm|rmsnorm|(^|.)norm($|.)|_norm($|.) on <module>.modules_to_save.default.weight."""
    entries = adapter_cfg.get("modules_to_save") or []
    if not entries:
        return []
    mods = {}
    for k, v in weights.items():
        m, _, part = k.rpartition(".")
        if part in ("weight", "bias") and not m.endswith("rotary_emb"):
            mods.setdefault(m, {})[part] = v.ndim
    mods.setdefault("lm_head", {"weight": 2})
    out = []
    for m in sorted(mods):
        if not any(m.endswith(e) for e in entries):
            continue
        parts = mods[m]
        layer_norm = parts.get("weight") == 1 and "bias" in parts
        name = (m + ".modules_to_save.default.weight").lower()
        no = re.search(r"bias|layernorm|rmsnorm|(?:^|\.)norm(?:$|\.)|_norm(?:$|\.)", name) is not None
        decay = {"weight": not (layer_norm or no), "bias": False}
        out.append({"name": m, "params": [p for p in ("weight", "bias") if p in parts], "decay": decay})
    return out


def token_deltas(adapter_cfg, weights, cfg):
    """trainable_token_indices (PEFT >= 0.15): a list wraps the input embedding, a dict maps names (endswith) to
    indices; a tied head follows the embedding's delta. Saved as <module>.token_adapter.trainable_tokens_delta."""
    tti = adapter_cfg.get("trainable_token_indices")
    if tti is None:
        return []
    embed = "transformer.wte" if cfg.get("model_type") == "gpt2" else "model.embed_tokens"
    layers = {embed: tti} if isinstance(tti, list) else {
        next(k[: -len(".weight")] for k in weights if k[: -len(".weight")].endswith(name)): idx for name, idx in tti.items()}
    return [{"module": m, "rows": list(idx), "key": "base_model.model." + m + ".token_adapter.trainable_tokens_delta"}
            for m, idx in layers.items()]


# ---------------------------------------------------------------- schedule (transformers/optimization.py)
def lr_lambda(kind, step, warmup, total):
    if kind == "constant":
        return 1.0
    if kind == "constant_with_warmup":
        return step / max(1, warmup) if step < warmup else 1.0
    if step < warmup:
        return step / max(1, warmup)
    progress = (step - warmup) / max(1, total - warmup)
    if kind == "linear":
        return max(0.0, (total - step) / max(1, total - warmup))
    if kind == "cosine":
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * 0.5 * 2.0 * progress)))
    fail(f"lr_scheduler_type {kind} not reimplemented")


# ---------------------------------------------------------------- data (CONTRACTS.md §1 words only)
def read_examples(path, max_length):
    rows = []
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            rec = json.loads(line)
            ids = list(rec["input_ids"])
            labels = list(rec["labels"]) if rec.get("labels") is not None else list(ids)
            rows.append((ids[:max_length], labels[:max_length]))
    return rows


def right_pad(rows, pad_id=0):
    width = max(len(ids) for ids, _ in rows)
    return {
        "input_ids": [ids + [pad_id] * (width - len(ids)) for ids, _ in rows],
        "labels": [lab + [-100] * (width - len(lab)) for _, lab in rows],
        "attention_mask": [[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in rows],
    }


def build_steps(examples, micro, accum, max_steps, lr_of):
    big_b = micro * accum
    n = len(examples)
    steps = []
    for k in range(1, max_steps + 1):
        idx = [i % n for i in range((k - 1) * big_b, k * big_b)]
        mbs = [right_pad([examples[i] for i in idx[m * micro:(m + 1) * micro]]) for m in range(accum)]
        steps.append({"lr": lr_of(k), "micro_batches": mbs, "examples": idx})
    return steps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("recipe")
    ap.add_argument("out")
    ap.add_argument("--output-adapter")
    ap.add_argument("--dtype", default="float32")
    args = ap.parse_args()
    base = os.path.dirname(os.path.abspath(args.recipe))
    with open(args.recipe) as f:
        recipe = yaml.safe_load(f)
    rel = lambda p: os.path.join(base, p)  # noqa: E731
    t = {**TRAINING_DEFAULTS, **(recipe.get("training") or {})}
    ds = {**DATASET_DEFAULTS, **recipe["dataset"]}
    if ds["format"] != "tokenized" or ds["packing"] or ds["shuffle"]:
        fail("only format: tokenized, packing: false, shuffle: false are reimplemented")
    if t["max_steps"] <= 0:
        fail("training.max_steps must be > 0")
    if not recipe.get("init_adapter"):
        fail("init_adapter is required")
    model_dir = rel(recipe["base_model"])
    with open(rel(recipe.get("adapter_config", "adapter_config.json"))) as f:
        adapter_cfg = json.load(f)
    if adapter_cfg.get("lora_dropout", 0) != 0:
        fail("lora_dropout must be 0 (torch's dropout RNG cannot be reproduced)")
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    weights = load_checkpoint(model_dir)
    if cfg.get("model_type") == "gpt2":
        weights = normalise_gpt2_keys(weights)
    modules = lora_modules(adapter_cfg, weights, cfg)
    total, warmup = t["max_steps"], t["warmup_steps"] or math.ceil(t["max_steps"] * t["warmup_ratio"])
    lr_of = lambda k: t["learning_rate"] * lr_lambda(t["lr_scheduler_type"], k - 1, warmup, total)  # noqa: E731
    examples = read_examples(rel(ds["train"]), ds["max_length"])
    steps = build_steps(examples, t["per_device_train_batch_size"], t["gradient_accumulation_steps"], total, lr_of)
    job = {
        "model_dir": model_dir,
        "dtype": args.dtype,
        "modules": modules,
        "modules_to_save": saved_modules(adapter_cfg, weights),
        "token_deltas": token_deltas(adapter_cfg, weights, cfg),
        "init_adapter": os.path.join(rel(recipe["init_adapter"]), "adapter_model.safetensors"),
        "optimizer": {"beta1": t["adam_beta1"], "beta2": t["adam_beta2"], "eps": t["adam_epsilon"],
                      "weight_decay": t["weight_decay"], "max_grad_norm": t["max_grad_norm"]},
        "steps": [{"lr": s["lr"], "micro_batches": s["micro_batches"]} for s in steps],
        "output_adapter": args.output_adapter,
        "use_dora": bool(adapter_cfg.get("use_dora", False)),
        "bias": adapter_cfg.get("bias", "none"),
        "lora_bias": bool(adapter_cfg.get("lora_bias", False)),
    }
    with tempfile.TemporaryDirectory() as tmp:
        job_file, out_file = os.path.join(tmp, "job.json"), os.path.join(tmp, "out.json")
        with open(job_file, "w") as f:
            json.dump(job, f)
        subprocess.run([sys.executable, os.path.join(HERE, "torch_ref.py"), job_file, out_file], check=True)
        with open(out_file) as f:
            out = json.load(f)
    n = len(examples)
    big_b = t["per_device_train_batch_size"] * t["gradient_accumulation_steps"]
    for k, (s, r) in enumerate(zip(steps, out["steps"]), start=1):
        r["lr"] = s["lr"]
        r["examples"] = s["examples"]
        r["epoch"] = k * big_b / n  # examples consumed / data set size
    out["modules"] = modules
    with open(args.out, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
