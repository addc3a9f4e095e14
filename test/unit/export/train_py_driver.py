# Drives the exported train.py with Debian's python3 (+ torch) for the unit tests: stubs only transformers'
# TrainerCallback, tokenizes with a character tokenizer identical to test/unit/train/data/charTokenizer.ts, prints JSON.
import importlib.util
import json
import os
import sys
import types

stub = types.ModuleType("transformers")
stub.TrainerCallback = object
sys.modules["transformers"] = stub


class CharTokenizer:
    """id = code point + 3; 1 = <s> (added with add_special_tokens), 2 = </s>, 0 = <pad>; ChatML template."""
    eos_token_id = 2
    pad_token_id = 0

    def __call__(self, text, add_special_tokens=True):
        ids = [ord(c) + 3 for c in text]
        return {"input_ids": ([1] if add_special_tokens else []) + ids}

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=False):
        s = "".join("<|im_start|>" + m["role"] + "\n" + m["content"] + "<|im_end|>" + "\n" for m in messages)
        return s + ("<|im_start|>assistant\n" if add_generation_prompt else "")


def load(path):
    spec = importlib.util.spec_from_file_location("train", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class FakeTrainer:
    """Stands in for trl.SFTTrainer: records what train.py hands it, feeds two steps through its collator and
    callbacks like transformers' loop, and saves a dummy adapter."""
    last = None

    def __init__(self, model, args, train_dataset, eval_dataset, processing_class, data_collator, peft_config,
                 quantization_config, callbacks):
        import torch
        FakeTrainer.last = self
        self.model_name, self.args, self.train_dataset, self.eval_dataset = model, args, train_dataset, eval_dataset
        self.collator, self.peft_config, self.quantization_config, self.callbacks = data_collator, peft_config, quantization_config, callbacks
        self.model = types.SimpleNamespace(parameters=lambda: [torch.zeros(4, 8, requires_grad=True), torch.zeros(16, 8)])
        self.state = types.SimpleNamespace(is_world_process_zero=True, global_step=0, epoch=0.0, max_steps=2, num_input_tokens_seen=0)
        self.batches = []

    def _each(self, name, **kw):
        for cb in self.callbacks:
            getattr(cb, name)(self.args, self.state, None, **kw)

    def train(self):
        rows = self.train_dataset.rows
        bs = self.args.per_device_train_batch_size
        opt = types.SimpleNamespace(param_groups=[{"lr": 0.0}])
        self._each("on_train_begin")
        for k in range(self.state.max_steps):
            opt.param_groups[0]["lr"] = self.args.learning_rate * (k + 1) / 2
            self._each("on_step_begin", optimizer=opt)
            batch = self.collator(rows[k * bs:(k + 1) * bs])
            self.batches.append({key: v.tolist() for key, v in batch.items()})
            self.state.global_step, self.state.epoch = k + 1, (k + 1) * bs / len(rows)
            self.state.num_input_tokens_seen += int(batch["input_ids"].numel())
            n = int((batch["labels"] != -100).sum())
            self._each("on_log", logs={"loss": float(n), "grad_norm": 1.0, "learning_rate": 0.0})

    def evaluate(self):
        self._each("on_log", logs={"eval_loss": 1.5})

    def save_model(self, out):
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "adapter_config.json"), "w") as f:
            json.dump(self.peft_config.kwargs, f)


