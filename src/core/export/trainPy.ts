// train.py of an exported TRL project (Python, kept verbatim): PEFT Studio's data formats, masking, truncation and
// packing (src/core/train/data) in Python, a collator, the metrics.jsonl callback and the SFTTrainer launch.
// String.raw keeps every backslash as written; the Python must contain no backtick and no dollar-brace.
export const TRAIN_PY = String.raw`#!/usr/bin/env python3
# Written by "peft-studio export trl": trains a PEFT Studio recipe with TRL's SFTTrainer, with the data formats,
# label masking, truncation and packing of PEFT Studio's trainer, and writes its metrics.jsonl run records.
"""Launch: accelerate launch --config_file accelerate_config.yaml train.py --config sft_config.yaml

sft_config.yaml holds the TRL / transformers settings (the same file "trl sft --config" reads);
peft_studio.json holds what TRL's CLI cannot say (data format, prompt masking, the full LoraConfig,
the eval file, the adapter to resume from). See README.md for what differs from a local run.
"""
import json
import os
import sys
import time
from datetime import datetime, timezone

from transformers import TrainerCallback

IGNORE_INDEX = -100
HERE = os.path.dirname(os.path.abspath(__file__))
DATA_FORMATS = ("text", "alpaca", "messages", "prompt_completion", "tokenized")


# ---- data: PEFT Studio's formats (src/core/train/data/formats.ts), line for line ----

def alpaca_prompt(instruction, inp):
    """Stanford Alpaca's prompt templates."""
    if inp != "":
        return (
            "Below is an instruction that describes a task, paired with an input that provides further context. "
            "Write a response that appropriately completes the request.\n\n"
            "### Instruction:\n" + instruction + "\n\n### Input:\n" + inp + "\n\n### Response:\n"
        )
    return (
        "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
        "### Instruction:\n" + instruction + "\n\n### Response:\n"
    )


def format_of_keys(row):
    if "input_ids" in row:
        return "tokenized"
    if "messages" in row:
        return "messages"
    if "instruction" in row and "output" in row:
        return "alpaca"
    if "prompt" in row and "completion" in row:
        return "prompt_completion"
    if "text" in row:
        return "text"
    return None


def read_jsonl(path):
    """[(1-based line, object)] of a JSONL file; blank lines skipped."""
    out = []
    with open(path, encoding="utf-8") as f:
        for i, raw in enumerate(f.read().split("\n")):
            raw = raw.rstrip("\r")
            if raw.strip() == "":
                continue
            value = json.loads(raw)
            if not isinstance(value, dict):
                raise ValueError(f"{path}:{i + 1}: each line must be a JSON object")
            out.append((i + 1, value))
    if not out:
        raise ValueError(f"{path}: the data set is empty")
    return out


def detect_format(records, path):
    first = None
    for line, row in records:
        f = format_of_keys(row)
        if f is None:
            raise ValueError(f"{path}:{line}: cannot tell the data format from the keys {sorted(row)}")
        if first is None:
            first = (f, line)
        elif f != first[0]:
            raise ValueError(f"{path}:{line}: mixed data formats: this line is {f!r} but line {first[1]} is {first[0]!r}")
    return first[0]


class DataTokenizer:
    """What the data code needs from a transformers tokenizer (as PEFT Studio's DataTokenizer)."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.eos_token_id = tokenizer.eos_token_id
        self.pad_token_id = tokenizer.pad_token_id

    def encode(self, text, add_special_tokens):
        return list(self.tokenizer(text, add_special_tokens=add_special_tokens)["input_ids"])

    def chat(self, messages, add_generation_prompt):
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)


def _str(row, key, line, optional=False):
    v = row.get(key)
    if v is None:
        if optional:
            return ""
        raise ValueError(f"line {line}: missing {key!r}")
    if not isinstance(v, str):
        raise ValueError(f"line {line}: {key!r} must be a string")
    return v


def _with_eos(ids, tok):
    if tok.eos_token_id is not None and (len(ids) == 0 or ids[-1] != tok.eos_token_id):
        ids.append(tok.eos_token_id)
    return ids


def _prompt_answer(prompt, answer, train_on_prompt):
    labels = (list(prompt) if train_on_prompt else [IGNORE_INDEX] * len(prompt)) + list(answer)
    return {"input_ids": list(prompt) + list(answer), "labels": labels}


def tokenize_record(row, fmt, tok, train_on_prompt, line):
    """One JSONL object → {"input_ids", "labels"} with the prompt masked to -100 (unless train_on_prompt)."""
    if fmt == "text":
        ids = _with_eos(tok.encode(_str(row, "text", line), True), tok)
        return {"input_ids": ids, "labels": list(ids)}
    if fmt == "alpaca":
        prompt = tok.encode(alpaca_prompt(_str(row, "instruction", line), _str(row, "input", line, True)), True)
        answer = _with_eos(tok.encode(_str(row, "output", line), False), tok)
        return _prompt_answer(prompt, answer, train_on_prompt)
    if fmt == "prompt_completion":
        prompt = tok.encode(_str(row, "prompt", line), True)
        answer = _with_eos(tok.encode(_str(row, "completion", line), False), tok)
        return _prompt_answer(prompt, answer, train_on_prompt)
    if fmt == "messages":
        msgs = [{"role": m["role"], "content": m["content"]} for m in row["messages"]]
        ids = tok.encode(tok.chat(msgs, False), False)
        if train_on_prompt:
            return {"input_ids": ids, "labels": list(ids)}
        labels = [IGNORE_INDEX] * len(ids)
        for i, m in enumerate(msgs):
            if m["role"] != "assistant":
                continue
            start = len(tok.encode(tok.chat(msgs[:i], True), False))
            end = len(ids) if i + 1 == len(msgs) else len(tok.encode(tok.chat(msgs[: i + 1], False), False))
            for t in range(start, min(end, len(ids))):
                labels[t] = ids[t]
        return {"input_ids": ids, "labels": labels}
    if fmt == "tokenized":
        ids = [int(x) for x in row["input_ids"]]
        if row.get("labels") is None:
            return {"input_ids": ids, "labels": list(ids)}
        labels = [int(x) for x in row["labels"]]
        if len(labels) != len(ids):
            raise ValueError(f"line {line}: 'labels' must have the same length as 'input_ids'")
        return {"input_ids": ids, "labels": labels}
    raise ValueError(f"unknown data format {fmt!r}")


def count_label_tokens(labels):
    """Loss positions: labels at t >= 1 that are not -100 (the logits at t - 1 predict the label at t)."""
    return sum(1 for t in range(1, len(labels)) if labels[t] != IGNORE_INDEX)


def pack(examples, max_length):
    """Wrapped packing: concatenate, cut into rows of max_length; positions restart per example and row; the
    first label of every segment is -100."""
    rows = []
    cur = {"input_ids": [], "labels": [], "position_ids": [], "lines": []}
    for e in examples:
        pos = 0
        for t in range(len(e["input_ids"])):
            if len(cur["input_ids"]) == max_length:
                rows.append(cur)
                cur = {"input_ids": [], "labels": [], "position_ids": [], "lines": []}
                pos = 0
            if pos == 0 and e["line"] not in cur["lines"]:
                cur["lines"].append(e["line"])
            cur["input_ids"].append(e["input_ids"][t])
            cur["labels"].append(IGNORE_INDEX if pos == 0 else e["labels"][t])
            cur["position_ids"].append(pos)
            pos += 1
    if cur["input_ids"]:
        rows.append(cur)
    return rows


def prepare_sequences(examples, max_length, packing):
    """Truncation (counted), dropping of examples left without labels, optional packing — as collate.ts."""
    truncated, dropped, unlabeled, kept = 0, [], [], []
    for ex in examples:
        if count_label_tokens(ex["labels"]) == 0:
            unlabeled.append(ex["line"])
            continue
        e = ex
        if not packing and len(e["input_ids"]) > max_length:
            truncated += 1
            e = {"line": e["line"], "input_ids": e["input_ids"][:max_length], "labels": e["labels"][:max_length]}
        if count_label_tokens(e["labels"]) == 0:
            dropped.append(e["line"])
        else:
            kept.append(e)
    if packing:
        seqs = pack(kept, max_length)
    else:
        seqs = [{"input_ids": e["input_ids"], "labels": e["labels"], "lines": [e["line"]]} for e in kept]
    return {"sequences": seqs, "truncated": truncated, "dropped": dropped, "unlabeled": unlabeled}


def build_dataset(path, fmt, tok, max_length, packing, train_on_prompt):
    """A JSONL file → training sequences, with the same errors and notes as PEFT Studio's loader."""
    records = read_jsonl(path)
    if fmt == "auto":
        fmt = detect_format(records, path)
    examples = []
    for line, row in records:
        e = tokenize_record(row, fmt, tok, train_on_prompt, line)
        e["line"] = line
        examples.append(e)
    prep = prepare_sequences(examples, max_length, packing)
    if prep["unlabeled"]:
        raise ValueError(f"{path}:{prep['unlabeled'][0]}: this example has no label token to learn from "
                         f"({len(prep['unlabeled'])} such examples); give it an answer or set train_on_prompt")
    if not prep["sequences"]:
        raise ValueError(f"{path}: none of the {len(examples)} examples has a token to learn from after masking and truncation")
    prep["format"] = fmt
    prep["examples"] = len(examples)
    return prep


class Collator:
    """Right-pads a micro-batch (pad id, label -100, attention mask 0). The label at position 0 is set to -100:
    no logit predicts it, and transformers counts every label that is not -100 when it averages the loss over the
    tokens of an optimizer step, while PEFT Studio counts loss positions only. Packed rows carry position ids and
    no attention mask, so FlashAttention-2 keeps the packed examples apart."""

    def __init__(self, pad_token_id):
        self.pad_token_id = pad_token_id

    def __call__(self, rows):
        import torch

        n = max(1, max(len(r["input_ids"]) for r in rows))
        packed = any("position_ids" in r for r in rows)
        input_ids = torch.full((len(rows), n), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(rows), n), IGNORE_INDEX, dtype=torch.long)
        attention = torch.zeros((len(rows), n), dtype=torch.long)
        positions = torch.zeros((len(rows), n), dtype=torch.long)
        for b, r in enumerate(rows):
            k = len(r["input_ids"])
            input_ids[b, :k] = torch.tensor(r["input_ids"], dtype=torch.long)
            labels[b, :k] = torch.tensor(r["labels"], dtype=torch.long)
            labels[b, 0] = IGNORE_INDEX
            attention[b, :k] = 1
            if packed:
                pos = list(r.get("position_ids", range(k)))
                last = pos[-1] if pos else -1
                positions[b] = torch.tensor(pos + [last + 1 + j for j in range(n - k)], dtype=torch.long)
        batch = {"input_ids": input_ids, "labels": labels}
        if packed:
            batch["position_ids"] = positions
        else:
            batch["attention_mask"] = attention
        return batch


# ---- metrics.jsonl: PEFT Studio's run records (docs/CONTRACTS.md §4), written by the main process ----

def _now():
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


class PeftStudioMetricsCallback(TrainerCallback):
    """Appends start/step/eval/checkpoint/done/error records to RUN_DIR/metrics.jsonl and keeps RUN_DIR/run.json,
    so the run folder opens in PEFT Studio's Runs tree and dashboard like a local run."""

    def __init__(self, run_dir, info, clock=time.time):
        self.run_dir = run_dir
        self.info = dict(info)
        self.clock = clock
        self.t0 = None
        self.last_t = None
        self.last_tokens = 0
        self.step_lr = {}
        self.last_loss = None
        self.done = False

    def _main(self, state):
        return getattr(state, "is_world_process_zero", True)

    def _write(self, record):
        os.makedirs(self.run_dir, exist_ok=True)
        with open(os.path.join(self.run_dir, "metrics.jsonl"), "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def _run_json(self, **fields):
        self.info.update(fields)
        os.makedirs(self.run_dir, exist_ok=True)
        tmp = os.path.join(self.run_dir, "run.json.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.info, f, indent=2)
        os.replace(tmp, os.path.join(self.run_dir, "run.json"))

    def on_train_begin(self, args, state, control, **kwargs):
        if not self._main(state):
            return
        self.t0 = self.last_t = self.clock()
        self._run_json(status="running", started_at=_now(), max_steps=state.max_steps)
        self._write({"event": "start", "run_dir": self.run_dir, "trainable": self.info.get("trainable", 0),
                     "total": self.info.get("total", 0), "device": self.info.get("device", "cuda"),
                     "run_name": self.info.get("name"), "base_model": self.info.get("base_model"),
                     "max_steps": state.max_steps, "time": _now()})

    def on_step_begin(self, args, state, control, optimizer=None, **kwargs):
        # The rate step k uses (transformers logs the next step's rate, after the scheduler stepped).
        if optimizer is not None and optimizer.param_groups:
            self.step_lr[state.global_step + 1] = float(optimizer.param_groups[0]["lr"])

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not self._main(state) or not logs:
            return
        step = state.global_step
        if "eval_loss" in logs:
            self._write({"event": "eval", "step": step, "eval_loss": float(logs["eval_loss"])})
        if "loss" in logs:
            now = self.clock()
            tokens = int(getattr(state, "num_input_tokens_seen", 0) or 0)
            dt = max(now - self.last_t, 1e-9)
            lr = self.step_lr.get(step, logs.get("learning_rate"))
            grad = logs.get("grad_norm")
            rec = {"event": "step", "step": step, "epoch": round(float(state.epoch or 0.0), 4),
                   "loss": float(logs["loss"]), "lr": float(lr) if lr is not None else 0.0,
                   "grad_norm": float(grad) if grad is not None else None, "tokens": tokens,
                   "tokens_per_s": (tokens - self.last_tokens) / dt, "elapsed_s": now - self.t0}
            self.last_t, self.last_tokens, self.last_loss = now, tokens, rec["loss"]
            self._write(rec)
            self._run_json(last_step=step)

    def on_save(self, args, state, control, **kwargs):
        if self._main(state):
            path = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
            self._write({"event": "checkpoint", "step": state.global_step, "path": path})

    def finish(self, state, adapter_dir):
        if not self._main(state) or self.done:
            return
        self.done = True
        self._write({"event": "done", "run_dir": self.run_dir, "adapter_dir": adapter_dir, "final_loss": self.last_loss})
        self._run_json(status="completed", finished_at=_now(), last_step=state.global_step)

    def fail(self, state, message):
        if not self._main(state) or self.done:
            return
        self.done = True
        self._write({"event": "error", "message": message})
        self._run_json(status="failed", error=message, finished_at=_now())


# ---- the run ----

def lora_config_dict(path):
    """adapter_config.json without the keys PEFT writes but LoraConfig(...) does not take."""
    with open(path, encoding="utf-8") as f:
        cfg = json.load(f)
    for k in ("peft_type", "base_model_name_or_path", "revision", "auto_mapping", "peft_version", "inference_mode"):
        cfg.pop(k, None)
    return cfg


def main():
    from datasets import Dataset
    from peft import LoraConfig, set_peft_model_state_dict
    from safetensors.torch import load_file
    from transformers import AutoTokenizer
    from trl import DatasetMixtureConfig, ModelConfig, ScriptArguments, SFTConfig, SFTTrainer, TrlParser, get_quantization_config

    parser = TrlParser((ScriptArguments, SFTConfig, ModelConfig, DatasetMixtureConfig))
    _, args, model_args, _ = parser.parse_args_and_config(fail_with_unknown_args=False)
    with open(os.path.join(HERE, "peft_studio.json"), encoding="utf-8") as f:
        ps = json.load(f)

    tokenizer = AutoTokenizer.from_pretrained(model_args.model_name_or_path, revision=model_args.model_revision)
    tok = DataTokenizer(tokenizer)
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id if tok.eos_token_id is not None else 0)
    ds = ps["dataset"]
    train = build_dataset(os.path.join(HERE, ds["train"]), ds["format"], tok, args.max_length, ds["packing"], ds["train_on_prompt"])
    evald = None
    if ds.get("eval"):
        evald = build_dataset(os.path.join(HERE, ds["eval"]), ds["format"], tok, args.max_length, ds["packing"], ds["train_on_prompt"])
    for name, d in (("train", train), ("eval", evald)):
        if d is not None:
            print(f"{name} data: {d['examples']} examples ({d['format']}) -> {len(d['sequences'])} sequences; "
                  f"{d['truncated']} truncated, {len(d['dropped'])} dropped", file=sys.stderr)

    # The model is created by SFTTrainer (as "trl sft" does), so device placement under DDP / DeepSpeed / FSDP and
    # 4-bit loading follow TRL. The LoraConfig is the full adapter_config.json (or the init adapter's).
    args.model_init_kwargs = {"revision": model_args.model_revision, "trust_remote_code": args.trust_remote_code,
                              "attn_implementation": model_args.attn_implementation, "dtype": model_args.dtype}
    init = ps.get("init_adapter")
    peft_config = LoraConfig(**lora_config_dict(os.path.join(HERE, init or "", "adapter_config.json") if init
                                                else os.path.join(HERE, ps["adapter_config"])))

    # The data is prepared above exactly as PEFT Studio does, labels included: TRL must not re-tokenize, truncate,
    # pack or mask it again.
    args.packing = False
    args.padding_free = False
    args.completion_only_loss = False
    args.assistant_only_loss = False
    args.remove_unused_columns = False
    args.dataset_kwargs = {"skip_prepare_dataset": True}
    args.include_num_input_tokens_seen = "non_padding"
    cols = lambda d: [{k: v for k, v in s.items() if k != "lines"} for s in d["sequences"]]  # noqa: E731
    run_dir = os.path.abspath(args.output_dir)
    callback = PeftStudioMetricsCallback(run_dir, {
        "name": os.path.basename(run_dir), "config_file": ps.get("recipe", ""), "base_model": model_args.model_name_or_path,
        "device": "cuda"})
    trainer = SFTTrainer(model=model_args.model_name_or_path, args=args, train_dataset=Dataset.from_list(cols(train)),
                         eval_dataset=Dataset.from_list(cols(evald)) if evald else None,
                         processing_class=tokenizer, data_collator=Collator(pad_id), peft_config=peft_config,
                         quantization_config=get_quantization_config(model_args), callbacks=[callback])
    if init:
        # Continue from the adapter's weights (PEFT key layout, as PEFT Studio writes it).
        set_peft_model_state_dict(trainer.model, load_file(os.path.join(HERE, init, "adapter_model.safetensors")))
    params = list(trainer.model.parameters())
    numel = lambda p: int(getattr(p, "ds_numel", 0) or p.numel())  # noqa: E731 - ZeRO-3 partitions parameters at load
    callback.info.update(trainable=sum(numel(p) for p in params if p.requires_grad), total=sum(numel(p) for p in params))
    try:
        trainer.train()
        if evald is not None:
            trainer.evaluate()
        adapter_dir = os.path.join(run_dir, "adapter")
        trainer.save_model(adapter_dir)
        callback.finish(trainer.state, adapter_dir)
    except BaseException as e:  # noqa: BLE001 - recorded, then re-raised
        callback.fail(trainer.state, f"{type(e).__name__}: {e}")
        raise


if __name__ == "__main__":
    main()
`;