def stub_training_libraries(tokenizer):
    """datasets, peft, safetensors, transformers and trl as far as train.py's main() uses them."""
    import yaml

    class Dataset:
        def __init__(self, rows):
            self.rows = rows

        @classmethod
        def from_list(cls, rows):
            return cls(rows)

    class LoraConfig:
        def __init__(self, **kwargs):
            self.kwargs = kwargs

    loaded = []

    class Parser:
        def __init__(self, types_):
            pass

        def parse_args_and_config(self, fail_with_unknown_args=True):
            i = sys.argv.index("--config")
            cfg = yaml.safe_load(open(sys.argv[i + 1]))
            ns = types.SimpleNamespace(**cfg)
            for k, v in (("trust_remote_code", False), ("attn_implementation", None), ("load_in_4bit", False)):
                if not hasattr(ns, k):
                    setattr(ns, k, v)
            return None, ns, ns, None

    mods = {
        "datasets": {"Dataset": Dataset},
        "peft": {"LoraConfig": LoraConfig, "set_peft_model_state_dict": lambda model, sd: loaded.append(sorted(sd))},
        "safetensors": {},
        "safetensors.torch": {"load_file": lambda path: {"base_model.model.x.lora_A.weight": 0, "path": path}},
        "trl": {"DatasetMixtureConfig": object, "ModelConfig": object, "ScriptArguments": object, "SFTConfig": object,
                "SFTTrainer": FakeTrainer, "TrlParser": Parser,
                "get_quantization_config": lambda m: "4bit" if m.load_in_4bit else None},
    }
    for name, attrs in mods.items():
        mod = types.ModuleType(name)
        for k, v in attrs.items():
            setattr(mod, k, v)
        sys.modules[name] = mod
    stub.AutoTokenizer = types.SimpleNamespace(from_pretrained=lambda *a, **k: tokenizer)
    return loaded


def main():
    cmd, train_py, arg = sys.argv[1], sys.argv[2], sys.argv[3]
    if cmd == "main":
        # python3 driver.py main OUT_DIR/train.py RESULT.json --config OUT_DIR/sft_config.yaml (cwd = OUT_DIR)
        loaded = stub_training_libraries(CharTokenizer())
        m = load(train_py)
        m.main()
        t = FakeTrainer.last
        a = t.args
        print(json.dumps({
            "model": t.model_name, "peft_config": t.peft_config.kwargs, "quantization": t.quantization_config,
            "flags": {k: getattr(a, k) for k in ("packing", "padding_free", "completion_only_loss", "assistant_only_loss",
                                                 "remove_unused_columns", "dataset_kwargs", "model_init_kwargs")},
            "rows": len(t.train_dataset.rows), "eval_rows": len(t.eval_dataset.rows) if t.eval_dataset else None,
            "batches": t.batches, "loaded": loaded}))
        return
    m = load(train_py)
    if cmd == "data":
        job = json.load(open(arg))
        tok = m.DataTokenizer(CharTokenizer())
        out = []
        for c in job["cases"]:
            d = m.build_dataset(c["file"], c["format"], tok, c["max_length"], c["packing"], c["train_on_prompt"])
            batch = m.Collator(tok.pad_token_id)(d["sequences"][: c["batch"]])
            out.append({"format": d["format"], "sequences": d["sequences"], "truncated": d["truncated"], "dropped": d["dropped"],
                        "batch": {k: v.tolist() for k, v in batch.items()}})
        print(json.dumps(out))
    elif cmd == "callback":
        # A recorded 3-step run with one eval and one checkpoint, on a fixed clock.
        t = [100.0]
        cb = m.PeftStudioMetricsCallback(arg, {"name": "trl-run", "config_file": "peft-train.yaml", "base_model": "Qwen/Qwen2.5-0.5B",
                                               "device": "cuda", "trainable": 1081344, "total": 495114112}, clock=lambda: t[0])
        S = types.SimpleNamespace
        state = S(is_world_process_zero=True, global_step=0, epoch=0.0, max_steps=3, num_input_tokens_seen=0)
        args = S(output_dir=arg)
        opt = S(param_groups=[{"lr": 0.0}])
        cb.on_train_begin(args, state, None)
        lrs = [0.0, 2e-4, 1e-4]
        for k in range(3):
            opt.param_groups[0]["lr"] = lrs[k]
            cb.on_step_begin(args, state, None, optimizer=opt)
            state.global_step, state.epoch, state.num_input_tokens_seen = k + 1, (k + 1) / 3, 512 * (k + 1)
            t[0] += 2.0
            # transformers logs the rate of the next step, after the scheduler stepped
            cb.on_log(args, state, None, logs={"loss": 2.5 - 0.25 * k, "grad_norm": 1.5 - 0.1 * k, "learning_rate": lrs[k + 1] if k < 2 else 0.0})
        cb.on_log(args, state, None, logs={"eval_loss": 2.1, "eval_runtime": 0.5})
        cb.on_save(args, state, None)
        cb.finish(state, arg + "/adapter")
        print(json.dumps({"ok": True}))


main()
